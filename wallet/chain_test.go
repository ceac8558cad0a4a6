package wallet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/stipend/stipend/internal/localnet"
	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/wallet"
)

const usdc = 1_000_000 // one token in base units (6 decimals)

// chainFor returns a wallet.Chain talking to the local chain ln.
func chainFor(t testing.TB, ln *localnet.Chain, feePayer *wallet.Keypair) *wallet.Chain {
	t.Helper()
	c, err := wallet.New(wallet.Config{
		RPCURL:         ln.URL,
		Commitment:     rpc.CommitmentConfirmed,
		Mint:           ln.Mint,
		Decimals:       ln.Decimals,
		FeePayer:       feePayer,
		ConfirmTimeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fundedWallet returns a new wallet holding 1 SOL and tokens base units.
func fundedWallet(t testing.TB, ln *localnet.Chain, tokens uint64) *wallet.Keypair {
	t.Helper()
	kp, err := wallet.NewKeypair()
	if err != nil {
		t.Fatal(err)
	}
	if err := ln.Airdrop(context.Background(), kp.PublicKey(), solana.LAMPORTS_PER_SOL); err != nil {
		t.Fatal(err)
	}
	if tokens > 0 {
		if _, err := ln.MintTo(context.Background(), kp.PublicKey(), tokens); err != nil {
			t.Fatal(err)
		}
	}
	return kp
}

// walletSign plays the user's browser wallet: it decodes the issued wire
// transaction, signs it and returns the signed wire transaction.
func walletSign(t testing.TB, u *wallet.Unsigned, user *wallet.Keypair) string {
	t.Helper()
	tx, err := solana.TransactionFromBase64(u.Wire)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(user.Getter()); err != nil {
		t.Fatal(err)
	}
	s, err := tx.ToBase64()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fund runs the whole approval flow: build, user signs, verify, send, confirm.
func fund(t testing.TB, c *wallet.Chain, user *wallet.Keypair, key solana.PublicKey, amount uint64) *solana.Transaction {
	t.Helper()
	ctx := context.Background()
	u, err := c.BuildFunding(ctx, user.PublicKey(), key, amount)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := wallet.VerifySigned(u.Message, walletSign(t, u, user), user.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendAndConfirm(ctx, tx); err != nil {
		t.Fatal(err)
	}
	return tx
}

func tokenBal(t testing.TB, c *wallet.Chain, owner solana.PublicKey) uint64 {
	t.Helper()
	b, err := c.TokenBalance(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func solBal(t testing.TB, c *wallet.Chain, owner solana.PublicKey) uint64 {
	t.Helper()
	b, err := c.SOLBalance(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// memoOf fetches a landed transaction and returns its memo instruction's data.
func memoOf(t testing.TB, c *wallet.Chain, sig solana.Signature) string {
	t.Helper()
	res, err := c.RPC().GetTransaction(context.Background(), sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64, Commitment: rpc.CommitmentConfirmed})
	if err != nil {
		t.Fatalf("getTransaction: %v", err)
	}
	tx, err := res.Transaction.GetTransaction()
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range tx.Message.Instructions {
		if p, _ := tx.Message.Program(ci.ProgramIDIndex); p.Equals(solana.MemoProgramID) {
			return string(ci.Data)
		}
	}
	t.Fatal("no memo instruction in the landed transaction")
	return ""
}

func TestChainLifecycle(t *testing.T) {
	ln := testenv.Chain(t)
	ctx := context.Background()
	c := chainFor(t, ln, nil)
	user := fundedWallet(t, ln, 10*usdc)
	key, _ := wallet.NewKeypair()
	userSOL := solBal(t, c, user.PublicKey())

	// Fund: the key gets exactly the amount, and SOL for its fees.
	fund(t, c, user, key.PublicKey(), 5*usdc)
	if got := tokenBal(t, c, key.PublicKey()); got != 5*usdc {
		t.Fatalf("key balance after funding = %d, want %d", got, 5*usdc)
	}
	if got := tokenBal(t, c, user.PublicKey()); got != 5*usdc {
		t.Fatalf("user balance after funding = %d, want %d", got, 5*usdc)
	}
	if got := solBal(t, c, key.PublicKey()); got != wallet.DefaultKeyFeeLamports {
		t.Fatalf("key SOL = %d, want %d", got, wallet.DefaultKeyFeeLamports)
	}

	// Pay a recipient that has no token account yet.
	recipient, _ := wallet.NewKeypair()
	if got := tokenBal(t, c, recipient.PublicKey()); got != 0 {
		t.Fatalf("new recipient balance = %d", got)
	}
	tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), 1_250_000, "pay_test_0001")
	if err != nil {
		t.Fatal(err)
	}
	known := tx.Signatures[0]
	sig, err := c.SendAndConfirm(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if sig != known {
		t.Fatalf("signature %s differs from the one known before sending %s", sig, known)
	}
	if got := tokenBal(t, c, recipient.PublicKey()); got != 1_250_000 {
		t.Fatalf("recipient balance = %d, want 1250000", got)
	}
	if got := tokenBal(t, c, key.PublicKey()); got != 5*usdc-1_250_000 {
		t.Fatalf("key balance after payment = %d", got)
	}
	if memo := memoOf(t, c, sig); memo != "pay_test_0001" {
		t.Fatalf("memo = %q, want the payment id", memo)
	}
	st, err := c.LookupSignature(ctx, sig)
	if err != nil || !st.Found || st.Failed() || !st.Reached(rpc.CommitmentConfirmed) {
		t.Fatalf("LookupSignature = %+v, %v", st, err)
	}

	// Top-up with the same builder: the key's token account already exists.
	fund(t, c, user, key.PublicKey(), 1*usdc)
	if got := tokenBal(t, c, key.PublicKey()); got != 6*usdc-1_250_000 {
		t.Fatalf("key balance after top-up = %d", got)
	}

	// Sweep: every unit back, the token account closed, the SOL returned but
	// for a reserve that pays later sweeps (tokens sent to the key afterwards).
	keySOL := solBal(t, c, key.PublicKey())
	minBal, err := c.RPC().GetMinimumBalanceForRentExemption(ctx, 0, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	reserve := minBal + wallet.SweepReserveFees*wallet.LamportsPerSignature
	sw, err := c.BuildSweep(ctx, key, user.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if sw.Tokens != 6*usdc-1_250_000 || sw.Lamports != keySOL-wallet.LamportsPerSignature-reserve {
		t.Fatalf("sweep of %d tokens, %d lamports; want %d, %d", sw.Tokens, sw.Lamports, 6*usdc-1_250_000, keySOL-wallet.LamportsPerSignature-reserve)
	}
	if _, err := c.SendAndConfirm(ctx, sw.Tx); err != nil {
		t.Fatal(err)
	}
	if got := tokenBal(t, c, user.PublicKey()); got != 10*usdc-1_250_000 {
		t.Fatalf("user balance after sweep = %d, want %d", got, 10*usdc-1_250_000)
	}
	if _, exists, err := c.TokenBalanceExists(ctx, key.PublicKey()); err != nil || exists {
		t.Fatalf("key token account still exists (%v, %v)", exists, err)
	}
	if got := solBal(t, c, key.PublicKey()); got != reserve {
		t.Fatalf("key SOL after sweep = %d, want the reserve %d", got, reserve)
	}
	// The user paid two funding fees and two KeyFeeLamports and got back the
	// key's leftover SOL and the token account's rent.
	if got := solBal(t, c, user.PublicKey()); got <= userSOL-2*wallet.DefaultKeyFeeLamports-4*wallet.LamportsPerSignature-3_000_000 {
		t.Fatalf("user SOL = %d, started with %d: leftover not returned", got, userSOL)
	}
	if _, err := c.BuildSweep(ctx, key, user.PublicKey()); !errors.Is(err, wallet.ErrNothingToSweep) {
		t.Fatalf("second sweep err = %v, want wallet.ErrNothingToSweep", err)
	}
}

func TestChainGaslessKeySOLNeverChanges(t *testing.T) {
	ln := testenv.Chain(t)
	ctx := context.Background()
	feePayer := fundedWallet(t, ln, 0)
	c := chainFor(t, ln, feePayer)
	user := fundedWallet(t, ln, 3*usdc)
	key, _ := wallet.NewKeypair()

	check := func(when string) {
		t.Helper()
		if got := solBal(t, c, key.PublicKey()); got != 0 {
			t.Fatalf("%s: key SOL = %d, want 0", when, got)
		}
	}
	check("before funding")
	fund(t, c, user, key.PublicKey(), 2*usdc)
	check("after funding")

	recipient, _ := wallet.NewKeypair()
	fpBefore := solBal(t, c, feePayer.PublicKey())
	tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), 700_000, "pay_gasless")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendAndConfirm(ctx, tx); err != nil {
		t.Fatal(err)
	}
	check("after payment")
	if got := tokenBal(t, c, recipient.PublicKey()); got != 700_000 {
		t.Fatalf("recipient balance = %d", got)
	}
	if fpAfter := solBal(t, c, feePayer.PublicKey()); fpAfter >= fpBefore {
		t.Fatalf("fee payer SOL %d → %d: it paid nothing", fpBefore, fpAfter)
	}

	sw, err := c.BuildSweep(ctx, key, user.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendAndConfirm(ctx, sw.Tx); err != nil {
		t.Fatal(err)
	}
	check("after sweep")
	if got := tokenBal(t, c, user.PublicKey()); got != 3*usdc-700_000 {
		t.Fatalf("user balance after sweep = %d", got)
	}
}

func TestChainReplayedFundingRunsOnce(t *testing.T) {
	ln := testenv.Chain(t)
	ctx := context.Background()
	c := chainFor(t, ln, nil)
	user := fundedWallet(t, ln, 5*usdc)
	key, _ := wallet.NewKeypair()

	tx := fund(t, c, user, key.PublicKey(), 2*usdc)
	// Replay the very same signed transaction: through SendAndConfirm it is
	// recognised and only confirmed; a raw Send is refused by the node.
	sig, err := c.SendAndConfirm(ctx, tx)
	if err != nil {
		t.Fatalf("replay through SendAndConfirm: %v", err)
	}
	if sig != tx.Signatures[0] {
		t.Fatalf("replay signature %s, want %s", sig, tx.Signatures[0])
	}
	if _, err := c.Send(ctx, tx); err == nil {
		t.Log("raw resend accepted by the node (dropped as a duplicate)")
	}
	if got := tokenBal(t, c, key.PublicKey()); got != 2*usdc {
		t.Fatalf("key balance after replay = %d, want %d", got, 2*usdc)
	}
	if got := tokenBal(t, c, user.PublicKey()); got != 3*usdc {
		t.Fatalf("user balance after replay = %d, want %d", got, 3*usdc)
	}
}

func TestChainExpiredBlockhash(t *testing.T) {
	ln := testenv.ChainWith(t, localnet.Options{SlotTime: -1, BlockhashLifetime: 5})
	ctx := context.Background()
	c := chainFor(t, ln, nil)
	user := fundedWallet(t, ln, 5*usdc)
	key, _ := wallet.NewKeypair()
	fund(t, c, user, key.PublicKey(), 2*usdc)
	recipient, _ := wallet.NewKeypair()

	tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), usdc, "pay_expired")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.BlockhashValid(ctx, tx.Message.RecentBlockhash); err != nil || !ok {
		t.Fatalf("fresh blockhash valid = %v, %v", ok, err)
	}
	if _, err := ln.AdvanceSlots(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.BlockhashValid(ctx, tx.Message.RecentBlockhash); err != nil || ok {
		t.Fatalf("old blockhash valid = %v, %v", ok, err)
	}
	if _, err := c.SendAndConfirm(ctx, tx); !errors.Is(err, wallet.ErrBlockhashExpired) {
		t.Fatalf("SendAndConfirm of an expired transaction: err = %v, want wallet.ErrBlockhashExpired", err)
	}
	if st, err := c.LookupSignature(ctx, tx.Signatures[0]); err != nil || st.Found {
		t.Fatalf("expired transaction found: %+v, %v", st, err)
	}
	if got := tokenBal(t, c, recipient.PublicKey()); got != 0 {
		t.Fatalf("recipient got %d from an expired transaction", got)
	}

	// Now, and only now, the caller rebuilds and re-signs.
	tx, err = c.BuildPayment(ctx, key, recipient.PublicKey(), usdc, "pay_expired")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendAndConfirm(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if got := tokenBal(t, c, recipient.PublicKey()); got != usdc {
		t.Fatalf("recipient balance = %d, want %d", got, usdc)
	}
}

func TestChainFailures(t *testing.T) {
	ln := testenv.Chain(t)
	ctx := context.Background()
	c := chainFor(t, ln, nil)
	user := fundedWallet(t, ln, 5*usdc)
	key, _ := wallet.NewKeypair()
	fund(t, c, user, key.PublicKey(), usdc)
	recipient, _ := wallet.NewKeypair()

	// More than the key holds: the node's simulation refuses it, it never lands.
	tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), 2*usdc, "pay_too_much")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendAndConfirm(ctx, tx)
	if !errors.Is(err, wallet.ErrSend) {
		t.Fatalf("overdraft: err = %v, want wallet.ErrSend", err)
	}
	var re *jsonrpc.RPCError
	if !errors.As(err, &re) || len(err.Error()) > 400 {
		t.Fatalf("overdraft: want a short error wrapping the RPC error, got %v", err)
	}
	t.Logf("overdraft refused: %v", err)
	if st, err := c.LookupSignature(ctx, tx.Signatures[0]); err != nil || st.Found {
		t.Fatalf("refused transaction found: %+v, %v", st, err)
	}

	// The same, pushed past simulation: it lands with an error.
	tx, err = c.BuildPayment(ctx, key, recipient.PublicKey(), 2*usdc, "pay_too_much_2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RPC().SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: true}); err != nil {
		t.Fatal(err)
	}
	err = c.Confirm(ctx, tx.Signatures[0])
	var txErr *wallet.TxError
	if !errors.Is(err, wallet.ErrTxFailed) || !errors.As(err, &txErr) || txErr.Err == "" {
		t.Fatalf("failed transaction: err = %v, want a wallet.TxError", err)
	}
	if got := tokenBal(t, c, key.PublicKey()); got != usdc {
		t.Fatalf("key balance after failed payment = %d, want %d", got, usdc)
	}

	// A signature that never lands: Confirm gives up after ConfirmTimeout.
	short := wallet.ChainWithTimeout(c, 600*time.Millisecond)
	never, _ := wallet.NewKeypair()
	if err := short.Confirm(ctx, never.SignBytes([]byte("nothing"))); !errors.Is(err, wallet.ErrConfirmTimeout) {
		t.Fatalf("unknown signature: err = %v, want wallet.ErrConfirmTimeout", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Confirm(cctx, never.SignBytes([]byte("nothing"))); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v, want context.Canceled", err)
	}
}

func BenchmarkPayment(b *testing.B) {
	for _, gasless := range []bool{false, true} {
		name := "key-pays"
		if gasless {
			name = "gasless"
		}
		b.Run(name, func(b *testing.B) {
			ln := testenv.Chain(b)
			ctx := context.Background()
			var fp *wallet.Keypair
			if gasless {
				fp = fundedWallet(b, ln, 0)
			}
			c := chainFor(b, ln, fp)
			user := fundedWallet(b, ln, 1_000_000*usdc)
			key, _ := wallet.NewKeypair()
			fund(b, c, user, key.PublicKey(), 1_000_000*usdc)
			recipient, _ := wallet.NewKeypair()
			i := 0
			for b.Loop() {
				i++
				tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), 1, "bench_"+time.Now().Format("150405.000000000"))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.SendAndConfirm(ctx, tx); err != nil {
					b.Fatal(err)
				}
			}
			if got := tokenBal(b, c, recipient.PublicKey()); got != uint64(i) {
				b.Fatalf("recipient got %d, want %d", got, i)
			}
		})
	}
}
