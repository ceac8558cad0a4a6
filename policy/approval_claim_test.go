package policy_test

import (
	"testing"
	"time"

	"github.com/stipend/stipend/policy"
)

// TestClaimedApprovalIsFoundAgain: a submission claims an approval link by
// its token (the store keeps only the token's hash); the reconciler finds the
// claimed approval again and releases it by what it found. Before the claim
// looked the token's hash up, every claim answered not_found; before the
// reconciler read the hashes it keeps as hashes, it dropped them unfinished.
func TestClaimedApprovalIsFoundAgain(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k := f.pending(10*usdc, time.Hour)
		a, err := s.CreateApproval(ctx, policy.NewApproval{Kind: policy.ApprovalFund, UserWallet: f.wallet, AgentID: f.agent,
			SessionKeyID: k.ID, Amount: 10 * usdc, Payload: "tx", ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.ClaimApproval(ctx, a.Token, "sig-1", "bh-1")
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		if c.Status != "processing" || c.TxSignature != "sig-1" || c.Token != a.Token {
			t.Fatalf("claimed: %+v", c)
		}
		var found *policy.Approval
		ps, err := s.ProcessingApprovals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Token == policy.TokenID(a.Token) {
				found = p
			}
		}
		if found == nil || found.TxSignature != "sig-1" {
			t.Fatalf("processing approvals hold no %s: %+v", policy.TokenID(a.Token), ps)
		}
		r, err := s.ApprovalAction(ctx, found.Token, "release", "")
		if err != nil || r.Status != "pending" {
			t.Fatalf("release by the id found: %+v %v", r, err)
		}
		if _, err := s.ClaimApproval(ctx, "ap_nosuchtoken", "sig", "bh"); policy.CodeOf(err) != policy.CodeNotFound {
			t.Fatalf("claim of an unknown token: %v", err)
		}
	})
}
