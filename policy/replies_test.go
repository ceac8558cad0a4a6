package policy_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stipend/stipend/policy"
)

// TestDuplicateFlags: a key script that finds its call already made (the
// same funding signature, the same top-up, a second revocation, the same
// link) changes nothing and says so in Duplicate; the first call does not.
func TestDuplicateFlags(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		pending := f.pending(10*usdc, time.Hour)
		active := f.key(10*usdc, time.Hour)
		sess := f.session(policy.Limits{PerDay: 5 * usdc}, 0)
		revoked := f.key(10*usdc, time.Hour)
		cases := []struct {
			name string
			call func() (*policy.SessionKey, error)
			max  policy.Amount // the key's max_amount after each call
		}{
			{"activate", func() (*policy.SessionKey, error) { return s.Activate(ctx, pending.ID, "fund-1", 10*usdc) }, 10 * usdc},
			{"top_up", func() (*policy.SessionKey, error) { return s.TopUp(ctx, active.ID, 3*usdc, "top-1") }, 13 * usdc},
			{"link", func() (*policy.SessionKey, error) { return s.Link(ctx, f.agent, active.ID, sess.ID) }, 13 * usdc},
			{"unlink", func() (*policy.SessionKey, error) { return s.UnlinkBy(ctx, policy.ByOwner, active.ID) }, 13 * usdc},
			{"revoke", func() (*policy.SessionKey, error) { return s.Revoke(ctx, f.agent, revoked.ID, "done") }, 10 * usdc},
		}
		for _, c := range cases {
			first, err := c.call()
			if err != nil || first.Duplicate || first.MaxAmount != c.max {
				t.Fatalf("%s: first call: %+v %v", c.name, first, err)
			}
			again, err := c.call()
			if err != nil || !again.Duplicate || again.MaxAmount != c.max {
				t.Fatalf("%s: second call: %+v %v; want duplicate, max %d", c.name, again, err, c.max)
			}
			if again.ID != first.ID || again.Status != first.Status || again.Remaining != first.Remaining ||
				again.LinkedSessionID != first.LinkedSessionID {
				t.Fatalf("%s: the second call changed the key: %+v, then %+v", c.name, first, again)
			}
		}
		// A check never reports a duplicate, nor does a read.
		k, err := s.CheckTopUp(ctx, active.ID, usdc)
		if err != nil || k.Duplicate {
			t.Fatalf("check top-up: %+v %v", k, err)
		}
		if k, _, err = s.GetKey(ctx, f.agent, active.ID); err != nil || k.Duplicate {
			t.Fatalf("get: %+v %v", k, err)
		}
		// Another signature is another top-up.
		if k, err = s.TopUp(ctx, active.ID, 2*usdc, "top-2"); err != nil || k.Duplicate || k.MaxAmount != 15*usdc {
			t.Fatalf("second top-up: %+v %v", k, err)
		}
		want := []string{"session_key.created", "session_key.created", "session_key.activated", "session.created",
			"session_key.created", "session_key.activated", "session_key.activated", "session_key.topped_up",
			"session_key.linked", "session_key.unlinked", "session_key.revoked", "session_key.topped_up"}
		if got := f.events(); !slices.Equal(got, want) {
			t.Fatalf("events = %v; want %v", got, want)
		}
	})
}

// TestRepliesCarryEveryField: what the scripts answer reaches the public
// types whole (ids, amounts, times, recipients, usage).
func TestRepliesCarryEveryField(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		now, err := s.Now(ctx)
		if err != nil {
			t.Fatal(err)
		}
		exp := now.Add(2 * time.Hour).Truncate(time.Millisecond)
		addr, pkp := wallet(), wallet()
		k, err := s.CreateKey(ctx, policy.NewKey{AgentID: f.agent, UserWallet: f.wallet, Token: "USDC", Mint: "mint-1",
			Decimals: 6, Address: addr, PKPPublicKey: pkp, Attestation: "att", SealedSecret: "sealed",
			MaxAmount: 40 * usdc, ExpiresAt: exp, DeviceHash: "ab"})
		if err != nil {
			t.Fatal(err)
		}
		if k.AgentID != f.agent || k.UserWallet != f.wallet || k.Token != "USDC" || k.Mint != "mint-1" || k.Decimals != 6 ||
			k.Address != addr || k.PKPPublicKey != pkp || k.Attestation != "att" || k.MaxAmount != 40*usdc ||
			k.Remaining != 40*usdc || !k.ExpiresAt.Equal(exp) || k.CreatedAt.IsZero() || !k.ActivatedAt.IsZero() ||
			!k.DeviceBound || k.Status != policy.StatusPendingApproval {
			t.Fatalf("created key: %+v", k)
		}
		r1, r2 := wallet(), wallet()
		sess, err := s.CreateSession(ctx, policy.NewSession{AgentID: f.agent, UserWallet: f.wallet, Mint: "mint-1",
			Limits:               policy.Limits{PerTransaction: 10 * usdc, PerDay: 20 * usdc, PerWeek: 30 * usdc, PerMonth: 35 * usdc},
			RequireApprovalAbove: 9 * usdc, AllowedRecipients: []string{r1, r2}, ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		if sess.AgentID != f.agent || sess.Mint != "mint-1" || sess.Status != "active" || sess.RequireApprovalAbove != 9*usdc ||
			sess.Limits != (policy.Limits{PerTransaction: 10 * usdc, PerDay: 20 * usdc, PerWeek: 30 * usdc, PerMonth: 35 * usdc}) ||
			!sess.ExpiresAt.Equal(exp) {
			t.Fatalf("created session: %+v", sess)
		}
		if _, err := s.Activate(ctx, k.ID, "fund", 40*usdc); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Link(ctx, f.agent, k.ID, sess.ID); err != nil {
			t.Fatal(err)
		}
		d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent,
			Amount: 4 * usdc, Recipient: r1, Signature: "paysig", DeviceHash: "ab"})
		if err != nil || d.Outcome != policy.OutcomeReserved {
			t.Fatalf("reserve: %+v %v", d, err)
		}
		if _, err := s.Commit(ctx, f.wallet, d.Payment.ID); err != nil {
			t.Fatal(err)
		}
		k, got, err := s.GetKey(ctx, f.agent, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if k.Spent != 4*usdc || k.Remaining != 36*usdc || k.TransactionCount != 1 || k.LinkedSessionID != sess.ID ||
			k.DistinctRecipients != 1 || k.PaymentsLastHour != 1 || k.ActivatedAt.IsZero() || k.Status != policy.StatusActive {
			t.Fatalf("key after a payment: %+v", k)
		}
		if got == nil || got.ID != sess.ID || got.UsedDay != 4*usdc || got.UsedWeek != 4*usdc || got.UsedMonth != 4*usdc ||
			got.ResetsDay.IsZero() || !got.ResetsDay.After(now) || len(got.AllowedRecipients) != 2 ||
			!slices.Contains(got.AllowedRecipients, r1) || !slices.Contains(got.AllowedRecipients, r2) {
			t.Fatalf("linked session: %+v", got)
		}
		pk, sealed, err := s.KeyForPayment(ctx, f.agent, k.ID, r1)
		if err != nil || sealed != "sealed" || !pk.RecipientPaid {
			t.Fatalf("key for payment: %+v %q %v", pk, sealed, err)
		}
		if pk, _, err = s.KeyForPayment(ctx, f.agent, k.ID, r2); err != nil || pk.RecipientPaid {
			t.Fatalf("key for payment, new recipient: %+v %v", pk, err)
		}
	})
}

// TestApprovalReplies: an approval reads back as it was created, through
// each action.
func TestApprovalReplies(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		now, err := s.Now(ctx)
		if err != nil {
			t.Fatal(err)
		}
		exp := now.Add(time.Hour).Truncate(time.Millisecond)
		a, err := s.CreateApproval(ctx, policy.NewApproval{Kind: policy.ApprovalTopUp, UserWallet: f.wallet, AgentID: f.agent,
			SessionKeyID: "sk_x", SessionID: "sess_y", PaymentID: "pay_z", Amount: 7 * usdc, Recipient: "r", Payload: "bWVzc2FnZQ==",
			Details: map[string]string{"description": "more"}, ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetApproval(ctx, a.Token)
		if err != nil {
			t.Fatal(err)
		}
		for name, ap := range map[string]*policy.Approval{"create": a, "get": got} {
			if ap.Kind != policy.ApprovalTopUp || ap.Status != "pending" || ap.UserWallet != f.wallet || ap.AgentID != f.agent ||
				ap.SessionKeyID != "sk_x" || ap.SessionID != "sess_y" || ap.PaymentID != "pay_z" || ap.Amount != 7*usdc ||
				ap.Recipient != "r" || ap.Payload != "bWVzc2FnZQ==" || string(ap.Details) != `{"description":"more"}` ||
				!ap.ExpiresAt.Equal(exp) || ap.CreatedAt.IsZero() || ap.Token != a.Token || ap.Result != nil {
				t.Fatalf("%s: %+v", name, ap)
			}
		}
		c, err := s.ClaimApproval(ctx, a.Token, "txsig", "bh")
		if err != nil || c.Status != "processing" || c.TxSignature != "txsig" || c.TxBlockhash != "bh" || c.ClaimedAt.IsZero() {
			t.Fatalf("claim: %+v %v", c, err)
		}
		done, err := s.ApprovalAction(ctx, a.Token, "finish", `{"status":"active"}`)
		if err != nil || done.Status != "used" || string(done.Result) != `{"status":"active"}` {
			t.Fatalf("finish: %+v %v", done, err)
		}
		if _, err := s.GetApproval(ctx, "ap_unknown"); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
	})
}
