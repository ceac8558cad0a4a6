package policy

import (
	"context"
	"encoding/json"
	"fmt"
)

// Commit records that a reserved payment landed on chain. Committing twice changes nothing.
func (s *Store) Commit(ctx context.Context, userWallet, paymentID string) (*Payment, error) {
	return s.runPayment(ctx, "commit", userWallet, paymentID, s.idemTTL.Milliseconds())
}

// Release gives back what a payment held, once it is known never to land (or
// its approval was refused or lapsed).
func (s *Store) Release(ctx context.Context, userWallet, paymentID, reason string) (*Payment, error) {
	return s.runPayment(ctx, "release", userWallet, paymentID, reason, s.idemTTL.Milliseconds())
}

// runPayment runs a script that answers a payment record (text fields),
// decoded straight into a map of strings: commit and release are hot.
func (s *Store) runPayment(ctx context.Context, name, userWallet, paymentID string, args ...any) (*Payment, error) {
	if validWallet(userWallet) != nil {
		return nil, Errorf(CodeNotFound, "payment_id", "no payment %q", paymentID)
	}
	raw, err := s.run(ctx, name, userWallet, "pay:"+paymentID, append([]any{paymentID}, args...)...)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("policy: %s: bad reply: %w", name, err)
	}
	f := fields{}
	for k, v := range m {
		f[k] = v
	}
	return f.payment(), nil
}

// GetPayment returns a payment of a user_wallet.
func (s *Store) GetPayment(ctx context.Context, userWallet, paymentID string) (*Payment, error) {
	if validWallet(userWallet) != nil {
		return nil, Errorf(CodeNotFound, "payment_id", "no payment %q", paymentID)
	}
	m, err := s.rdb.HGetAll(ctx, s.Prefix(userWallet)+"pay:"+paymentID).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: get payment: %w", err)
	}
	if len(m) == 0 {
		return nil, Errorf(CodeNotFound, "payment_id", "no payment %q", paymentID)
	}
	f := fields{}
	for k, v := range m {
		f[k] = v
	}
	return f.payment(), nil
}

// InFlight returns the reserved payments of every user_wallet: after a crash
// between reserve and confirm, the service looks each signature up.
func (s *Store) InFlight(ctx context.Context) ([]*Payment, error) {
	wallets, err := s.rdb.SMembers(ctx, s.WalletsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: in flight: %w", err)
	}
	var out []*Payment
	for _, w := range wallets {
		ids, err := s.rdb.ZRange(ctx, s.Prefix(w)+"inflight", 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("policy: in flight: %w", err)
		}
		for _, id := range ids {
			p, err := s.GetPayment(ctx, w, id)
			if err != nil {
				continue
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// WithClockSkew returns a Store on the same Redis whose clock runs d ahead.
