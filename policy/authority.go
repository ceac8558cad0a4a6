package policy

import "context"

// Authority says on whose word a change that loosens a policy (an unlink,
// new limits) is made; it is recorded in the event and the audit log.
type Authority string

// The authorities of a policy change.
const (
	// ByOwner: the owner signed an approval.
	ByOwner Authority = "owner"
	// ByOperatorForced: the operator overrode the owner's approval.
	ByOperatorForced Authority = "operator_forced"
)

// UnlinkBy removes a key's session on by's word (the owner's approval or the
// operator's forced change), recording which in the audit log.
func (s *Store) UnlinkBy(ctx context.Context, by Authority, keyID string) (*SessionKey, error) {
	return s.changeKey(ctx, "unlink", keyID, "", string(by))
}

// SetLimitsBy changes a session's limits on by's word, recording which in
// the audit log.
func (s *Store) SetLimitsBy(ctx context.Context, by Authority, sessionID string, l Limits, approvalAbove Amount) (*Session, error) {
	if err := validID(sessionID, "sess_", "session_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, sessionID, "session_id")
	if err != nil {
		return nil, err
	}
	r, err := runReply[sessionReply](ctx, s, "set_limits", w, "as:"+sessionID, sessionID, "", units(l.PerTransaction),
		units(l.PerDay), units(l.PerWeek), units(l.PerMonth), units(approvalAbove), string(by))
	if err != nil {
		return nil, err
	}
	return r.Session.session(), nil
}

// SetAttestation stores a fresh attestation of a key that states maxAmount
// and linkedSessionID; it is refused (conflict) when the key no longer has
// those parameters, so a stored attestation never states old ones.
func (s *Store) SetAttestation(ctx context.Context, keyID, attestation string, maxAmount Amount, linkedSessionID string) (*SessionKey, error) {
	return s.changeKey(ctx, "attest", keyID, attestation, units(maxAmount), linkedSessionID)
}
