package localnet_test

import (
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/programs/token"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/stipend/stipend/internal/localnet"
	"github.com/stipend/stipend/internal/testenv"
)

// budgetTransfer signs a TransferChecked from `from` to `to` (whose token
// account exists) preceded by compute-budget instructions.
func budgetTransfer(t *testing.T, c *localnet.Chain, from, to wallet, amount uint64, limit uint32, price uint64, blockhash solana.Hash) *solana.Transaction {
	t.Helper()
	ixs := []solana.Instruction{
		computebudget.NewSetComputeUnitLimitInstruction(limit).Build(),
		computebudget.NewSetComputeUnitPriceInstruction(price).Build(),
		token.NewTransferCheckedInstruction(amount, c.Decimals, from.ata, c.Mint, to.ata, from.pub(), nil).Build(),
	}
	tx, err := solana.NewTransaction(ixs, blockhash, solana.TransactionPayer(from.pub()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(func(k solana.PublicKey) *solana.PrivateKey {
		if k == from.pub() {
			return &from.key
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return tx
}

// TestComputeBudget: a transaction's compute-unit limit and price are honoured
// as on mainnet (the limit bounds execution, the fee is 5000 lamports a
// signature plus ceil(price × limit / 1e6)), and getRecentPrioritizationFees
// reports the prices paid by the transactions writing the accounts asked about.
func TestComputeBudget(t *testing.T) {
	c := testenv.ChainWith(t, localnet.Options{SlotTime: -1}) // slots move only when asked
	cl := c.Client()
	ctx := ctxT(t)
	alice := newWallet(t, c, solana.LAMPORTS_PER_SOL, 10_000_000)
	bob := newWallet(t, c, 0, 1)
	carol := newWallet(t, c, 0, 1)

	// Before any priced transaction every recent slot reports 0.
	fees, err := cl.GetRecentPrioritizationFees(ctx, solana.PublicKeySlice{bob.ata})
	if err != nil {
		t.Fatal(err)
	}
	if len(fees) == 0 || len(fees) > 150 {
		t.Fatalf("%d slots of fees, want 1-150", len(fees))
	}
	for _, f := range fees {
		if f.PrioritizationFee != 0 || f.Slot == 0 {
			t.Fatalf("fee before priced transactions: %+v", f)
		}
	}

	cases := []struct {
		limit uint32
		price uint64
	}{
		{limit: 20_000, price: 0},
		{limit: 20_000, price: 1},         // rounds up to 1 lamport
		{limit: 30_000, price: 250_000},   // 7500 lamports
		{limit: 12_345, price: 1_000_001}, // 12345.012345 -> 12346
	}
	for _, tc := range cases {
		before, err := cl.GetBalance(ctx, alice.pub(), rpc.CommitmentFinalized)
		if err != nil {
			t.Fatal(err)
		}
		tx := budgetTransfer(t, c, alice, bob, 1, tc.limit, tc.price, latestBlockhash(t, cl).Value.Blockhash)
		sig, err := cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{})
		if err != nil {
			t.Fatalf("limit %d price %d: %v", tc.limit, tc.price, err)
		}
		if _, err := confirm(ctx, cl, sig); err != nil {
			t.Fatal(err)
		}
		want := 5000 + (tc.price*uint64(tc.limit)+999_999)/1_000_000
		got, err := cl.GetTransaction(ctx, sig, nil)
		if err != nil {
			t.Fatal(err)
		}
		after, err := cl.GetBalance(ctx, alice.pub(), rpc.CommitmentFinalized)
		if err != nil {
			t.Fatal(err)
		}
		// One slot per transaction: a slot reports the lowest price it holds.
		if _, err := c.AdvanceSlots(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if got.Meta.Fee != want || before.Value-after.Value != want {
			t.Fatalf("limit %d price %d: meta fee %d, payer charged %d, want %d", tc.limit, tc.price, got.Meta.Fee, before.Value-after.Value, want)
		}
	}

	// A limit below what the transfer needs stops it: simulation refuses it.
	tx := budgetTransfer(t, c, alice, bob, 1, 300, 0, latestBlockhash(t, cl).Value.Blockhash)
	_, err = cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{})
	re := rpcError(t, err, -32002)
	if !strings.Contains(re.Message, "Error processing Instruction 2") {
		t.Fatalf("under-budget transfer: %s", re.Message)
	}
	sim, err := cl.SimulateTransactionWithOpts(ctx, tx, &rpc.SimulateTransactionOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if sim.Value.Err == nil || sim.Value.UnitsConsumed == nil || *sim.Value.UnitsConsumed > 300 {
		t.Fatalf("under-budget simulation: err %v, units %v", sim.Value.Err, sim.Value.UnitsConsumed)
	}

	// Two transfers in one slot: to bob at
	// 5000, to carol at 777. As on a validator, a slot reports the lowest price
	// it holds, raised to the lowest price paid by transactions writing an
	// account asked about, the highest such account winning.
	if _, err := c.AdvanceSlots(ctx, 1); err != nil {
		t.Fatal(err)
	}
	bh := latestBlockhash(t, cl).Value.Blockhash
	var slot uint64
	for _, x := range []struct {
		to    wallet
		price uint64
	}{{bob, 5000}, {carol, 777}} {
		sig, err := cl.SendTransactionWithOpts(ctx, budgetTransfer(t, c, alice, x.to, 1, 20_000, x.price, bh), rpc.TransactionOpts{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := confirm(ctx, cl, sig)
		if err != nil {
			t.Fatal(err)
		}
		if slot != 0 && st.Slot != slot {
			t.Fatalf("the chain moved a slot between the two transfers (%d, %d)", slot, st.Slot)
		}
		slot = st.Slot
	}
	feeAt := func(accounts ...solana.PublicKey) uint64 {
		t.Helper()
		fees, err := cl.GetRecentPrioritizationFees(ctx, accounts)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fees {
			if f.Slot == slot {
				return f.PrioritizationFee
			}
		}
		t.Fatalf("slot %d missing from %+v", slot, fees)
		return 0
	}
	for _, tc := range []struct {
		name     string
		accounts []solana.PublicKey
		want     uint64
	}{
		{"bob's token account", []solana.PublicKey{bob.ata}, 5000},
		{"carol's token account", []solana.PublicKey{carol.ata}, 777},
		{"both", []solana.PublicKey{carol.ata, bob.ata}, 5000},
		{"the payer", []solana.PublicKey{alice.pub()}, 777},
		{"an account nobody wrote", []solana.PublicKey{solana.NewWallet().PublicKey()}, 777},
		{"none", nil, 777},
		{"the mint (read only)", []solana.PublicKey{c.Mint}, 777},
	} {
		if got := feeAt(tc.accounts...); got != tc.want {
			t.Errorf("%s: fee %d at slot %d, want %d", tc.name, got, slot, tc.want)
		}
	}
	// More than 128 accounts is refused, as by a validator.
	many := make(solana.PublicKeySlice, 129)
	for i := range many {
		many[i] = solana.NewWallet().PublicKey()
	}
	_, err = cl.GetRecentPrioritizationFees(ctx, many)
	rpcError(t, err, -32602)
}
