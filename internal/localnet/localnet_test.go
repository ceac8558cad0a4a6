package localnet_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
	associatedtokenaccount "github.com/gagliardetto/solana-go/programs/associated-token-account"
	"github.com/gagliardetto/solana-go/programs/token"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/stipend/stipend/internal/localnet"
	"github.com/stipend/stipend/internal/testenv"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wallet is a funded keypair with some of the chain's tokens.
type wallet struct {
	key solana.PrivateKey
	ata solana.PublicKey
}

func (w wallet) pub() solana.PublicKey { return w.key.PublicKey() }

func newWallet(t *testing.T, c *localnet.Chain, lamports, tokens uint64) wallet {
	t.Helper()
	ctx := ctxT(t)
	key := solana.NewWallet().PrivateKey
	if lamports > 0 {
		if err := c.Airdrop(ctx, key.PublicKey(), lamports); err != nil {
			t.Fatal(err)
		}
	}
	if tokens > 0 {
		if _, err := c.MintTo(ctx, key.PublicKey(), tokens); err != nil {
			t.Fatal(err)
		}
	}
	ata, _, err := solana.FindAssociatedTokenAddress(key.PublicKey(), c.Mint)
	if err != nil {
		t.Fatal(err)
	}
	return wallet{key: key, ata: ata}
}

// transferTx builds a signed transaction: create the recipient's token account,
// TransferChecked amount from `from`, and a memo.
func transferTx(t *testing.T, c *localnet.Chain, from, to wallet, amount uint64, note string, blockhash solana.Hash) *solana.Transaction {
	t.Helper()
	ixs := []solana.Instruction{
		token.NewTransferCheckedInstruction(amount, c.Decimals, from.ata, c.Mint, to.ata, from.pub(), nil).Build(),
		// A raw SPL Memo: solana-go's memo.NewMemoInstruction prefixes the text with its length.
		solana.NewInstruction(solana.MemoProgramID, solana.AccountMetaSlice{solana.Meta(from.pub()).SIGNER()}, []byte(note)),
	}
	if note != "" { // a first payment also creates the recipient's account
		ixs = append([]solana.Instruction{associatedtokenaccount.NewCreateInstruction(from.pub(), to.pub(), c.Mint).Build()}, ixs...)
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

func latestBlockhash(t *testing.T, cl *rpc.Client) *rpc.GetLatestBlockhashResult {
	t.Helper()
	bh, err := cl.GetLatestBlockhash(ctxT(t), rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	return bh
}

// confirm polls getSignatureStatuses until the signature has a status.
func confirm(ctx context.Context, cl *rpc.Client, sig solana.Signature) (*rpc.SignatureStatusesResult, error) {
	for {
		out, err := cl.GetSignatureStatuses(ctx, true, sig)
		if err != nil {
			return nil, err
		}
		if len(out.Value) != 1 {
			return nil, fmt.Errorf("%d statuses for one signature", len(out.Value))
		}
		if st := out.Value[0]; st != nil && st.ConfirmationStatus == rpc.ConfirmationStatusFinalized {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func status(t *testing.T, cl *rpc.Client, sig solana.Signature) *rpc.SignatureStatusesResult {
	t.Helper()
	out, err := cl.GetSignatureStatuses(ctxT(t), true, sig)
	if err != nil {
		t.Fatal(err)
	}
	return out.Value[0]
}

func tokenBalance(t *testing.T, cl *rpc.Client, ata solana.PublicKey) string {
	t.Helper()
	out, err := cl.GetTokenAccountBalance(ctxT(t), ata, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	return out.Value.Amount
}

func rpcError(t *testing.T, err error, code int) *jsonrpc.RPCError {
	t.Helper()
	var re *jsonrpc.RPCError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want a JSON-RPC error %d", err, err, code)
	}
	if re.Code != code {
		t.Fatalf("error code %d (%s), want %d", re.Code, re.Message, code)
	}
	return re
}

func TestStandardMethods(t *testing.T) {
	c := testenv.Chain(t)
	cl := c.Client()
	ctx := ctxT(t)
	w := newWallet(t, c, 2*solana.LAMPORTS_PER_SOL, 1_500_000)
	missing := solana.NewWallet().PublicKey()

	tests := []struct {
		name  string
		check func(t *testing.T) error
	}{
		{"getHealth", func(t *testing.T) error {
			h, err := cl.GetHealth(ctx)
			if err == nil && h != rpc.HealthOk {
				err = fmt.Errorf("health %q", h)
			}
			return err
		}},
		{"getVersion", func(t *testing.T) error {
			v, err := cl.GetVersion(ctx)
			if err == nil && v.SolanaCore == "" {
				err = errors.New("empty solana-core")
			}
			return err
		}},
		{"getGenesisHash", func(t *testing.T) error {
			h, err := cl.GetGenesisHash(ctx)
			if err == nil && h.IsZero() {
				err = errors.New("zero genesis hash")
			}
			return err
		}},
		{"getSlot and getBlockHeight", func(t *testing.T) error {
			s, err := cl.GetSlot(ctx, rpc.CommitmentFinalized)
			if err != nil {
				return err
			}
			h, err := cl.GetBlockHeight(ctx, rpc.CommitmentFinalized)
			if err == nil && (s == 0 || h < s) {
				err = fmt.Errorf("slot %d, block height %d", s, h)
			}
			return err
		}},
		{"getLatestBlockhash and isBlockhashValid", func(t *testing.T) error {
			bh := latestBlockhash(t, cl)
			h, err := cl.GetBlockHeight(ctx, rpc.CommitmentFinalized)
			if err != nil {
				return err
			}
			if bh.Value.LastValidBlockHeight <= h || bh.Context.Slot == 0 {
				return fmt.Errorf("last valid block height %d at block height %d, context slot %d", bh.Value.LastValidBlockHeight, h, bh.Context.Slot)
			}
			for hash, want := range map[solana.Hash]bool{bh.Value.Blockhash: true, solana.HashFromBytes(missing[:]): false} {
				ok, err := cl.IsBlockhashValid(ctx, hash, rpc.CommitmentFinalized)
				if err != nil {
					return err
				}
				if ok.Value != want {
					return fmt.Errorf("isBlockhashValid(%s) = %v", hash, ok.Value)
				}
			}
			return nil
		}},
		{"getMinimumBalanceForRentExemption", func(t *testing.T) error {
			l, err := cl.GetMinimumBalanceForRentExemption(ctx, 165, rpc.CommitmentFinalized)
			if err == nil && l != 2039280 {
				err = fmt.Errorf("rent for 165 bytes: %d", l)
			}
			return err
		}},
		{"requestAirdrop and getBalance", func(t *testing.T) error {
			b, err := cl.GetBalance(ctx, w.pub(), rpc.CommitmentFinalized)
			if err != nil {
				return err
			}
			if b.Value != 2*solana.LAMPORTS_PER_SOL {
				return fmt.Errorf("balance %d", b.Value)
			}
			b, err = cl.GetBalance(ctx, missing, rpc.CommitmentFinalized)
			if err == nil && b.Value != 0 {
				err = fmt.Errorf("balance of a missing account %d", b.Value)
			}
			return err
		}},
		{"getAccountInfo", func(t *testing.T) error {
			acc, err := cl.GetAccountInfo(ctx, c.Mint)
			if err != nil {
				return err
			}
			d := acc.Value.Data.GetBinary() // SPL Mint: authority option, supply, decimals, initialized
			if acc.Value.Owner != solana.TokenProgramID || len(d) != 82 || binary.LittleEndian.Uint64(d[36:]) < 1_500_000 || d[44] != 6 || d[45] != 1 {
				return fmt.Errorf("mint account: owner %s, data %x", acc.Value.Owner, d)
			}
			if _, err := cl.GetAccountInfo(ctx, missing); !errors.Is(err, rpc.ErrNotFound) {
				return fmt.Errorf("missing account: %w", err)
			}
			return nil
		}},
		{"getMultipleAccounts", func(t *testing.T) error {
			out, err := cl.GetMultipleAccounts(ctx, w.ata, missing)
			if err != nil {
				return err
			}
			if len(out.Value) != 2 || out.Value[0] == nil || out.Value[1] != nil {
				return fmt.Errorf("accounts %+v", out.Value)
			}
			d := out.Value[0].Data.GetBinary() // SPL token account: mint, owner, amount
			if len(d) != 165 || solana.PublicKeyFromBytes(d[:32]) != c.Mint || solana.PublicKeyFromBytes(d[32:64]) != w.pub() || binary.LittleEndian.Uint64(d[64:]) != 1_500_000 {
				return fmt.Errorf("token account data %x", d)
			}
			return nil
		}},
		{"getTokenAccountBalance", func(t *testing.T) error {
			out, err := cl.GetTokenAccountBalance(ctx, w.ata, rpc.CommitmentFinalized)
			if err != nil {
				return err
			}
			v := out.Value
			if v.Amount != "1500000" || v.Decimals != 6 || v.UiAmountString != "1.5" || v.UiAmount == nil || *v.UiAmount != 1.5 {
				return fmt.Errorf("balance %+v", v)
			}
			_, err = cl.GetTokenAccountBalance(ctx, missing, rpc.CommitmentFinalized)
			rpcError(t, err, -32602)
			return nil
		}},
		{"getFeeForMessage", func(t *testing.T) error {
			tx := transferTx(t, c, w, w, 1, "", latestBlockhash(t, cl).Value.Blockhash)
			msg, err := tx.Message.MarshalBinary()
			if err != nil {
				return err
			}
			fee, err := cl.GetFeeForMessage(ctx, base64.StdEncoding.EncodeToString(msg), rpc.CommitmentFinalized)
			if err == nil && (fee.Value == nil || *fee.Value != 5000) {
				err = fmt.Errorf("fee %v", fee.Value)
			}
			return err
		}},
		{"localnet_info", func(t *testing.T) error {
			var info struct {
				Mint     solana.PublicKey `json:"mint"`
				Decimals uint8            `json:"decimals"`
			}
			err := cl.RPCCallForInto(ctx, &info, "localnet_info", nil)
			if err == nil && (info.Mint != c.Mint || info.Decimals != 6) {
				err = fmt.Errorf("info %+v", info)
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTransferAndTransaction(t *testing.T) {
	c := testenv.Chain(t)
	cl := c.Client()
	ctx := ctxT(t)
	alice := newWallet(t, c, solana.LAMPORTS_PER_SOL, 10_000_000)
	bob := newWallet(t, c, 0, 0)

	tx := transferTx(t, c, alice, bob, 2_500_000, "payment pay_123", latestBlockhash(t, cl).Value.Blockhash)
	start := time.Now()
	sig, err := cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{PreflightCommitment: rpc.CommitmentFinalized})
	if err != nil {
		t.Fatal(err)
	}
	st, err := confirm(ctx, cl, sig)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SPL transfer send+confirm: %s", time.Since(start))
	if sig != tx.Signatures[0] || st.Err != nil || st.Slot == 0 {
		t.Fatalf("signature %s (tx %s), status %+v", sig, tx.Signatures[0], st)
	}
	if a, b := tokenBalance(t, cl, alice.ata), tokenBalance(t, cl, bob.ata); a != "7500000" || b != "2500000" {
		t.Fatalf("balances after transfer: alice %s, bob %s", a, b)
	}

	// The transaction in base64: the memo is readable from its instructions.
	v0 := uint64(0)
	got, err := cl.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64, MaxSupportedTransactionVersion: &v0})
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := solana.TransactionFromBytes(got.Transaction.GetBinary())
	if err != nil {
		t.Fatal(err)
	}
	var memoText string
	for _, ix := range decoded.Message.Instructions {
		if p, _ := decoded.Message.Program(ix.ProgramIDIndex); p == solana.MemoProgramID {
			memoText = string(ix.Data)
		}
	}
	if memoText != "payment pay_123" {
		t.Fatalf("memo %q", memoText)
	}
	m := got.Meta
	if m.Err != nil || m.Fee != 5000 || len(m.LogMessages) == 0 || got.Slot != st.Slot || got.BlockTime == nil {
		t.Fatalf("meta %+v", m)
	}
	if !strings.Contains(strings.Join(m.LogMessages, "\n"), "Program log: payment pay_123") {
		t.Fatalf("logs lack the memo: %q", m.LogMessages)
	}
	if len(m.PreTokenBalances) != 1 || len(m.PostTokenBalances) != 2 {
		t.Fatalf("token balances pre %+v post %+v", m.PreTokenBalances, m.PostTokenBalances)
	}
	for _, b := range m.PostTokenBalances {
		want := map[solana.PublicKey]string{alice.pub(): "7500000", bob.pub(): "2500000"}[*b.Owner]
		if b.Mint != c.Mint || b.UiTokenAmount.Amount != want {
			t.Fatalf("post token balance %+v %+v", b, b.UiTokenAmount)
		}
	}

	// The default (json) encoding decodes too.
	got, err = cl.GetTransaction(ctx, sig, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j, err := got.Transaction.GetTransaction(); err != nil || j.Signatures[0] != sig || len(j.Message.Instructions) != 3 {
		t.Fatalf("json transaction %+v: %v", j, err)
	}
	if got, err := cl.GetTransaction(ctx, solana.Signature{1}, nil); !errors.Is(err, rpc.ErrNotFound) {
		t.Fatalf("unknown transaction: %+v, %v", got, err)
	}

	// Sent again: not executed twice.
	_, err = cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{})
	re := rpcError(t, err, -32002)
	if !strings.Contains(re.Message, "already been processed") {
		t.Fatalf("resend: %s", re.Message)
	}
	again, err := cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true})
	if err != nil || again != sig {
		t.Fatalf("resend without preflight: %s, %v", again, err)
	}
	if a := tokenBalance(t, cl, alice.ata); a != "7500000" {
		t.Fatalf("resent transfer executed again: alice %s", a)
	}
}

func TestFailedTransfer(t *testing.T) {
	c := testenv.Chain(t)
	cl := c.Client()
	ctx := ctxT(t)
	alice := newWallet(t, c, solana.LAMPORTS_PER_SOL, 1_000_000)
	bob := newWallet(t, c, 0, 1)
	bh := latestBlockhash(t, cl).Value.Blockhash

	// With preflight: the standard simulation-failed error, and nothing lands.
	tx := transferTx(t, c, alice, bob, 2_000_000, "", bh)
	_, err := cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{})
	re := rpcError(t, err, -32002)
	data, _ := json.Marshal(re.Data)
	if !strings.HasPrefix(re.Message, "Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1") ||
		!strings.Contains(string(data), `"Program log: Error: insufficient funds"`) || !strings.Contains(string(data), `"err":{"InstructionError":[0,{"Custom":1}]}`) {
		t.Fatalf("preflight error %s: %s", re.Message, data)
	}
	if st := status(t, cl, tx.Signatures[0]); st != nil {
		t.Fatalf("status of a transaction that failed preflight: %+v", st)
	}

	// Simulation reports the same failure in its value.
	sim, err := cl.SimulateTransaction(ctx, tx)
	if err != nil || sim.Value.Err == nil || len(sim.Value.Logs) == 0 {
		t.Fatalf("simulate: %+v, %v", sim, err)
	}
	ok, err := cl.SimulateTransaction(ctx, transferTx(t, c, alice, bob, 1, "", bh))
	if err != nil || ok.Value.Err != nil || ok.Value.UnitsConsumed == nil || *ok.Value.UnitsConsumed == 0 {
		t.Fatalf("simulate: %+v, %v", ok, err)
	}

	// Without preflight: it lands as failed, the fee is charged, balances stay.
	sig, err := cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := confirm(ctx, cl, sig)
	if err != nil {
		t.Fatal(err)
	}
	if st.Err == nil || fmt.Sprint(st.Status) == fmt.Sprint(map[string]any{"Ok": nil}) {
		t.Fatalf("failed transaction's status %+v", st)
	}
	got, err := cl.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64})
	if err != nil || got.Meta.Err == nil || got.Meta.Fee != 5000 {
		t.Fatalf("failed transaction %+v: %v", got, err)
	}
	if a, b := tokenBalance(t, cl, alice.ata), tokenBalance(t, cl, bob.ata); a != "1000000" || b != "1" {
		t.Fatalf("balances after a failed transfer: %s, %s", a, b)
	}
	if l, _ := cl.GetBalance(ctx, alice.pub(), rpc.CommitmentFinalized); l.Value != solana.LAMPORTS_PER_SOL-5000 {
		t.Fatalf("fee not charged: %d", l.Value)
	}

	// A fee payer without SOL: rejected in preflight, dropped without it.
	poor := newWallet(t, c, 0, 5)
	tx = transferTx(t, c, poor, bob, 1, "", bh)
	_, err = cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{})
	rpcError(t, err, -32002)
	if sig, err := cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true}); err != nil || status(t, cl, sig) != nil {
		t.Fatalf("unfunded transaction without preflight: %s, %v", sig, err)
	}

	// A bad signature is rejected before anything.
	tx = transferTx(t, c, alice, bob, 1, "", bh)
	tx.Signatures[0][0] ^= 1
	_, err = cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true})
	rpcError(t, err, -32003)
}

func TestBlockhashExpiry(t *testing.T) {
	t.Run("real time", func(t *testing.T) {
		c := testenv.ChainWith(t, localnet.Options{SlotTime: 10 * time.Millisecond, BlockhashLifetime: 20})
		cl := c.Client()
		ctx := ctxT(t)
		alice := newWallet(t, c, solana.LAMPORTS_PER_SOL, 10)
		bh := latestBlockhash(t, cl)
		tx := transferTx(t, c, alice, alice, 1, "", bh.Value.Blockhash)
		for {
			valid, err := cl.IsBlockhashValid(ctx, bh.Value.Blockhash, rpc.CommitmentFinalized)
			if err != nil {
				t.Fatal(err)
			}
			h := valid.Context.Slot // on this chain the block height is the slot
			if h > bh.Value.LastValidBlockHeight {
				if valid.Value {
					t.Fatalf("blockhash valid at height %d, last valid %d", h, bh.Value.LastValidBlockHeight)
				}
				break
			}
			if !valid.Value {
				t.Fatalf("blockhash invalid at height %d, last valid %d", h, bh.Value.LastValidBlockHeight)
			}
			time.Sleep(2 * time.Millisecond)
		}
		_, err := cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{})
		if re := rpcError(t, err, -32002); !strings.Contains(re.Message, "Blockhash not found") {
			t.Fatalf("expired blockhash: %s", re.Message)
		}
		sig, err := cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true})
		if err != nil || status(t, cl, sig) != nil {
			t.Fatalf("expired transaction without preflight: %s, %v", sig, err)
		}
	})
	t.Run("advance slots", func(t *testing.T) {
		c := testenv.ChainWith(t, localnet.Options{SlotTime: -1})
		cl := c.Client()
		ctx := ctxT(t)
		bh := latestBlockhash(t, cl)
		slot, err := c.AdvanceSlots(ctx, 150)
		if err != nil {
			t.Fatal(err)
		}
		if valid, err := cl.IsBlockhashValid(ctx, bh.Value.Blockhash, ""); err != nil || !valid.Value {
			t.Fatalf("at slot %d (last valid %d): valid %v, %v", slot, bh.Value.LastValidBlockHeight, valid, err)
		}
		if _, err := c.AdvanceSlots(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if valid, err := cl.IsBlockhashValid(ctx, bh.Value.Blockhash, ""); err != nil || valid.Value {
			t.Fatalf("after lifetime: valid %v, %v", valid, err)
		}
	})
}

func TestJSONRPCEnvelope(t *testing.T) {
	c := testenv.Chain(t)
	post := func(body string) string {
		t.Helper()
		resp, err := http.Post(c.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s %v", resp.StatusCode, b, err)
		}
		return string(b)
	}
	type response struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  json.RawMessage `json:"result"`
		Error   *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	tests := []struct {
		name  string
		body  string
		codes []int // 0: a result
		ids   []string
	}{
		{"single", `{"jsonrpc":"2.0","id":7,"method":"getHealth"}`, []int{0}, []string{"7"}},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"getSlot"},{"jsonrpc":"2.0","id":"two","method":"noSuchMethod"}]`, []int{0, -32601}, []string{"1", `"two"`}},
		{"unknown method", `{"jsonrpc":"2.0","id":3,"method":"getProgramAccounts2"}`, []int{-32601}, []string{"3"}},
		{"malformed", `{"jsonrpc":"2.0",`, []int{-32700}, []string{"null"}},
		{"bad params", `{"jsonrpc":"2.0","id":4,"method":"getBalance","params":["not-an-address"]}`, []int{-32602}, []string{"4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := post(tt.body)
			var out []response
			if strings.HasPrefix(tt.body, "[") {
				if err := json.Unmarshal([]byte(raw), &out); err != nil {
					t.Fatalf("%s: %v", raw, err)
				}
			} else {
				var one response
				if err := json.Unmarshal([]byte(raw), &one); err != nil {
					t.Fatalf("%s: %v", raw, err)
				}
				out = []response{one}
			}
			if len(out) != len(tt.codes) {
				t.Fatalf("%d responses: %s", len(out), raw)
			}
			for i, r := range out {
				code := 0
				if r.Error != nil {
					code = r.Error.Code
				} else if r.Result == nil {
					t.Fatalf("neither result nor error: %s", raw)
				}
				if r.JSONRPC != "2.0" || code != tt.codes[i] || string(r.ID) != tt.ids[i] {
					t.Fatalf("response %d: %s", i, raw)
				}
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	dir, err := localnet.FindDir()
	if err != nil {
		t.Fatal(err)
	}
	_, err = localnet.Start(context.Background(), localnet.Options{Dir: t.TempDir()})
	if !errors.Is(err, localnet.ErrNotInstalled) || !strings.Contains(err.Error(), "npm ci") {
		t.Fatalf("without node_modules: %v", err)
	}
	_, err = localnet.Start(context.Background(), localnet.Options{Dir: dir, Node: "no-such-node-binary"})
	if !errors.Is(err, localnet.ErrNodeMissing) && !errors.Is(err, localnet.ErrNotInstalled) {
		t.Fatalf("without node: %v", err)
	}
}
