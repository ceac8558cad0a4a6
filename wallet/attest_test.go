package wallet

import (
	"errors"
	"strings"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
)

func testAttestation(t testing.TB, kp *Keypair) Attestation {
	t.Helper()
	user, err := NewKeypair()
	if err != nil {
		t.Fatal(err)
	}
	return Attestation{
		AgentID:    "shopping-assistant",
		UserWallet: user.PublicKey(),
		Token:      "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
		MaxAmount:  100_000_000,
		ExpiresAt:  time.Unix(1_900_000_000, 0),
		Address:    kp.PublicKey(),
	}
}

func TestAttestationCanonicalBytes(t *testing.T) {
	kp := keypairFromSeed(make([]byte, 32))
	a := Attestation{
		AgentID:    "agent-1",
		UserWallet: solana.MustPublicKeyFromBase58("11111111111111111111111111111111"),
		Token:      "mint",
		MaxAmount:  5,
		ExpiresAt:  time.Unix(42, 999), // sub-second part is dropped
		Address:    kp.PublicKey(),
	}
	got, err := a.CanonicalBytes()
	if err != nil {
		t.Fatal(err)
	}
	want := "stipend-attestation/v1\nagent=agent-1\nuser_wallet=11111111111111111111111111111111\ntoken=mint\nmax_amount=5\nexpires_at=42\naddress=" + kp.PublicKey().String() + "\n"
	if string(got) != want {
		t.Fatalf("canonical bytes:\n%q\nwant\n%q", got, want)
	}
}

func TestAttestVerify(t *testing.T) {
	kp, _ := NewKeypair()
	other, _ := NewKeypair()
	a := testAttestation(t, kp)
	sig, err := kp.Attest(a)
	if err != nil {
		t.Fatal(err)
	}
	otherSig, err := other.Attest(Attestation{AgentID: a.AgentID, UserWallet: a.UserWallet, Token: a.Token, MaxAmount: a.MaxAmount, ExpiresAt: a.ExpiresAt, Address: other.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	change := func(f func(*Attestation)) Attestation { c := a; f(&c); return c }

	tests := []struct {
		name     string
		pub      solana.PublicKey
		a        Attestation
		sig      string
		wantErrs []error
	}{
		{"valid", kp.PublicKey(), a, sig, nil},
		{"same second, other nanoseconds", kp.PublicKey(), change(func(c *Attestation) { c.ExpiresAt = c.ExpiresAt.Add(500 * time.Millisecond) }), sig, nil},
		{"other agent", kp.PublicKey(), change(func(c *Attestation) { c.AgentID = "thief" }), sig, []error{ErrAttestation, ErrBadSignature}},
		{"other user", kp.PublicKey(), change(func(c *Attestation) { c.UserWallet = other.PublicKey() }), sig, []error{ErrAttestation, ErrBadSignature}},
		{"other token", kp.PublicKey(), change(func(c *Attestation) { c.Token = "So11111111111111111111111111111111111111112" }), sig, []error{ErrAttestation, ErrBadSignature}},
		{"higher cap", kp.PublicKey(), change(func(c *Attestation) { c.MaxAmount++ }), sig, []error{ErrAttestation, ErrBadSignature}},
		{"later expiry", kp.PublicKey(), change(func(c *Attestation) { c.ExpiresAt = c.ExpiresAt.Add(time.Second) }), sig, []error{ErrAttestation, ErrBadSignature}},
		{"other address", kp.PublicKey(), change(func(c *Attestation) { c.Address = other.PublicKey() }), sig, []error{ErrAttestation, ErrBadSignature}},
		{"signed by another key", kp.PublicKey(), a, otherSig, []error{ErrAttestation, ErrBadSignature}},
		{"verified against another key", other.PublicKey(), a, sig, []error{ErrAttestation, ErrBadSignature}},
		{"garbage signature", kp.PublicKey(), a, "0OIl", []error{ErrAttestation, ErrBadSignature}},
		{"empty signature", kp.PublicKey(), a, "", []error{ErrAttestation, ErrBadSignature}},
		{"huge signature", kp.PublicKey(), a, strings.Repeat("z", 10000), []error{ErrAttestation, ErrBadSignature}},
		{"newline in agent id", kp.PublicKey(), change(func(c *Attestation) { c.AgentID = "a\nmax_amount=9" }), sig, []error{ErrAttestation}},
		{"empty agent id", kp.PublicKey(), change(func(c *Attestation) { c.AgentID = "" }), sig, []error{ErrAttestation}},
		{"invalid utf-8 token", kp.PublicKey(), change(func(c *Attestation) { c.Token = "\xff" }), sig, []error{ErrAttestation}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyAttestation(tt.pub, tt.a, tt.sig)
			if len(tt.wantErrs) == 0 && err != nil {
				t.Fatalf("VerifyAttestation: %v", err)
			}
			if len(tt.wantErrs) > 0 && err == nil {
				t.Fatal("VerifyAttestation accepted it")
			}
			for _, want := range tt.wantErrs {
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
		})
	}

	if _, err := kp.Attest(change(func(c *Attestation) { c.Address = other.PublicKey() })); !errors.Is(err, ErrAttestation) {
		t.Fatalf("Attest for another address: err = %v", err)
	}
}

func FuzzVerifyAttestation(f *testing.F) {
	kp := keypairFromSeed(make([]byte, 32))
	a := testAttestation(f, kp)
	sig, err := kp.Attest(a)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(a.AgentID, a.Token, sig)
	f.Add("x\n", "", "")
	f.Add("agent", "mint", "1111111111111111111111111111111111111111111111111111111111111111")
	f.Fuzz(func(t *testing.T, agent, tok, s string) {
		b := a
		b.AgentID, b.Token = agent, tok
		err := VerifyAttestation(kp.PublicKey(), b, s)
		if err == nil && (agent != a.AgentID || tok != a.Token || s != sig) {
			// Only the genuine signature of the genuine fields may pass
			// (base58 has no alternative spellings of the same bytes
			// except leading-zero forms, which this signature lacks).
			t.Fatalf("accepted agent %q token %q sig %q", agent, tok, s)
		}
		if err != nil && !errors.Is(err, ErrAttestation) {
			t.Fatalf("error %v does not wrap ErrAttestation", err)
		}
	})
}

// TestAttestationLinkedSession: a key linked to a session states it (v2, an
// eighth line); the v1 bytes of an unlinked key are unchanged, and neither
// signature verifies for the other.
func TestAttestationLinkedSession(t *testing.T) {
	kp, err := NewKeypair()
	if err != nil {
		t.Fatal(err)
	}
	a := testAttestation(t, kp)
	v1, err := a.CanonicalBytes()
	if err != nil || !strings.HasPrefix(string(v1), "stipend-attestation/v1\n") || strings.Contains(string(v1), "session=") {
		t.Fatalf("v1: %q %v", v1, err)
	}
	linked := a
	linked.SessionID = "sess_abc"
	v2, err := linked.CanonicalBytes()
	if err != nil || !strings.HasPrefix(string(v2), "stipend-attestation/v2\n") || !strings.HasSuffix(string(v2), "\nsession=sess_abc\n") {
		t.Fatalf("v2: %q %v", v2, err)
	}
	sig1, _ := kp.Attest(a)
	sig2, _ := kp.Attest(linked)
	if VerifyAttestation(kp.PublicKey(), linked, sig1) == nil || VerifyAttestation(kp.PublicKey(), a, sig2) == nil {
		t.Fatal("an attestation verified for other parameters")
	}
	if err := VerifyAttestation(kp.PublicKey(), linked, sig2); err != nil {
		t.Fatal(err)
	}
	forged := linked
	forged.SessionID = "sess_x\nmax_amount=1"
	if _, err := forged.CanonicalBytes(); err == nil {
		t.Fatal("a session id with a newline was accepted")
	}
}
