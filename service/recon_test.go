package service_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
)

// signedTx decodes a wallet's signed transaction.
func signedTx(t *testing.T, b64 string) *solana.Transaction {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := solana.TransactionFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// agree checks the invariant on every key of the stack: the chain holds what
// the ledger says belongs there.
func agree(t *testing.T, svc *service.Service) {
	t.Helper()
	rep, err := svc.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Agree {
		t.Fatalf("chain and ledger disagree: %+v", rep.Keys)
	}
}

// TestCrashDuringFundingIsFinished (issue 11, case 1): the owner's funding
// transfer landed and serve died before activating the key. The reconciler
// finishes the approval from its signature: the key turns active; or, when
// it expired meanwhile, the tokens go back to the owner.
func TestCrashDuringFundingIsFinished(t *testing.T) {
	for _, tc := range []struct {
		name string
		skew time.Duration
		want string
	}{
		{"activated", 5 * time.Minute, "active"},
		{"expired meanwhile, swept back", 3 * time.Hour, "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := testenv.NewStack(t, testenv.StackOptions{})
			user := st.NewUser(t, 100*usdc)
			c, err := st.Service.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: "bot", UserWallet: user.Address().String(), MaxAmount: 7 * usdc, ExpiryHours: 1})
			if err != nil {
				t.Fatal(err)
			}
			tx := signedTx(t, user.SignTransaction(t, c.ApprovalTransaction))
			// The crash: the submission claimed the link and sent the transfer, then died.
			if _, err := st.Store.ClaimApproval(ctx, c.ApprovalToken, tx.Signatures[0].String(), tx.Message.RecentBlockhash.String()); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Chain.SendAndConfirm(ctx, tx); err != nil {
				t.Fatal(err)
			}
			key := solana.MustPublicKeyFromBase58(c.SessionKeyAddress)
			if got := st.TokenBalance(t, key); got != 7*usdc {
				t.Fatalf("key holds %d after the transfer", got)
			}
			later := service.New(st.Store.WithClockSkew(tc.skew), st.Chain, st.Sealer, service.Config{PublicURL: "http://x"}, nil)
			if err := later.FinishApprovals(ctx); err != nil {
				t.Fatal(err)
			}
			k, err := later.Status(ctx, "bot", c.SessionKeyID)
			if err != nil || k.Status != tc.want {
				t.Fatalf("key after recovery: %+v %v; want %s", k, err, tc.want)
			}
			a, err := later.Approval(ctx, c.ApprovalToken)
			if err != nil || a.Status != "used" || len(a.Result) == 0 {
				t.Fatalf("approval after recovery: %+v %v", a, err)
			}
			if tc.want == "active" {
				if got := st.TokenBalance(t, key); got != 7*usdc || k.RemainingAmount != "7.00" {
					t.Fatalf("active key holds %d on chain, %s in the ledger", got, k.RemainingAmount)
				}
			} else {
				if got := st.TokenBalance(t, user.Address()); got != 100*usdc {
					t.Fatalf("owner holds %d; want all 100 back", got)
				}
				if !strings.Contains(string(a.Result), "sweep_signature") || !strings.Contains(string(a.Result), "returned") {
					t.Fatalf("the approval does not say the money was returned: %s", a.Result)
				}
			}
			agree(t, later)
		})
	}
}

// TestRevokeRacingPaymentsEndsAtZero (issue 11, case 2): a key is revoked
// while a payment is in flight and the network refuses the first sweep. The
// sweep waits for the payment, is stored before it is sent, and is retried
// until the key holds nothing; the recipient has exactly what was spent.
func TestRevokeRacingPaymentsEndsAtZero(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 50*usdc, "")
	proxy := st.RPCProxy(t)
	svc, store, _ := st.Via(t, proxy.URL, nil, service.Config{PayWait: 2 * time.Second, RPCTimeout: time.Second})
	shop := recipient(t)
	// A payment reserved, signed, attached and sent; it lands, its request has not committed yet.
	sealed, _ := st.Store.SealedSecret(ctx, k.SessionKeyID)
	kp, err := st.Sealer.Open(sealed, solana.MustPublicKeyFromBase58(k.SessionKeyAddress))
	if err != nil {
		t.Fatal(err)
	}
	id := policy.NewID("pay_")
	tx, err := st.Chain.BuildPayment(ctx, kp, shop, 10*usdc, id)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := store.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.SessionKeyID, AgentID: "bot",
		Amount: 10 * usdc, Recipient: shop.String(), PaymentID: id, Signature: tx.Signatures[0].String(),
		Blockhash: tx.Message.RecentBlockhash.String()}); err != nil || d.Outcome != policy.OutcomeReserved {
		t.Fatalf("reserve: %+v %v", d, err)
	}
	if _, err := st.Chain.SendAndConfirm(ctx, tx); err != nil {
		t.Fatal(err)
	}
	proxy.Set(testenv.Refuse, "sendTransaction")
	rev, err := svc.Revoke(ctx, "bot", k.SessionKeyID, "test")
	if err != nil || rev.Status != "revoked" || rev.SweepError == "" || rev.RemainingAmount != "0.00" {
		t.Fatalf("revoke with a payment in flight: %+v %v", rev, err)
	}
	if c, _, err := svc.Recover(ctx); err != nil || c != 1 {
		t.Fatalf("recover: %d %v", c, err)
	}
	// The network refuses the sweep: it stays queued with its signature stored.
	if _, err := svc.SweepKey(ctx, k.SessionKeyID); err != nil {
		t.Logf("first sweep: %v", err)
	}
	queued, _ := store.SweepQueued(ctx)
	if _, ok := queued[k.SessionKeyID]; !ok {
		t.Fatal("the key left the sweep queue although it still holds tokens")
	}
	proxy.Heal()
	if _, err := st.Local.AdvanceSlots(ctx, 200); err != nil { // the refused sweep's blockhash expires
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		res, err := svc.SweepKey(ctx, k.SessionKeyID)
		if err == nil && res.Done {
			break
		}
	}
	if got := st.TokenBalance(t, solana.MustPublicKeyFromBase58(k.SessionKeyAddress)); got != 0 {
		t.Fatalf("revoked key still holds %d", got)
	}
	if got := st.TokenBalance(t, user.Address()); got != 90*usdc {
		t.Fatalf("owner holds %d; want 90 (100 - 10 paid)", got)
	}
	if got := st.TokenBalance(t, shop); got != 10*usdc {
		t.Fatalf("recipient holds %d; want the 10 spent", got)
	}
	queued, _ = store.SweepQueued(ctx)
	if _, ok := queued[k.SessionKeyID]; ok {
		t.Fatal("a key at a confirmed zero is still queued")
	}
	agree(t, svc)
}

// TestRedisDownIsAToolResult (issue 11, case 3): Redis unreachable in the
// middle of a payment is an unavailable result that says what is known and
// carries the idempotency key; the retry with it pays nothing twice.
func TestRedisDownIsAToolResult(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 50*usdc, "")
	cut, rdb := testenv.RedisProxy(t)
	svc, _, _ := st.Via(t, "", rdb, service.Config{})
	shop := recipient(t)

	t.Run("before anything is reserved", func(t *testing.T) {
		cut.Cut()
		defer cut.Restore()
		_, err := svc.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop.String(), Amount: usdc})
		var pe *policy.Error
		if !errors.As(err, &pe) || pe.Code != policy.CodeUnavailable {
			t.Fatalf("pay with Redis down: %v; want a coded unavailable", err)
		}
		if strings.Contains(pe.Message, "127.0.0.1") || strings.Contains(pe.Message, "dial tcp") {
			t.Fatalf("the message names the infrastructure: %q", pe.Message)
		}
	})
	t.Run("after it landed", func(t *testing.T) {
		var once sync.Once
		res, err := svc.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop.String(), Amount: 2 * usdc,
			Progress: func(stage string) {
				if stage == "sent" {
					once.Do(cut.Cut)
				}
			}})
		cut.Restore()
		if policy.CodeOf(err) != policy.CodeUnavailable || res == nil || res.IdempotencyKey == "" {
			t.Fatalf("pay with Redis cut after sending: %+v %v", res, err)
		}
		if !strings.Contains(err.Error(), "never with a new one") || !strings.Contains(err.Error(), res.IdempotencyKey) {
			t.Fatalf("the answer does not say how to retry: %v", err)
		}
		again, err := svc.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop.String(), Amount: 2 * usdc,
			IdempotencyKey: res.IdempotencyKey})
		if err != nil || again.Status != "confirmed" || !again.Duplicate {
			t.Fatalf("retry with the same key: %+v %v", again, err)
		}
		if got := st.TokenBalance(t, shop); got != 2*usdc {
			t.Fatalf("recipient holds %d; want 2 USDC paid once", got)
		}
	})
	agree(t, st.Service)
}

// TestIdenticalTopUpsAreDistinct (issue 11, case 4): three top-ups of the
// same amount in quick succession are three different transactions; all
// three approved move money three times, and the ledger counts three.
func TestIdenticalTopUpsAreDistinct(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 10*usdc, "")
	seen := map[string]bool{}
	var links []*service.TopUpCreated
	for range 3 {
		tu, err := st.Service.TopUpRequest(ctx, "bot", k.SessionKeyID, 5*usdc)
		if err != nil {
			t.Fatal(err)
		}
		if seen[tu.ApprovalTransaction] {
			t.Fatal("two top-up approvals issued the same transaction")
		}
		seen[tu.ApprovalTransaction] = true
		links = append(links, tu)
	}
	for _, tu := range links {
		if _, err := st.Service.SubmitApproval(ctx, tu.ApprovalToken, service.Submission{SignedTransaction: user.SignTransaction(t, tu.ApprovalTransaction)}); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := st.Service.Status(ctx, "bot", k.SessionKeyID)
	if v.MaxAmount != "25.00" {
		t.Fatalf("max_amount %s; want 25.00", v.MaxAmount)
	}
	if got := st.TokenBalance(t, solana.MustPublicKeyFromBase58(k.SessionKeyAddress)); got != 25*usdc {
		t.Fatalf("key holds %d; want 25 USDC", got)
	}
	agree(t, st.Service)
}

// TestTopUpCountedOnce: a top-up whose transfer landed is finished by the
// reconciler after the submission stopped, either before counting it or
// after (then the ledger answers duplicate): the key's maximum grows once,
// the approval's result says whether it was a duplicate, and the attestation
// states the new maximum either way.
func TestTopUpCountedOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		counted bool // the submission counted the top-up before it stopped
	}{
		{"stopped before counting", false},
		{"stopped after counting", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := testenv.NewStack(t, testenv.StackOptions{})
			user := st.NewUser(t, 100*usdc)
			k := st.Fund(t, "bot", user, 10*usdc, "")
			tu, err := st.Service.TopUpRequest(ctx, "bot", k.SessionKeyID, 5*usdc)
			if err != nil {
				t.Fatal(err)
			}
			tx := signedTx(t, user.SignTransaction(t, tu.ApprovalTransaction))
			sig := tx.Signatures[0].String()
			if _, err := st.Store.ClaimApproval(ctx, tu.ApprovalToken, sig, tx.Message.RecentBlockhash.String()); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Chain.SendAndConfirm(ctx, tx); err != nil {
				t.Fatal(err)
			}
			if tc.counted {
				if _, err := st.Store.TopUp(ctx, k.SessionKeyID, 5*usdc, sig); err != nil {
					t.Fatal(err)
				}
			}
			later := service.New(st.Store.WithClockSkew(5*time.Minute), st.Chain, st.Sealer, service.Config{PublicURL: "http://x"}, nil)
			if err := later.FinishApprovals(ctx); err != nil {
				t.Fatal(err)
			}
			a, err := later.Approval(ctx, tu.ApprovalToken)
			if err != nil || a.Status != "used" {
				t.Fatalf("approval after recovery: %+v %v", a, err)
			}
			var res service.ApprovalResult
			if err := json.Unmarshal(a.Result, &res); err != nil {
				t.Fatal(err)
			}
			if dup, _ := res.Result["duplicate"].(bool); res.Status != "active" || dup != tc.counted || res.Result["max_amount"] != "15.00" {
				t.Fatalf("approval result %s; want active, max 15.00, duplicate %v", a.Result, tc.counted)
			}
			v, err := later.Status(ctx, "bot", k.SessionKeyID)
			if err != nil || v.MaxAmount != "15.00" || v.RemainingAmount != "15.00" {
				t.Fatalf("key after recovery: %+v %v; want 15.00 once", v, err)
			}
			if err := service.VerifyKeyAttestation(v); err != nil {
				t.Fatalf("the attestation does not state the new maximum: %v", err)
			}
			if got := st.TokenBalance(t, solana.MustPublicKeyFromBase58(k.SessionKeyAddress)); got != 15*usdc {
				t.Fatalf("key holds %d; want 15 USDC", got)
			}
			agree(t, later)
		})
	}
}

// TestTopUpLandingOnRevokedKey (issue 11, case 5): the owner's wallet sent a
// top-up itself after the key was revoked; submitting it says the approval
// can no longer take effect and that the money was returned, with the sweep.
func TestTopUpLandingOnRevokedKey(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 10*usdc, "")
	tu, err := st.Service.TopUpRequest(ctx, "bot", k.SessionKeyID, 5*usdc)
	if err != nil {
		t.Fatal(err)
	}
	signed := user.SignTransaction(t, tu.ApprovalTransaction)
	if _, err := st.Service.Revoke(ctx, "bot", k.SessionKeyID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Chain.SendAndConfirm(ctx, signedTx(t, signed)); err != nil { // signAndSend by the wallet
		t.Fatal(err)
	}
	res, err := st.Service.SubmitApproval(ctx, tu.ApprovalToken, service.Submission{SignedTransaction: signed})
	if err != nil || res.Status != "returned" || res.Result["sweep_signature"] == nil {
		t.Fatalf("top-up on a revoked key: %+v %v; want returned with the sweep signature", res, err)
	}
	if msg, _ := res.Result["message"].(string); !strings.Contains(msg, "returned") {
		t.Fatalf("message %q", msg)
	}
	if got := st.TokenBalance(t, user.Address()); got != 100*usdc {
		t.Fatalf("owner holds %d; want all 100 back", got)
	}
	agree(t, st.Service)
}

// TestPayWaitIsBounded (issue 11, case 6): a payment whose transaction never
// lands stops waiting once its blockhash expired; a hung RPC holds pay no
// longer than the configured bound, which answers pending with the retry
// sentence.
func TestPayWaitIsBounded(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 50*usdc, "")
	proxy := st.RPCProxy(t)
	shop := recipient(t)

	t.Run("never lands", func(t *testing.T) {
		svc, _, _ := st.Via(t, proxy.URL, nil, service.Config{PayWait: 2 * time.Minute})
		proxy.Set(testenv.Blackhole, "sendTransaction")
		defer proxy.Heal()
		go func() {
			time.Sleep(time.Second)
			_, _ = st.Local.AdvanceSlots(ctx, 200)
		}()
		start := time.Now()
		res, err := svc.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop.String(), Amount: usdc})
		if err != nil || res.Status != "failed" {
			t.Fatalf("pay that never lands: %+v %v", res, err)
		}
		if el := time.Since(start); el > time.Minute {
			t.Fatalf("pay waited %s after its blockhash expired", el)
		}
		v, _ := st.Service.Status(ctx, "bot", k.SessionKeyID)
		if v.RemainingAmount != "50.00" {
			t.Fatalf("the reservation was not released: %+v", v)
		}
	})
	t.Run("hung RPC", func(t *testing.T) {
		svc, _, _ := st.Via(t, proxy.URL, nil, service.Config{PayWait: 3 * time.Second, RPCTimeout: time.Second})
		proxy.Set(testenv.DropReply, "sendTransaction", "getSignatureStatuses", "isBlockhashValid")
		defer proxy.Heal()
		start := time.Now()
		res, err := svc.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop.String(), Amount: usdc})
		if err != nil || res.Status != "pending" || !strings.Contains(res.Reason, "never with a new one") {
			t.Fatalf("pay on a hung RPC: %+v %v", res, err)
		}
		if el := time.Since(start); el > 30*time.Second {
			t.Fatalf("pay was held %s by a hung RPC", el)
		}
		proxy.Heal()
		again, err := svc.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop.String(), Amount: usdc, IdempotencyKey: res.IdempotencyKey})
		if err != nil || again.Status != "confirmed" {
			t.Fatalf("retry: %+v %v", again, err)
		}
		if got := st.TokenBalance(t, shop); got != usdc {
			t.Fatalf("recipient holds %d; want 1 USDC once", got)
		}
	})
}

// TestRecoverCountsOnlyItsOwn (issue 11, case 7): a payment its own request
// committed after recovery listed it is not counted by recovery.
func TestRecoverCountsOnlyItsOwn(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 50*usdc, "")
	res, err := st.Service.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: recipient(t).String(), Amount: usdc})
	if err != nil || res.Status != "confirmed" {
		t.Fatal(res, err)
	}
	p, err := st.Store.GetPayment(ctx, user.Address().String(), res.PaymentID)
	if err != nil {
		t.Fatal(err)
	}
	stale := *p
	stale.Status = policy.PaymentReserved // as recovery listed it, before the request committed
	c, r, err := st.Service.RecoverPayments(ctx, []*policy.Payment{&stale})
	if err != nil || c != 0 || r != 0 {
		t.Fatalf("recovery counted committed %d released %d (%v); want 0 0", c, r, err)
	}
}

// TestSweptKeyShowsNothingRemaining (issue 16): a revoked or expired key
// whose funds were swept back shows remaining_amount 0.
func TestSweptKeyShowsNothingRemaining(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	revoked := st.Fund(t, "bot", user, 20*usdc, "")
	if _, err := st.Service.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: revoked.SessionKeyID, Recipient: recipient(t).String(), Amount: usdc}); err != nil {
		t.Fatal(err)
	}
	rev, err := st.Service.Revoke(ctx, "bot", revoked.SessionKeyID, "")
	if err != nil || rev.SweptAmount != "19.00" || rev.RemainingAmount != "0.00" {
		t.Fatalf("revoked: %+v %v", rev, err)
	}
	c, err := st.Service.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: "bot", UserWallet: user.Address().String(), MaxAmount: 5 * usdc, ExpiryHours: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Service.SubmitApproval(ctx, c.ApprovalToken, service.Submission{SignedTransaction: user.SignTransaction(t, c.ApprovalTransaction)}); err != nil {
		t.Fatal(err)
	}
	later := service.New(st.Store.WithClockSkew(5*time.Minute), st.Chain, st.Sealer, service.Config{}, nil)
	if _, err := later.SweepExpired(ctx, 10); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{revoked.SessionKeyID, c.SessionKeyID} {
		v, err := later.Status(ctx, "bot", id)
		if err != nil || v.RemainingAmount != "0.00" {
			t.Fatalf("%s after its sweep: %+v %v", id, v, err)
		}
	}
}

// TestRevokeNeverFunded (issue 16): revoking a key that was never funded
// reports no sweep error, even while the RPC refuses every call (there is
// nothing to return; the reconciler still watches its address).
func TestRevokeNeverFunded(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 0)
	c, err := st.Service.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: "bot", UserWallet: user.Address().String(), MaxAmount: 5 * usdc})
	if err != nil {
		t.Fatal(err)
	}
	proxy := st.RPCProxy(t)
	svc, store, _ := st.Via(t, proxy.URL, nil, service.Config{})
	proxy.Set(testenv.Refuse)
	rev, err := svc.Revoke(ctx, "bot", c.SessionKeyID, "")
	if err != nil || rev.SweepError != "" || rev.Status != "revoked" {
		t.Fatalf("revoke of a never-funded key: %+v %v", rev, err)
	}
	if q, _ := store.SweepQueued(ctx); q[c.SessionKeyID].IsZero() {
		t.Fatal("the revoked key's address is not watched")
	}
	proxy.Heal()
	rev, err = st.Service.Revoke(ctx, "bot", c.SessionKeyID, "")
	if err != nil || rev.SweepError != "" || rev.Status != "revoked" {
		t.Fatalf("revoke of a never-funded key: %+v %v", rev, err)
	}
}

// TestSealedSecretDeletedAfterGrace (issue 13 item 6): once the reconciler
// confirmed a revoked key's zero balance and the grace period passed, its
// sealed secret is deleted; not before.
func TestSealedSecretDeletedAfterGrace(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 10*usdc, "")
	if _, err := st.Service.Revoke(ctx, "bot", k.SessionKeyID, ""); err != nil {
		t.Fatal(err)
	}
	agree(t, st.Service)
	if _, err := st.Store.SealedSecret(ctx, k.SessionKeyID); err != nil {
		t.Fatalf("the secret is gone before the grace period: %v", err)
	}
	later := service.New(st.Store.WithClockSkew(31*24*time.Hour), st.Chain, st.Sealer, service.Config{}, nil)
	agree(t, later)
	if s, err := st.Store.SealedSecret(ctx, k.SessionKeyID); err == nil && s != "" {
		t.Fatal("the sealed secret is still there after the grace period")
	}
}

type contextT = context.Context

// roundTrips counts the commands sent to Redis (one per pipeline or script call).
type roundTrips struct {
	mu sync.Mutex
	n  int
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx2 contextT, cmd redis.Cmder) error {
		r.mu.Lock()
		r.n++
		r.mu.Unlock()
		return next(ctx2, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx2 contextT, cmds []redis.Cmder) error {
		r.mu.Lock()
		r.n++
		r.mu.Unlock()
		return next(ctx2, cmds)
	}
}
func (r *roundTrips) take() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.n
	r.n = 0
	return n
}

// TestDecideFirst (issue 14, part 2): a refusal and an idempotent replay
// cost one Redis round trip and no RPC call; a confirmed payment three round
// trips and one sendTransaction, no blockhash call of its own; a crash
// between reserve and attach releases the reservation.
func TestDecideFirst(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 20*usdc, "")
	proxy := st.RPCProxy(t)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	t.Cleanup(func() { _ = rdb.Close() })
	rt := &roundTrips{}
	rdb.AddHook(rt)
	svc, store, _ := st.Via(t, proxy.URL, rdb, service.Config{})
	shop := recipient(t).String()
	pay := func(amount policy.Amount, idem string) (*service.PayResult, error) {
		return svc.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop, Amount: amount, IdempotencyKey: idem})
	}
	// Warm up: the key's owner lookup is cached once, the blockhash fetched once.
	if res, err := pay(usdc, "warm"); err != nil || res.Status != "confirmed" {
		t.Fatal(res, err)
	}
	rt.take()
	proxy.ResetCounts()
	res, err := pay(usdc, "one")
	if err != nil || res.Status != "confirmed" || res.RemainingAmount != "18.00" {
		t.Fatalf("payment: %+v %v", res, err)
	}
	if n := rt.take(); n != 3 {
		t.Errorf("a confirmed payment took %d Redis round trips; want 3", n)
	}
	if n := proxy.Count("sendTransaction"); n != 1 {
		t.Errorf("a confirmed payment sent %d transactions; want 1", n)
	}
	if n := proxy.Count("getLatestBlockhash"); n != 0 {
		t.Errorf("a confirmed payment fetched %d blockhashes; want 0 (the shared cache)", n)
	}
	proxy.ResetCounts()
	if _, err := pay(100*usdc, "too-much"); !errors.Is(err, service.ErrRefused) {
		t.Fatalf("refusal: %v", err)
	}
	if n, c := rt.take(), proxy.Count(""); n != 1 || c != 0 {
		t.Errorf("a refusal took %d round trips and %d RPC calls; want 1 and 0", n, c)
	}
	if res, err := pay(usdc, "one"); err != nil || !res.Duplicate || res.Status != "confirmed" {
		t.Fatalf("replay: %+v %v", res, err)
	}
	if n, c := rt.take(), proxy.Count(""); n != 1 || c != 0 {
		t.Errorf("a replay took %d round trips and %d RPC calls; want 1 and 0", n, c)
	}
	// A crash between reserve and attach: the reservation is released.
	d, err := store.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.SessionKeyID, AgentID: "bot",
		Amount: 5 * usdc, Recipient: shop})
	if err != nil || d.Outcome != policy.OutcomeReserved {
		t.Fatal(d, err)
	}
	later := service.New(st.Store.WithClockSkew(5*time.Minute), st.Chain, st.Sealer, service.Config{}, nil)
	if _, r, err := later.Recover(ctx); err != nil || r != 1 {
		t.Fatalf("recover after a crash before attach: released %d %v", r, err)
	}
	if v, _ := st.Service.Status(ctx, "bot", k.SessionKeyID); v.RemainingAmount != "18.00" {
		t.Fatalf("the reservation was not released: %+v", v)
	}
}

// TestReconcileUnavailable: with the RPC refusing, the reconciler's report
// is an unavailable error naming the dependency, never its address.
func TestReconcileUnavailable(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	st.Fund(t, "bot", user, 10*usdc, "")
	proxy := st.RPCProxy(t)
	svc, _, _ := st.Via(t, proxy.URL, nil, service.Config{RPCTimeout: time.Second})
	proxy.Set(testenv.Refuse)
	_, err := svc.Reconcile(ctx)
	if policy.CodeOf(err) != policy.CodeUnavailable || strings.Contains(err.Error(), "127.0.0.1") || strings.Contains(err.Error(), "http") {
		t.Fatalf("reconcile with the RPC refusing: %v", err)
	}
}

// TestRecoveryBatchesLookups (issue 18): recovery asks the chain for the
// statuses of every reserved payment in one getSignatureStatuses call, not
// one call a payment, and settles each from its answer.
func TestRecoveryBatchesLookups(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 50*usdc, "")
	var stale []*policy.Payment
	shop := recipient(t).String() // one shop: the key pays the rent of one token account only
	for range 5 {
		res, err := st.Service.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop, Amount: usdc})
		if err != nil || res.Status != "confirmed" {
			t.Fatal(res, err)
		}
		p, err := st.Store.GetPayment(ctx, user.Address().String(), res.PaymentID)
		if err != nil {
			t.Fatal(err)
		}
		cp := *p
		cp.Status = policy.PaymentReserved // as a recovery listing taken before the commits saw them
		stale = append(stale, &cp)
	}
	proxy := st.RPCProxy(t)
	svc, _, _ := st.Via(t, proxy.URL, nil, service.Config{})
	proxy.ResetCounts()
	c, r, err := svc.RecoverPayments(ctx, stale)
	if err != nil || c != 0 || r != 0 {
		t.Fatalf("recovery committed %d released %d (%v); want 0 0 (its own requests committed them)", c, r, err)
	}
	if n := proxy.Count("getSignatureStatuses"); n != 1 {
		t.Fatalf("%d getSignatureStatuses calls for 5 payments; want 1", n)
	}
}
