package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/wallet"
)

// settleLater resolves a payment left pending in the background, until its
// blockhash expired; what a crash leaves, Recover resolves.
func (s *Service) settleLater(p *policy.Payment, rec *policy.X402Record) {
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if out, _, err := s.resolveX402(ctx, p, rec, solana.Signature{}); err == nil && out != "pending" {
				return
			}
		}
	}()
}

// resolveX402 settles the ledger with the chain for one x402 payment: found
// and succeeded → commit; found and failed → release; not found and its
// blockhash expired → release; otherwise it stays reserved ("pending"). A
// payment already settled in the ledger keeps its status.
func (s *Service) resolveX402(ctx context.Context, p *policy.Payment, rec *policy.X402Record, hint solana.Signature) (string, *wallet.Landed, error) {
	if rec.KeySignature == "" && rec.Transaction == "" {
		// Reserved but never signed (a crash in between): it cannot land.
		return s.releaseX402(ctx, p, "nothing was signed")
	}
	key, err := solana.PublicKeyFromBase58(rec.KeyAddress)
	if err != nil {
		return "", nil, fmt.Errorf("service: x402 record %s: key address: %w", p.ID, err)
	}
	keySig, err := solana.SignatureFromBase58(rec.KeySignature)
	if err != nil {
		return "", nil, fmt.Errorf("service: x402 record %s: key signature: %w", p.ID, err)
	}
	if hint.IsZero() && rec.Settlement != "" {
		hint, _ = solana.SignatureFromBase58(rec.Settlement) // stored only once it parsed; a zero hint scans by the key's signature
	}
	find := func() (*wallet.Landed, error) { return s.chain.FindSignedBy(ctx, key, keySig, hint, x402ScanLimit) }
	landed, err := find()
	if err != nil {
		return "", nil, err
	}
	if landed == nil {
		bh, err := solana.HashFromBase58(p.Blockhash)
		if err != nil {
			return "pending", nil, nil
		}
		valid, err := s.chain.BlockhashValid(ctx, bh)
		if err != nil || valid {
			return "pending", nil, err
		}
		// Look once more: it could have landed just before the blockhash expired.
		if landed, err = find(); err != nil || landed == nil {
			if err != nil {
				return "", nil, err
			}
			return s.releaseX402(ctx, p, "blockhash expired before the transaction landed")
		}
	}
	if landed.Err != "" {
		out, _, err := s.releaseX402(ctx, p, "transaction failed on chain: "+landed.Err)
		return out, landed, err
	}
	if _, err := s.store.Commit(ctx, p.UserWallet, p.ID); err != nil {
		return "", nil, err
	}
	s.notify(Change{SessionKeyID: p.SessionKeyID, Status: "payment_confirmed"})
	return "confirmed", landed, nil
}

func (s *Service) releaseX402(ctx context.Context, p *policy.Payment, reason string) (string, *wallet.Landed, error) {
	if _, err := s.store.Release(ctx, p.UserWallet, p.ID, reason); err != nil {
		if errors.Is(err, policy.ErrConflict) {
			return "confirmed", nil, nil // committed meanwhile
		}
		return "", nil, err
	}
	s.notify(Change{SessionKeyID: p.SessionKeyID, Status: "payment_failed"})
	return "failed", nil, nil
}

// RecoverX402 is the recovery hook of x402 payments, for whatever sweeps
// reserved payments after a crash (Recover, the reconciler): it reports
// whether p is an x402 payment (then it must not be resolved by its stored
// signature, which is the key's and not the transaction id) and, if so,
// resolves it: "confirmed" (committed), "failed" (released) or "pending".
func (s *Service) RecoverX402(ctx context.Context, p *policy.Payment) (handled bool, outcome string, err error) {
	rec, err := s.store.X402(ctx, p.UserWallet, p.ID)
	if err != nil {
		return true, "", err // unknown: better stop than resolve it by the wrong signature
	}
	if rec == nil {
		return false, "", nil
	}
	if p.Status != policy.PaymentReserved {
		return true, string(p.Status), nil
	}
	outcome, _, err = s.resolveX402(ctx, p, rec, solana.Signature{})
	return true, outcome, err
}
