package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The typed replies of the key, session, approval and sweep scripts. Each
// script's "ok" answer decodes straight into one of these structs (runReply);
// the public types (SessionKey, Session, Approval, SweepState) are built from
// them here and nowhere else.

// keyReply answers the scripts that change one session key: create_key,
// activate, top_up, revoke, link, unlink and attest.
type keyReply struct {
	Key keyRecord `json:"key"`
	// Duplicate: the same call (the same funding signature, a second
	// revocation, the same link) was made before; this one changed nothing.
	Duplicate bool `json:"duplicate"`
}

// sessionKey is the key the call left, with its Duplicate flag.
func (r *keyReply) sessionKey() *SessionKey {
	k := r.Key.sessionKey()
	k.Duplicate = r.Duplicate
	return k
}

// expireReply answers expire.lua.
type expireReply struct {
	Key     keyRecord `json:"key"`
	Expired bool      `json:"expired"` // this call turned the key expired
}

// getReply answers get.lua: a key with its linked session, or a session alone.
type getReply struct {
	Key       *keyRecord     `json:"key"`
	Session   *sessionRecord `json:"session"`
	SealedKey string         `json:"sealed_key"` // only when asked for
	Now       millis         `json:"now"`
}

// sessionReply answers the scripts that change a session: create_session and set_limits.
type sessionReply struct {
	Session sessionRecord `json:"session"`
}

// approvalReply answers approval.lua: the approval's record after the action.
type approvalReply struct {
	Approval approvalRecord `json:"approval"`
}

// sweepReply answers sweep.lua: where returning a key's tokens stands.
type sweepReply struct {
	SessionKeyID    string `json:"session_key_id"`
	Status          string `json:"status"`
	Signature       string `json:"sweep_signature"`
	Blockhash       string `json:"sweep_blockhash"`
	LastSignature   string `json:"last_sweep_signature"`
	ZeroAt          millis `json:"swept_zero_at"`
	SecretDeletedAt millis `json:"secret_deleted_at"`
	HasSecret       bool   `json:"has_secret"`
	Deleted         bool   `json:"deleted"` // forget: this call deleted the sealed secret
}

func (r *sweepReply) state() *SweepState {
	return &SweepState{SessionKeyID: r.SessionKeyID, Status: Status(r.Status), Signature: r.Signature,
		Blockhash: r.Blockhash, LastSignature: r.LastSignature, ZeroAt: r.ZeroAt.time(),
		SecretDeletedAt: r.SecretDeletedAt.time(), HasSecret: r.HasSecret, Deleted: r.Deleted}
}

// abandonReply answers attach.lua's abandon action.
type abandonReply struct {
	PaymentID string `json:"payment_id"`
	Abandoned bool   `json:"abandoned"` // the reservation is (now) marked abandoned
}

// keyRecord is a session key as the scripts show it (lib.lua's key_view,
// with get.lua's activity counts).
type keyRecord struct {
	ID                 string `json:"session_key_id"`
	AgentID            string `json:"agent_id"`
	UserWallet         string `json:"user_wallet"`
	Token              string `json:"token"`
	Mint               string `json:"mint"`
	Decimals           count  `json:"decimals"`
	Status             string `json:"status"`
	Address            string `json:"session_key_address"`
	PKPPublicKey       string `json:"pkp_public_key"`
	Attestation        string `json:"attestation"`
	MaxAmount          count  `json:"max_amount"`
	Spent              count  `json:"spent"`
	Reserved           count  `json:"reserved"`
	Remaining          count  `json:"remaining_amount"`
	TransactionCount   count  `json:"transaction_count"`
	CreatedAt          millis `json:"created_at"`
	ExpiresAt          millis `json:"expires_at"`
	ActivatedAt        millis `json:"activated_at"`
	LastActivity       millis `json:"last_activity"`
	LinkedSessionID    string `json:"linked_session_id"`
	Refusals           count  `json:"refusals"`
	LastRefusal        millis `json:"last_refusal"`
	DistinctRecipients count  `json:"distinct_recipients"`
	PaymentsLastHour   count  `json:"payments_last_hour"`
	RefusalsLastHour   count  `json:"refusals_last_hour"`
	RecipientPaid      bool   `json:"recipient_paid"`
	DeviceBound        string `json:"device_bound"` // "1" when bound
}

func (r *keyRecord) sessionKey() *SessionKey {
	return &SessionKey{ID: r.ID, AgentID: r.AgentID, UserWallet: r.UserWallet, Token: r.Token, Mint: r.Mint,
		Decimals: int32(r.Decimals), Status: Status(r.Status), Address: r.Address, PKPPublicKey: r.PKPPublicKey,
		Attestation: r.Attestation, MaxAmount: Amount(r.MaxAmount), Spent: Amount(r.Spent),
		Reserved: Amount(r.Reserved), Remaining: Amount(r.Remaining), TransactionCount: int64(r.TransactionCount),
		CreatedAt: r.CreatedAt.time(), ExpiresAt: r.ExpiresAt.time(), ActivatedAt: r.ActivatedAt.time(),
		LastActivity: r.LastActivity.time(), LinkedSessionID: r.LinkedSessionID, Refusals: int64(r.Refusals),
		LastRefusal: r.LastRefusal.time(), DistinctRecipients: int64(r.DistinctRecipients),
		PaymentsLastHour: int64(r.PaymentsLastHour), RefusalsLastHour: int64(r.RefusalsLastHour),
		RecipientPaid: r.RecipientPaid, DeviceBound: r.DeviceBound == "1"}
}

// sessionRecord is a session as the scripts show it (its hash, with get.lua's
// window usage and allowed recipients).
type sessionRecord struct {
	ID                string   `json:"session_id"`
	AgentID           string   `json:"agent_id"`
	UserWallet        string   `json:"user_wallet"`
	Status            string   `json:"status"`
	Mint              string   `json:"mint"`
	PerTransaction    count    `json:"per_transaction"`
	PerDay            count    `json:"per_day"`
	PerWeek           count    `json:"per_week"`
	PerMonth          count    `json:"per_month"`
	ApprovalAbove     count    `json:"approval_above"`
	CreatedAt         millis   `json:"created_at"`
	ExpiresAt         millis   `json:"expires_at"`
	UsedDay           count    `json:"used_day"`
	UsedWeek          count    `json:"used_week"`
	UsedMonth         count    `json:"used_month"`
	ResetsDay         millis   `json:"resets_day"`
	ResetsWeek        millis   `json:"resets_week"`
	ResetsMonth       millis   `json:"resets_month"`
	AllowedRecipients textList `json:"allowed_recipients"`
}

func (r *sessionRecord) session() *Session {
	return &Session{ID: r.ID, AgentID: r.AgentID, UserWallet: r.UserWallet, Status: r.Status, Mint: r.Mint,
		Limits: Limits{PerTransaction: Amount(r.PerTransaction), PerDay: Amount(r.PerDay),
			PerWeek: Amount(r.PerWeek), PerMonth: Amount(r.PerMonth)},
		RequireApprovalAbove: Amount(r.ApprovalAbove), AllowedRecipients: r.AllowedRecipients,
		CreatedAt: r.CreatedAt.time(), ExpiresAt: r.ExpiresAt.time(),
		UsedDay: Amount(r.UsedDay), UsedWeek: Amount(r.UsedWeek), UsedMonth: Amount(r.UsedMonth),
		ResetsDay: r.ResetsDay.time(), ResetsWeek: r.ResetsWeek.time(), ResetsMonth: r.ResetsMonth.time()}
}

// approvalRecord is an approval link's hash as approval.lua shows it; its
// token is what the store keeps of the token (TokenID).
type approvalRecord struct {
	Token        string `json:"token"`
	Kind         string `json:"kind"`
	Status       string `json:"status"`
	UserWallet   string `json:"user_wallet"`
	AgentID      string `json:"agent_id"`
	SessionKeyID string `json:"session_key_id"`
	SessionID    string `json:"session_id"`
	PaymentID    string `json:"payment_id"`
	Amount       count  `json:"amount"`
	Recipient    string `json:"recipient"`
	Payload      string `json:"payload"`
	Details      string `json:"details"` // JSON
	Result       string `json:"result"`  // JSON
	CreatedAt    millis `json:"created_at"`
	ExpiresAt    millis `json:"expires_at"`
	TxSignature  string `json:"tx_signature"`
	TxBlockhash  string `json:"tx_blockhash"`
	ClaimedAt    millis `json:"claimed_at"`
}

func (r *approvalRecord) approval() *Approval {
	a := &Approval{Token: r.Token, Kind: ApprovalKind(r.Kind), Status: r.Status, UserWallet: r.UserWallet,
		AgentID: r.AgentID, SessionKeyID: r.SessionKeyID, SessionID: r.SessionID, PaymentID: r.PaymentID,
		Amount: Amount(r.Amount), Recipient: r.Recipient, Payload: r.Payload,
		CreatedAt: r.CreatedAt.time(), ExpiresAt: r.ExpiresAt.time(),
		TxSignature: r.TxSignature, TxBlockhash: r.TxBlockhash, ClaimedAt: r.ClaimedAt.time()}
	if r.Details != "" {
		a.Details = json.RawMessage(r.Details)
	}
	if r.Result != "" {
		a.Result = json.RawMessage(r.Result)
	}
	return a
}

// count is an integer as the scripts write it: a decimal string (amounts in
// base units, counters), or "" (or absent) for zero. Anything else is a bad reply.
type count int64

// UnmarshalJSON implements json.Unmarshaler.
func (c *count) UnmarshalJSON(b []byte) error {
	s, err := scalar(b)
	if err != nil || s == "" {
		*c = 0
		return err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("policy: not an integer: %s", b)
	}
	*c = count(n)
	return nil
}

// millis is a time as the scripts write it: Unix milliseconds in a decimal
// string; "" (or absent, or 0) is the zero time.
type millis int64

// UnmarshalJSON implements json.Unmarshaler.
func (m *millis) UnmarshalJSON(b []byte) error { return (*count)(m).UnmarshalJSON(b) }

func (m millis) time() time.Time {
	if m == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(m)).UTC()
}

// textList is a list of text values. Lua's cjson writes an empty list as {},
// which reads as no values.
type textList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *textList) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("{}")) {
		*l = nil
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// scalar is the text of a JSON string, number or null.
func scalar(b []byte) (string, error) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		return "", nil
	case b[0] == '"':
		var s string
		err := json.Unmarshal(b, &s)
		return s, err
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		return string(b), nil
	}
	return "", fmt.Errorf("policy: not a number: %s", b)
}
