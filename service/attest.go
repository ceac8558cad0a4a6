package service

import (
	"context"
	"errors"
	"time"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/wallet"
)

// attestationOf is what a key's attestation states: its parameters now.
func attestationOf(k *policy.SessionKey) (wallet.Attestation, error) {
	user, err := solana.PublicKeyFromBase58(k.UserWallet)
	if err != nil {
		return wallet.Attestation{}, err
	}
	addr, err := solana.PublicKeyFromBase58(k.Address)
	if err != nil {
		return wallet.Attestation{}, err
	}
	return wallet.Attestation{AgentID: k.AgentID, UserWallet: user, Token: k.Mint, MaxAmount: uint64(k.MaxAmount),
		ExpiresAt: k.ExpiresAt, Address: addr, SessionID: k.LinkedSessionID}, nil
}

// reattest signs and stores a fresh attestation of a key's parameters after
// they changed (a top-up, a link or an unlink). A key that changed again
// meanwhile is attested anew, so the stored one always states the current
// parameters. A failure is logged: the change itself stands.
func (s *Service) reattest(ctx context.Context, keyID string) {
	for range 3 {
		k, _, err := s.store.GetKey(ctx, "", keyID)
		if err != nil {
			s.log.Error("attestation: read key", "session_key_id", keyID, "err", err)
			return
		}
		a, err := attestationOf(k)
		if err != nil {
			s.log.Error("attestation: key fields", "session_key_id", keyID, "err", err)
			return
		}
		kp, err := s.openKey(ctx, k)
		if err != nil {
			s.log.Error("attestation: open key", "session_key_id", keyID, "err", err)
			return
		}
		att, err := kp.Attest(a)
		if err != nil {
			s.log.Error("attestation: sign", "session_key_id", keyID, "err", err)
			return
		}
		_, err = s.store.SetAttestation(ctx, keyID, att, k.MaxAmount, k.LinkedSessionID)
		if errors.Is(err, policy.ErrConflict) {
			continue
		}
		if err != nil {
			s.log.Error("attestation: store", "session_key_id", keyID, "err", err)
		}
		return
	}
}

func parseRFC(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }

// VerifyKeyAttestation checks a key view's attestation offline: that the
// session key's address signed exactly the parameters the view states.
func VerifyKeyAttestation(v *KeyView) error {
	bad := func(what string) error {
		return policy.Errorf(policy.CodeInvalidArgument, what, "%s is missing or malformed", what)
	}
	if v.Attestation == "" {
		return bad("attestation")
	}
	addr, err := solana.PublicKeyFromBase58(v.SessionKeyAddress)
	if err != nil {
		return bad("session_key_address")
	}
	user, err := solana.PublicKeyFromBase58(v.UserWallet)
	if err != nil {
		return bad("user_wallet")
	}
	if v.Mint == "" || v.Decimals <= 0 {
		return bad("mint")
	}
	maxAmount, err := policy.ParseAmount(v.MaxAmount, v.Decimals)
	if err != nil {
		return bad("max_amount")
	}
	exp, err := parseRFC(v.ExpiresAt)
	if err != nil {
		return bad("expires_at")
	}
	a := wallet.Attestation{AgentID: v.AgentID, UserWallet: user, Token: v.Mint, MaxAmount: uint64(maxAmount),
		ExpiresAt: exp, Address: addr, SessionID: v.LinkedSessionID}
	if err := wallet.VerifyAttestation(addr, a, v.Attestation); err != nil {
		return &policy.Error{Code: CodeInvalidSignature, Message: "the attestation does not state this key's parameters: " + err.Error(), Param: "attestation"}
	}
	return nil
}
