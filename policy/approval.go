package policy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// ApprovalKind is what an approval link asks the owner to approve.
type ApprovalKind string

// The kinds of approval.
const (
	ApprovalFund       ApprovalKind = "fund"        // fund a new session key (sign a transaction)
	ApprovalTopUp      ApprovalKind = "top_up"      // add funds to a key (sign a transaction)
	ApprovalPayment    ApprovalKind = "payment"     // a payment over the threshold (sign a message)
	ApprovalOwnPayment ApprovalKind = "own_payment" // a session's payment from the owner's wallet (sign a transaction)
	ApprovalLink       ApprovalKind = "link"        // link a key to a session (sign a message)
	ApprovalUnlink     ApprovalKind = "unlink"      // unlink a key's session (sign a message)
	ApprovalLimits     ApprovalKind = "limits"      // change a session's limits (sign a message)
)

// SignsTransaction reports whether the owner signs a transaction (else a message).
func (k ApprovalKind) SignsTransaction() bool {
	return k == ApprovalFund || k == ApprovalTopUp || k == ApprovalOwnPayment
}

// Approval is a single-use approval link's record.
type Approval struct {
	Token        string
	Kind         ApprovalKind
	Status       string // pending, processing, used or cancelled
	UserWallet   string
	AgentID      string
	SessionKeyID string
	SessionID    string
	PaymentID    string
	Amount       Amount
	Recipient    string
	// Payload is what the owner signs: the base64 transaction message, or the text message.
	Payload   string
	Details   json.RawMessage // kind-specific details for the page (limits, description)
	Result    json.RawMessage // what the submission came to
	CreatedAt time.Time
	ExpiresAt time.Time
	// TxSignature and TxBlockhash are those of the signed transaction a
	// submission is sending (set when it is claimed), so a submission cut
	// short by a crash can be finished from them.
	TxSignature string
	TxBlockhash string
	ClaimedAt   time.Time
}

// NewApproval describes an approval link to create.
type NewApproval struct {
	Token        string // empty: a new token
	Kind         ApprovalKind
	UserWallet   string
	AgentID      string
	SessionKeyID string
	SessionID    string
	PaymentID    string
	Amount       Amount
	Recipient    string
	Payload      string
	Details      any
	ExpiresAt    time.Time
}

// NewToken returns a random approval token (256 bits, URL-safe).
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "ap_" + base64.RawURLEncoding.EncodeToString(b)
}

// TokenID is all the store keeps of an approval token: "aph_" and the
// SHA-256 of the token (unpadded base64url). Key names, records and indexes hold only this, so a
// copy of Redis (a backup, a replica, MONITOR) holds no usable link.
func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "aph_" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// approvalID is the store's id of an approval named by its token (ap_…) or,
// for background work that found the approval in Redis (the reconciler), by
// that id itself (aph_…, as GetApprovalByID returns it in Token).
func approvalID(tokenOrID string) (string, error) {
	if strings.HasPrefix(tokenOrID, "aph_") {
		return tokenOrID, validID(tokenOrID, "aph_", "token")
	}
	if err := validID(tokenOrID, "ap_", "token"); err != nil {
		return "", err
	}
	return TokenID(tokenOrID), nil
}

func (f fields) approval() *Approval {
	a := &Approval{Token: f.str("token"), Kind: ApprovalKind(f.str("kind")), Status: f.str("status"),
		UserWallet: f.str("user_wallet"), AgentID: f.str("agent_id"), SessionKeyID: f.str("session_key_id"),
		SessionID: f.str("session_id"), PaymentID: f.str("payment_id"), Amount: f.amount("amount"),
		Recipient: f.str("recipient"), Payload: f.str("payload"),
		CreatedAt: f.time("created_at"), ExpiresAt: f.time("expires_at"),
		TxSignature: f.str("tx_signature"), TxBlockhash: f.str("tx_blockhash"), ClaimedAt: f.time("claimed_at")}
	if d := f.str("details"); d != "" {
		a.Details = json.RawMessage(d)
	}
	if r := f.str("result"); r != "" {
		a.Result = json.RawMessage(r)
	}
	return a
}

// CreateApproval records a new approval link and returns it with its token.
func (s *Store) CreateApproval(ctx context.Context, n NewApproval) (*Approval, error) {
	if err := validWallet(n.UserWallet); err != nil {
		return nil, err
	}
	details, err := json.Marshal(n.Details)
	if err != nil {
		return nil, Errorf(CodeInvalidArgument, "details", "details: %v", err)
	}
	token := n.Token
	if token == "" {
		token = NewToken()
	}
	if err := validID(token, "ap_", "token"); err != nil {
		return nil, Errorf(CodeInvalidArgument, "token", "invalid approval token")
	}
	id := TokenID(token)
	if err := s.index(ctx, id, n.UserWallet, n.AgentID, n.ExpiresAt, false); err != nil {
		return nil, err
	}
	if _, err := s.run(ctx, "approval", n.UserWallet, "appr:"+id, id, "create", string(n.Kind), n.AgentID,
		n.SessionKeyID, n.SessionID, n.PaymentID, units(n.Amount), n.Recipient, n.Payload, ms(n.ExpiresAt), string(details)); err != nil {
		return nil, err
	}
	return s.GetApproval(ctx, token)
}

// GetApproval returns an approval by its token.
func (s *Store) GetApproval(ctx context.Context, token string) (*Approval, error) {
	if err := validID(token, "ap_", "token"); err != nil {
		return nil, err
	}
	a, err := s.GetApprovalByID(ctx, TokenID(token))
	if err != nil {
		return nil, err
	}
	a.Token = token
	return a, nil
}

// GetApprovalByID returns an approval by what the store keeps of its token
// (TokenID); its Token is that id, not a usable link. For background work
// (the reconciler) that finds approvals in Redis.
func (s *Store) GetApprovalByID(ctx context.Context, id string) (*Approval, error) {
	if err := validID(id, "aph_", "token"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, id, "token")
	if err != nil {
		if CodeOf(err) == CodeNotFound {
			return nil, Errorf(CodeNotFound, "token", "no such approval link")
		}
		return nil, err
	}
	m, err := s.rdb.HGetAll(ctx, s.prefixOf(w)+"appr:"+id).Result()
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, Errorf(CodeNotFound, "token", "no such approval link")
	}
	f := fields{}
	for k, v := range m {
		f[k] = v
	}
	return f.approval(), nil
}

// ApprovalAction moves an approval through its states: "claim" (pending →
// processing; refused once used, cancelled or expired), "release"
// (processing → pending), "finish" (processing → used, with arg the result),
// "rebind" (a new payload while pending) and "cancel".
//
// token is the link's token, or what the store keeps of it (TokenID) for
// background work that found the approval in Redis.
func (s *Store) ApprovalAction(ctx context.Context, token, action, arg string) (*Approval, error) {
	id, err := approvalID(token)
	if err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, id, "token")
	if err != nil {
		if CodeOf(err) == CodeNotFound {
			return nil, Errorf(CodeNotFound, "token", "no such approval link")
		}
		return nil, err
	}
	f, err := s.runFields(ctx, "approval", w, "appr:"+id, id, action, arg)
	if err != nil {
		return nil, err
	}
	a := f.approval()
	a.Token = token
	return a, nil
}
