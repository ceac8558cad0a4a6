package service_test

import (
	"testing"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
)

// TestFreshAttestation: the attestation states the key's parameters now; a
// top-up, a link and an unlink each bring a fresh one that verifies offline,
// and the old one no longer verifies against the new parameters.
func TestFreshAttestation(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	svc := st.Service
	user := st.NewUser(t, 500_000_000)
	c := st.Fund(t, "bot", user, 100_000_000, "")
	status := func() *service.KeyView {
		t.Helper()
		k, err := svc.Status(ctx, "bot", c.SessionKeyID)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k0 := status()
	if err := service.VerifyKeyAttestation(k0); err != nil {
		t.Fatalf("attestation at creation: %v", err)
	}
	top, err := svc.TopUpRequest(ctx, "bot", c.SessionKeyID, 50_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SubmitApproval(ctx, top.ApprovalToken, service.Submission{SignedTransaction: user.SignTransaction(t, top.ApprovalTransaction)}); err != nil {
		t.Fatal(err)
	}
	k1 := status()
	if k1.MaxAmount != "150.00" || k1.Attestation == k0.Attestation {
		t.Fatalf("after the top-up: max %s, attestation unchanged: %v", k1.MaxAmount, k1.Attestation == k0.Attestation)
	}
	if err := service.VerifyKeyAttestation(k1); err != nil {
		t.Fatalf("attestation after the top-up: %v", err)
	}
	stale := *k1
	stale.Attestation = k0.Attestation
	if err := service.VerifyKeyAttestation(&stale); policy.CodeOf(err) != service.CodeInvalidSignature {
		t.Fatalf("the old attestation against the new maximum: %v", err)
	}
	sess, err := svc.CreateSession(ctx, service.CreateSessionInput{AgentID: "bot", UserWallet: user.Address().String(),
		Limits: policy.Limits{PerDay: 10_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Link(ctx, "bot", c.SessionKeyID, sess.SessionID); err != nil {
		t.Fatal(err)
	}
	k2 := status()
	if k2.LinkedSessionID != sess.SessionID || k2.Attestation == k1.Attestation {
		t.Fatalf("after the link: %+v", k2)
	}
	if err := service.VerifyKeyAttestation(k2); err != nil {
		t.Fatalf("attestation after the link: %v", err)
	}
	if _, err := svc.ForceUnlink(ctx, c.SessionKeyID); err != nil {
		t.Fatal(err)
	}
	k3 := status()
	if err := service.VerifyKeyAttestation(k3); err != nil || k3.Attestation != k1.Attestation {
		t.Fatalf("after the unlink the key states what it stated before the link: %v", err)
	}
	// A view whose fields were altered does not verify.
	for name, alter := range map[string]func(v *service.KeyView){
		"agent":   func(v *service.KeyView) { v.AgentID = "other" },
		"max":     func(v *service.KeyView) { v.MaxAmount = "1000.00" },
		"expiry":  func(v *service.KeyView) { v.ExpiresAt = "2099-01-01T00:00:00Z" },
		"session": func(v *service.KeyView) { v.LinkedSessionID = "sess_forged" },
	} {
		v := *k3
		alter(&v)
		if err := service.VerifyKeyAttestation(&v); err == nil {
			t.Errorf("%s altered: verified", name)
		}
	}
}
