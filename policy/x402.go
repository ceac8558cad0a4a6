package policy

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The codes of x402 offers that cannot be paid (nothing is signed).
const (
	// CodePriceAboveMaximum: every payable offer costs more than the agent's max_amount.
	CodePriceAboveMaximum Code = "price_above_maximum"
	// CodeOfferNotAccepted: no offer is on this server's network, in the key's token, in the exact scheme.
	CodeOfferNotAccepted Code = "offer_not_accepted"
)

// X402Record is what the service keeps of a paid web request beside its
// payment: the signed transaction (to find it on chain after a crash, since
// its id is the facilitator's signature), and the answer (to give it again
// for the same idempotency key). The payment itself, its limits and status
// are the ledger's, as for every payment.
type X402Record struct {
	PaymentID string
	URL       string
	Method    string
	Request   string // fingerprint of method, URL and body
	Network   string
	PayTo     string
	Amount    Amount
	// What the paid retry needs, kept for one that waits for the owner's approval.
	PayURL       string // the URL that asked for payment (after redirects)
	RequestBody  string
	RequestType  string // content type of RequestBody
	FeePayer     string
	Memo         string
	Accepted     string // the offer as the server sent it (JSON)
	Resource     string // the 402's resource (JSON)
	Extensions   string // the 402's extensions (JSON)
	Transaction  string // base64 wire transaction, signed by the key
	KeyAddress   string
	KeySignature string // the key's signature: what identifies the payment until it lands
	Settlement   string // the transaction id the server reported (PAYMENT-RESPONSE)
	HTTPStatus   int
	ContentType  string
	Body         string
	Truncated    bool
}

func (s *Store) x402Key(userWallet, paymentID string) string {
	return s.prefixOf(userWallet) + "x402:" + paymentID
}

// PutX402 writes an x402 record (all its fields), kept as long as idempotency keys are.
func (s *Store) PutX402(ctx context.Context, userWallet string, r *X402Record) error {
	if err := validWallet(userWallet); err != nil {
		return err
	}
	key := s.x402Key(userWallet, r.PaymentID)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "payment_id", r.PaymentID, "url", r.URL, "method", r.Method, "request", r.Request,
			"network", r.Network, "pay_to", r.PayTo, "amount", units(r.Amount), "transaction", r.Transaction,
			"key_address", r.KeyAddress, "key_signature", r.KeySignature, "settlement", r.Settlement,
			"http_status", strconv.Itoa(r.HTTPStatus), "content_type", r.ContentType, "body", r.Body,
			"truncated", boolArg(r.Truncated), "pay_url", r.PayURL, "request_body", r.RequestBody,
			"request_type", r.RequestType, "fee_payer", r.FeePayer, "memo", r.Memo, "accepted", r.Accepted,
			"resource", r.Resource, "extensions", r.Extensions)
		p.PExpire(ctx, key, s.idemTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("policy: x402 record: %w", err)
	}
	return nil
}

// X402 returns the x402 record of a payment, or nil if the payment is not an x402 one.
func (s *Store) X402(ctx context.Context, userWallet, paymentID string) (*X402Record, error) {
	if validWallet(userWallet) != nil {
		return nil, nil
	}
	m, err := s.rdb.HGetAll(ctx, s.x402Key(userWallet, paymentID)).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: x402 record: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	amt, err := strconv.ParseInt(m["amount"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("policy: x402 record %s: amount: %w", paymentID, err)
	}
	st := 0
	if v := m["http_status"]; v != "" { // none until the paid request answered
		if st, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("policy: x402 record %s: http_status: %w", paymentID, err)
		}
	}
	return &X402Record{PaymentID: m["payment_id"], URL: m["url"], Method: m["method"], Request: m["request"],
		Network: m["network"], PayTo: m["pay_to"], Amount: Amount(amt), Transaction: m["transaction"],
		KeyAddress: m["key_address"], KeySignature: m["key_signature"], Settlement: m["settlement"],
		HTTPStatus: st, ContentType: m["content_type"], Body: m["body"], Truncated: m["truncated"] == "1",
		PayURL: m["pay_url"], RequestBody: m["request_body"], RequestType: m["request_type"], FeePayer: m["fee_payer"],
		Memo: m["memo"], Accepted: m["accepted"], Resource: m["resource"], Extensions: m["extensions"]}, nil
}

// DeleteX402 removes the record of a payment that was never reserved.
func (s *Store) DeleteX402(ctx context.Context, userWallet, paymentID string) error {
	if err := s.rdb.Del(ctx, s.x402Key(userWallet, paymentID)).Err(); err != nil {
		return fmt.Errorf("policy: x402 record: %w", err)
	}
	return nil
}

// PaymentByIdempotencyKey returns the payment a session key's idempotency key
// led to, or nil if the key was not used (or is forgotten).
func (s *Store) PaymentByIdempotencyKey(ctx context.Context, keyID, idem string) (*Payment, error) {
	if err := validID(keyID, "sk_", "session_key_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, keyID, "session_key_id")
	if err != nil {
		return nil, err
	}
	p, err := s.payment(ctx, w, idemSlot("sk", keyID, idem), "")
	if err != nil || p != nil && p.IdempotencyKey == idem && p.SessionKeyID == keyID {
		return p, err
	}
	// An idempotency key used before payments were found by it.
	pid, err := s.rdb.HGet(ctx, s.prefixOf(w)+"idem:sk:"+keyID+":"+idem, "payment_id").Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("policy: idempotency key: %w", err)
	}
	return s.GetPayment(ctx, w, pid)
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
