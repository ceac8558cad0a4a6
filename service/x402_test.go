package service_test

import (
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
)

// crash is what a progress hook panics with to stop FetchPaid at a stage, as
// if the process died there.
type crash struct{}

// fetchUntil runs FetchPaid and "crashes" it at stage.
func fetchUntil(t *testing.T, svc *service.Service, in service.FetchInput, stage string) {
	t.Helper()
	in.Progress = func(s string) {
		if s == stage {
			panic(crash{})
		}
	}
	defer func() {
		if r := recover(); r != (crash{}) {
			t.Fatalf("FetchPaid did not reach %s: %v", stage, r)
		}
	}()
	res, err := svc.FetchPaid(ctx, in)
	t.Fatalf("FetchPaid ended without reaching %s: %+v %v", stage, res, err)
}

// ledgerMatchesChain checks the money invariant of a key: its tokens on chain
// equal what the ledger says is there (remaining + reserved).
func ledgerMatchesChain(t *testing.T, st *testenv.Stack, keyID string) {
	t.Helper()
	k, _, err := st.Store.GetKey(ctx, "", keyID)
	if err != nil {
		t.Fatal(err)
	}
	onChain := st.TokenBalance(t, solana.MustPublicKeyFromBase58(k.Address))
	if ledger := uint64(k.MaxAmount - k.Spent); onChain != ledger {
		t.Fatalf("key %s holds %d on chain; the ledger says %d (spent %d, reserved %d)", keyID, onChain, ledger, k.Spent, k.Reserved)
	}
}

// TestFetchPaidCrashAfterSettlement: the service dies after the seller
// settled the payment and before the answer is read. Recovery finds the
// transfer on chain by the key's signature and commits it; the key's chain
// balance equals the ledger; the same idempotency key then reports the payment
// (whose answer was lost) and never pays again.
func TestFetchPaidCrashAfterSettlement(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{X402: true})
	seller := testenv.X402(t, st.Local)
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 10*usdc, "")
	in := service.FetchInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, URL: seller.URL + "/weather",
		MaxAmount: usdc, IdempotencyKey: "crash-1"}
	fetchUntil(t, st.Service, in, "answered")
	if got := st.TokenBalance(t, seller.PayTo); got != 10_000 {
		t.Fatalf("the seller settled %d; want 10000", got)
	}
	kv, _ := st.Service.Status(ctx, "bot", k.SessionKeyID)
	if kv.ReservedAmount != "0.01" {
		t.Fatalf("before recovery the payment is held: %+v", kv)
	}
	// A restarted service recovers.
	restarted := service.New(st.Store, st.Chain, st.Sealer, service.Config{X402Network: testenv.DevnetX402Network, X402AllowPrivate: true}, nil)
	if c, r, err := restarted.Recover(ctx); err != nil || c != 1 || r != 0 {
		t.Fatalf("recover: committed %d released %d %v", c, r, err)
	}
	ledgerMatchesChain(t, st, k.SessionKeyID)
	kv, _ = st.Service.Status(ctx, "bot", k.SessionKeyID)
	if kv.SpentAmount != "0.01" || kv.ReservedAmount != "0.00" {
		t.Fatalf("after recovery: %+v", kv)
	}
	in.Progress = nil
	res, err := restarted.FetchPaid(ctx, in)
	if err != nil || res.Status != "paid" || !res.Duplicate || res.TransactionSignature == "" || res.Reason == "" {
		t.Fatalf("replay after the crash: %+v %v", res, err)
	}
	if got := st.TokenBalance(t, seller.PayTo); got != 10_000 {
		t.Fatalf("the seller holds %d after the replay; paid twice", got)
	}
}

// TestFetchPaidCrashBeforeSending: the service dies after reserving and
// before the paid request leaves. Nothing can be decided while the signed
// transaction could still land; once its blockhash expired, recovery releases
// the hold and the ledger matches the chain.
func TestFetchPaidCrashBeforeSending(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{X402: true})
	seller := testenv.X402(t, st.Local)
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 10*usdc, "")
	in := service.FetchInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, URL: seller.URL + "/weather",
		MaxAmount: usdc, IdempotencyKey: "crash-2"}
	fetchUntil(t, st.Service, in, "sent")
	if c, r, err := st.Service.Recover(ctx); err != nil || c != 0 || r != 0 {
		t.Fatalf("recover while the blockhash is valid: committed %d released %d %v", c, r, err)
	}
	if _, err := st.Local.AdvanceSlots(ctx, 200); err != nil {
		t.Fatal(err)
	}
	if c, r, err := st.Service.Recover(ctx); err != nil || c != 0 || r != 1 {
		t.Fatalf("recover after expiry: committed %d released %d %v", c, r, err)
	}
	ledgerMatchesChain(t, st, k.SessionKeyID)
	if got := st.TokenBalance(t, seller.PayTo); got != 0 {
		t.Fatalf("the seller holds %d; nothing was sent", got)
	}
	in.Progress = nil
	res, err := st.Service.FetchPaid(ctx, in)
	if err != nil || res.Status != "failed" || !res.Duplicate {
		t.Fatalf("replay after a released payment: %+v %v", res, err)
	}
	p, err := st.Store.PaymentByIdempotencyKey(ctx, k.SessionKeyID, "crash-2")
	if err != nil || p == nil || p.Status != policy.PaymentFailed {
		t.Fatalf("payment: %+v %v", p, err)
	}
}

// TestFetchPaidUnsettled: the seller takes the signed payment but cannot
// settle it (its facilitator's verification fails). The agent hears
// "pending"; once the blockhash expired without the transfer, the hold is
// released in the background and the ledger matches the chain.
func TestFetchPaidUnsettled(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{X402: true})
	seller := testenv.X402(t, st.Local)
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 10*usdc, "")
	in := service.FetchInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, URL: seller.URL + "/unpayable",
		MaxAmount: usdc, IdempotencyKey: "unsettled-1"}
	res, err := st.Service.FetchPaid(ctx, in)
	if err != nil || res.Status != "pending" || res.PaymentID == "" || res.Reason == "" {
		t.Fatalf("unsettled: %+v %v", res, err)
	}
	t.Logf("the agent hears: %s", res.Reason)
	kv, _ := st.Service.Status(ctx, "bot", k.SessionKeyID)
	if kv.ReservedAmount != "0.01" {
		t.Fatalf("the payment is held until it can no longer land: %+v", kv)
	}
	if _, err := st.Local.AdvanceSlots(ctx, 200); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := st.Store.GetPayment(ctx, user.Address().String(), res.PaymentID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status == policy.PaymentFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment still %s after its blockhash expired", p.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ledgerMatchesChain(t, st, k.SessionKeyID)
	if again, err := st.Service.FetchPaid(ctx, in); err != nil || again.Status != "failed" || !again.Duplicate {
		t.Fatalf("replay: %+v %v", again, err)
	}
	if err := st.Service.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRecoverX402NeverSigned: a crash left an x402 payment reserved before
// anything was signed; recovery releases it at once, and the other payments
// are still resolved.
func TestRecoverX402NeverSigned(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 10*usdc, "")
	rec := &policy.X402Record{PaymentID: policy.NewID("pay_"), URL: "https://example.com/", Method: "GET", PayTo: recipient(t).String(), Amount: usdc}
	if err := st.Store.PutX402(ctx, user.Address().String(), rec); err != nil {
		t.Fatal(err)
	}
	d, err := st.Store.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.SessionKeyID, AgentID: "bot",
		Amount: usdc, Recipient: rec.PayTo, PaymentID: rec.PaymentID})
	if err != nil || d.Outcome != policy.OutcomeReserved {
		t.Fatalf("reserve: %+v %v", d, err)
	}
	if c, r, err := st.Service.Recover(ctx); err != nil || c != 0 || r != 1 {
		t.Fatalf("recover: committed %d released %d %v", c, r, err)
	}
	ledgerMatchesChain(t, st, k.SessionKeyID)
}
