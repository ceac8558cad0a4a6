package wallet

import (
	"net/http"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
)

func TestRetryAfter(t *testing.T) {
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		header   string
		min, max time.Duration
	}{
		{"", 0, 0},
		{"0", 0, 0},
		{"3", 3 * time.Second, 3 * time.Second},
		{"-1", 0, 0},
		{"soon", 0, 0},
		{"1.5", 0, 0},
		{future, 30 * time.Second, 30 * time.Second}, // capped
		{"20", 20 * time.Second, 20 * time.Second},
		{"9227000000", 30 * time.Second, 30 * time.Second}, // overflowed to a negative wait before the cap
		{"9223372036854775807", 30 * time.Second, 30 * time.Second},
		{past, 0, 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header); got < tt.min || got > tt.max {
			t.Errorf("Retry-After %q = %s, want %s to %s", tt.header, got, tt.min, tt.max)
		}
	}
}

// TestSetAside: an endpoint is set aside for its Retry-After (capped), else
// for a backoff that grows with consecutive failures; pick prefers the
// first endpoint not set aside and otherwise says how long to wait.
func TestSetAside(t *testing.T) {
	p, err := newProviders([]string{"http://a:1", "http://b:2"}, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if i, wait := p.pick(0); i != 0 || wait != 0 {
		t.Fatalf("pick = %d, %s; want the preferred endpoint now", i, wait)
	}
	if d := p.setAside(0, 5*time.Second); d != 5*time.Second {
		t.Fatalf("aside %s for Retry-After 5s", d)
	}
	if i, wait := p.pick(0); i != 1 || wait != 0 {
		t.Fatalf("pick = %d, %s; want the second endpoint", i, wait)
	}
	for n := range 4 {
		d := p.setAside(1, 0)
		lo := baseBackoff << n
		if d < lo || d > lo+lo/2 {
			t.Fatalf("backoff %d = %s, want %s to %s", n, d, lo, lo+lo/2)
		}
	}
	if d := p.setAside(1, time.Hour); d != maxRetryAfter {
		t.Fatalf("Retry-After of an hour kept it aside %s, want the cap %s", d, maxRetryAfter)
	}
	if i, wait := p.pick(0); i != 0 || wait <= 0 || wait > 5*time.Second {
		t.Fatalf("all aside: pick = %d, %s; want the endpoint back first (0) and the wait", i, wait)
	}
	p.healthy(0, time.Now())
	if i, wait := p.pick(1); i != 0 || wait != 0 {
		t.Fatalf("after healing: pick = %d, %s", i, wait)
	}
	// A success of a call sent before a 429 set the endpoint aside does not lift the rest.
	p.setAside(0, time.Second)
	p.healthy(0, time.Now().Add(-time.Second))
	if i, wait := p.pick(1); i != 0 || wait <= 0 {
		t.Fatalf("a call sent before the 429 lifted its rest: pick = %d, %s", i, wait)
	}
	if _, err := newProviders([]string{"ftp://x"}, time.Second, nil); err == nil {
		t.Fatal("an ftp endpoint was accepted")
	}
	if _, err := newProviders([]string{"https://rpc.example.com/?api-key=SECRET", "nope"}, time.Second, nil); err == nil {
		t.Fatal("a bad fallback was accepted")
	}
}

// FuzzRetryAfter: any header parses to a delay that is never negative.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if d := retryAfter(h); d < 0 || d > maxRetryAfter {
			t.Fatalf("Retry-After %q = %s", h, d)
		}
	})
}

// FuzzMessageBudget: any bytes either decode to a budget or fail with
// ErrMalformedTx / ErrNoBudget; a decoded budget's fee never wraps.
func FuzzMessageBudget(f *testing.F) {
	payer := solana.PublicKey{1}
	tx, _ := solana.NewTransaction([]solana.Instruction{
		computebudget.NewSetComputeUnitLimitInstruction(40_000).Build(),
		computebudget.NewSetComputeUnitPriceInstruction(1_000).Build(),
	}, solana.Hash{2}, solana.TransactionPayer(payer))
	msg, _ := tx.Message.MarshalBinary()
	f.Add(msg)
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := MessageBudget(b)
		if err != nil {
			return
		}
		if got.Fee() < uint64(got.Signatures)*LamportsPerSignature {
			t.Fatalf("fee %d below the signatures' %+v", got.Fee(), got)
		}
	})
}
