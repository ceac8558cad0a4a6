package localnet_test

import (
	"strconv"
	"testing"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/stipend/stipend/internal/testenv"
)

// TestSeveralMints: one chain holds its first mint and further ones made by
// localnet_createMint, on SPL Token and Token-2022; each is minted to its own
// associated token account, read back through the standard
// getTokenAccountBalance, and a bad request is refused.
func TestSeveralMints(t *testing.T) {
	c := testenv.Chain(t)
	ctx := ctxT(t)
	extra, err := c.CreateMint(ctx, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	if !extra.TokenProgram.Equals(solana.Token2022ProgramID) || extra.Mint.Equals(c.Mint) {
		t.Fatalf("created %+v; first mint %s", extra, c.Mint)
	}
	spl, err := c.CreateMint(ctx, 9, false)
	if err != nil {
		t.Fatal(err)
	}
	if !spl.TokenProgram.Equals(solana.TokenProgramID) {
		t.Fatalf("created %+v", spl)
	}
	owner := solana.NewWallet().PublicKey()
	cases := []struct {
		mint     solana.PublicKey
		program  solana.PublicKey
		amount   uint64
		decimals uint8
	}{
		{c.Mint, c.TokenProgram, 1_500_000, c.Decimals},
		{extra.Mint, extra.TokenProgram, 4_321, 2},
		{spl.Mint, spl.TokenProgram, 7, 9},
	}
	for _, tc := range cases {
		if _, err := c.MintToOf(ctx, tc.mint, owner, tc.amount); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range cases {
		ata, _, err := solana.FindProgramAddress([][]byte{owner[:], tc.program[:], tc.mint[:]}, solana.SPLAssociatedTokenAccountProgramID)
		if err != nil {
			t.Fatal(err)
		}
		bal, err := c.Client().GetTokenAccountBalance(ctx, ata, rpc.CommitmentConfirmed)
		if err != nil {
			t.Fatalf("balance of %s: %v", tc.mint, err)
		}
		if bal.Value.Amount != strconv.FormatUint(tc.amount, 10) || bal.Value.Decimals != tc.decimals {
			t.Errorf("mint %s: balance %s with %d decimals, want %d with %d", tc.mint, bal.Value.Amount, bal.Value.Decimals, tc.amount, tc.decimals)
		}
	}
	if _, err := c.MintToOf(ctx, solana.NewWallet().PublicKey(), owner, 1); err == nil {
		t.Error("minting an unknown mint succeeded")
	}
	var out any
	if err := c.Client().RPCCallForInto(ctx, &out, "localnet_createMint", []any{6, "token-2023"}); err == nil {
		t.Error("an unknown token program was accepted")
	}
	if err := c.Client().RPCCallForInto(ctx, &out, "localnet_createMint", []any{19, "spl-token"}); err == nil {
		t.Error("19 decimals were accepted")
	}
}
