package service_test

import (
	"sync"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
)

// TestSweepersRace: three sweepers race over 1,000 due keys; each key expires
// exactly once, with exactly one session_key.expired event.
func TestSweepersRace(t *testing.T) {
	rdb := testenv.Redis(t)
	store := policy.New(rdb, policy.Options{Prefix: "stipendtest" + policy.NewID("")[:10]})
	past := store.WithClockSkew(-2 * time.Hour)
	now, _ := past.Now(ctx)
	wallet := recipient(t).String()
	const n = 1000
	for i := range n {
		if _, err := past.CreateKey(ctx, policy.NewKey{AgentID: "bot", UserWallet: wallet, Token: "USDC", Decimals: 6,
			Address: "addr", MaxAmount: usdc, ExpiresAt: now.Add(time.Hour + time.Duration(i)*time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	counts := make([]int, 3)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := service.New(store, nil, nil, service.Config{}, nil)
			for {
				c, err := svc.SweepExpired(ctx, 100)
				if err != nil {
					t.Error(err)
					return
				}
				counts[r] += c
				if due, _ := store.DueKeys(ctx, 1); len(due) == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if total := counts[0] + counts[1] + counts[2]; total != n {
		t.Fatalf("sweepers expired %d keys (%v); want %d", total, counts, n)
	}
	msgs, err := rdb.XRange(ctx, store.Events().Stream(wallet), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range msgs {
		if m.Values["event"] == "session_key.expired" {
			seen[m.Values["data"].(string)]++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct expired events; want %d", len(seen), n)
	}
	for d, c := range seen {
		if c != 1 {
			t.Fatalf("event %s emitted %d times", d, c)
		}
	}
}

// TestExpiredKeySweptBack: an active key that expires has its tokens swept
// back to the owner on the local chain.
func TestExpiredKeySweptBack(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	c, err := st.Service.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: "bot", UserWallet: user.Address().String(), MaxAmount: 40 * usdc, ExpiryHours: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Service.SubmitApproval(ctx, c.ApprovalToken, service.Submission{SignedTransaction: user.SignTransaction(t, c.ApprovalTransaction)}); err != nil {
		t.Fatal(err)
	}
	if got := st.TokenBalance(t, user.Address()); got != 60*usdc {
		t.Fatalf("user holds %d after funding", got)
	}
	later := service.New(st.Store.WithClockSkew(5*time.Minute), st.Chain, st.Sealer, service.Config{}, nil)
	n, err := later.SweepExpired(ctx, 10)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if got := st.TokenBalance(t, user.Address()); got != 100*usdc {
		t.Fatalf("user holds %d after the expired key was swept; want all 100 USDC back", got)
	}
	if got := st.TokenBalance(t, solana.MustPublicKeyFromBase58(c.SessionKeyAddress)); got != 0 {
		t.Fatalf("key still holds %d", got)
	}
	k, _ := later.Status(ctx, "bot", c.SessionKeyID)
	if k.Status != "expired" {
		t.Fatalf("status %s", k.Status)
	}
}

// TestRiskThreshold: a payment whose risk score is over the threshold waits
// for the owner's approval instead of paying on its own.
func TestRiskThreshold(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{RiskThreshold: 10})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 50*usdc, "")
	shop := recipient(t)
	p, err := st.Service.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop.String(), Amount: usdc})
	if err != nil || p.Status != "confirmed" {
		t.Fatalf("first payment: %+v %v", p, err)
	}
	// The same recipient again: no new signal.
	if p, err = st.Service.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop.String(), Amount: usdc}); err != nil || p.Status != "confirmed" {
		t.Fatalf("known recipient: %+v %v", p, err)
	}
	// A recipient never paid before (15 points) is over the threshold of 10.
	p, err = st.Service.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: recipient(t).String(), Amount: usdc})
	if err != nil || p.Status != "approval_required" || p.ApprovalURL == "" {
		t.Fatalf("risky payment: %+v %v", p, err)
	}
	v, _ := st.Service.Status(ctx, "bot", k.SessionKeyID)
	if v.Security.LastActivity == "" {
		t.Fatalf("security: %+v", v.Security)
	}
}
