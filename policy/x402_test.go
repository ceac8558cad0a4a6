package policy_test

import (
	"testing"
	"time"

	"github.com/stipend/stipend/policy"
)

// TestX402Record: an x402 payment's record is kept beside its payment, whole,
// and the payment an idempotency key led to is found as decide.lua indexed it,
// on every backend.
func TestX402Record(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k := f.key(100*usdc, time.Hour)
		rec := &policy.X402Record{PaymentID: policy.NewPaymentID(k.ID, "", "buy-1"), URL: "https://x/y", Method: "POST", Request: "fp",
			Network: "solana:net", PayTo: "seller", Amount: 10_000, PayURL: "https://x/y2", RequestBody: "{\"a\":1}",
			RequestType: "application/json", FeePayer: "fac", Memo: "m", Accepted: `{"scheme":"exact"}`, Resource: `{"url":"u"}`,
			Extensions: `{}`, Transaction: "AQID", KeyAddress: k.Address, KeySignature: "ks", Settlement: "tx",
			HTTPStatus: 200, ContentType: "text/plain", Body: "hello\x00world", Truncated: true}
		if err := s.PutX402(ctx, f.wallet, rec); err != nil {
			t.Fatal(err)
		}
		got, err := s.X402(ctx, f.wallet, rec.PaymentID)
		if err != nil || got == nil || *got != *rec {
			t.Fatalf("record: %+v %v; want %+v", got, err, rec)
		}
		if none, err := s.X402(ctx, f.wallet, "pay_none"); err != nil || none != nil {
			t.Fatalf("a payment without a record: %+v %v", none, err)
		}
		if p, err := s.PaymentByIdempotencyKey(ctx, k.ID, "buy-1"); err != nil || p != nil {
			t.Fatalf("unused key: %+v %v", p, err)
		}
		d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent,
			Amount: 10_000, Recipient: "seller", PaymentID: rec.PaymentID, IdempotencyKey: "buy-1", Signature: "ks"})
		if err != nil || d.Outcome != policy.OutcomeReserved {
			t.Fatalf("reserve: %+v %v", d, err)
		}
		p, err := s.PaymentByIdempotencyKey(ctx, k.ID, "buy-1")
		if err != nil || p == nil || p.ID != rec.PaymentID || p.Status != policy.PaymentReserved {
			t.Fatalf("by idempotency key: %+v %v", p, err)
		}
		if err := s.DeleteX402(ctx, f.wallet, rec.PaymentID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.X402(ctx, f.wallet, rec.PaymentID); got != nil {
			t.Fatal("deleted record still there")
		}
	})
}
