package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stipend/stipend/policy"
)

// ApprovalView is what an approval page shows and signs; its JSON is the
// answer of GET /approve/{token} with Accept: application/json. Amounts stay
// typed (TokenAmount) and times are times: a face writes them as it shows them.
type ApprovalView struct {
	Token       string          `json:"token"`
	Kind        string          `json:"kind"`
	Status      string          `json:"status"` // pending, processing, used, cancelled or expired
	UserWallet  string          `json:"user_wallet"`
	AgentID     string          `json:"agent_id"`
	Sign        string          `json:"sign"`                  // transaction or message
	Transaction string          `json:"transaction,omitempty"` // base64 wire transaction, signatures zeroed
	Message     string          `json:"message,omitempty"`     // UTF-8 text to sign
	Cluster     string          `json:"cluster"`               // Wallet Standard chain id, e.g. solana:devnet
	Mint        string          `json:"mint,omitempty"`        // the mint of the approval's token
	Summary     Summary         `json:"summary"`
	NetworkFee  string          `json:"network_fee,omitempty"` // of the transaction to sign, in SOL, from its bytes
	ExpiresAt   time.Time       `json:"expires_at"`
	Result      json.RawMessage `json:"result,omitempty"` // what a used link came to; a cancelled link's {"reason"}
}

// Summary says in plain words what the owner approves. Its amounts are in
// the approval's token (Token is its symbol); a nil amount is not known or
// not part of the request.
type Summary struct {
	Title             string       `json:"title"`
	Amount            *TokenAmount `json:"amount,omitempty"`
	Token             string       `json:"token,omitempty"`
	Recipient         string       `json:"recipient,omitempty"`
	SessionKeyID      string       `json:"session_key_id,omitempty"`
	SessionKeyAddress string       `json:"session_key_address,omitempty"`
	SessionID         string       `json:"session_id,omitempty"`
	// Limits are the session's limits now; NewLimits those a limits change sets.
	Limits         *LimitsView  `json:"limits,omitempty"`
	NewLimits      *LimitsView  `json:"new_limits,omitempty"`
	KeyExpiresAt   time.Time    `json:"key_expires_at,omitzero"`
	RemainingAfter *TokenAmount `json:"remaining_after,omitempty"` // what the key (or session) can spend once done
	Description    string       `json:"description,omitempty"`
	Lines          []Line       `json:"lines,omitempty"`
}

// Line is one labelled fact of a summary.
type Line struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// LimitsView is a session's limits in its token. A nil limit is none; a nil
// RequireApprovalAbove asks no approval.
type LimitsView struct {
	MaxPerTransaction    *TokenAmount `json:"max_per_transaction,omitempty"`
	MaxPerDay            *TokenAmount `json:"max_per_day,omitempty"`
	MaxPerWeek           *TokenAmount `json:"max_per_week,omitempty"`
	MaxPerMonth          *TokenAmount `json:"max_per_month,omitempty"`
	RequireApprovalAbove *TokenAmount `json:"require_approval_above,omitempty"`
}

// TokenAmount is an amount of one token: integer base units and the token's
// decimals. It compares as a number (Cmp) and is written as decimal text
// ("12.50", at least two decimals) only when shown: by String, and in JSON.
type TokenAmount struct {
	Units    Amount
	Decimals int32
}

// String writes the amount in token units, such as "12.50".
func (a TokenAmount) String() string { return a.Units.Format(a.Decimals) }

// Cmp compares a and b by value: -1, 0 or +1.
func (a TokenAmount) Cmp(b TokenAmount) int {
	return a.Units.Decimal(a.Decimals).Cmp(b.Units.Decimal(b.Decimals))
}

// MarshalText writes the amount as String does: JSON carries "12.50".
func (a TokenAmount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

var tokenAmountText = regexp.MustCompile(AmountPattern)

// UnmarshalText reads decimal text such as "12.50" exactly: as many
// decimals as the text has.
func (a *TokenAmount) UnmarshalText(text []byte) error {
	s := string(text)
	if !tokenAmountText.MatchString(s) {
		return fmt.Errorf("service: amount %q is not decimal text", s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	units, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || Amount(units) > policy.MaxAmount {
		return fmt.Errorf("service: amount %q is out of range", s)
	}
	a.Units, a.Decimals = Amount(units), int32(len(frac))
	return nil
}

// Approval returns what an approval link asks. A transaction whose blockhash
// has expired is issued anew (and the link bound to the new one), so a link
// opened late still works. A key or session gone since the link was made
// leaves its facts out; a store that cannot answer shows no view at all
// (never a page without its limits).
func (s *Service) Approval(ctx context.Context, token string) (*ApprovalView, error) {
	a, err := s.store.GetApproval(ctx, token)
	if err != nil {
		return nil, err
	}
	now, err := s.store.Now(ctx)
	if err != nil {
		return nil, err
	}
	k, sess, err := s.approvalRecords(ctx, a)
	if err != nil {
		return nil, err
	}
	mint := ""
	switch {
	case k != nil:
		mint = k.Mint
	case sess != nil:
		mint = sess.Mint
	}
	v := &ApprovalView{Token: a.Token, Kind: string(a.Kind), Status: a.Status, UserWallet: a.UserWallet,
		AgentID: a.AgentID, Cluster: s.cfg.Cluster, Mint: s.tokenOfMint(mint).Mint(),
		ExpiresAt: a.ExpiresAt.UTC().Truncate(time.Second), Result: resultJSON(a.Result)}
	if a.Status == "pending" && !now.Before(a.ExpiresAt) {
		v.Status = "expired"
	}
	if a.Kind.SignsTransaction() {
		v.Sign = "transaction"
		if v.Status == "pending" {
			if err := s.refresh(ctx, a); err != nil {
				return nil, err
			}
			v.Transaction = wireOf(a.Payload)
		}
	} else {
		v.Sign = "message"
		v.Message = a.Payload
	}
	if v.Summary, err = s.summary(a, k, sess, mint); err != nil {
		return nil, err
	}
	if a.Kind.SignsTransaction() {
		if v.NetworkFee = networkFee(a.Payload); v.NetworkFee != "" {
			v.Summary.Lines = append(v.Summary.Lines, Line{"Network fee", v.NetworkFee + ", paid by your wallet"})
		}
	}
	return v, nil
}

// approvalRecords reads the session key and the session an approval names:
// the key's linked session, else the approval's own. One that is gone is nil.
func (s *Service) approvalRecords(ctx context.Context, a *policy.Approval) (*policy.SessionKey, *policy.Session, error) {
	var k *policy.SessionKey
	var sess *policy.Session
	if a.SessionKeyID != "" {
		var err error
		if k, sess, err = s.store.GetKey(ctx, "", a.SessionKeyID); err != nil {
			if !errors.Is(err, policy.ErrNotFound) {
				return nil, nil, err
			}
			k, sess = nil, nil
		}
	}
	if sess == nil && a.SessionID != "" {
		var err error
		if sess, err = s.store.GetSession(ctx, "", a.SessionID); err != nil {
			if !errors.Is(err, policy.ErrNotFound) {
				return nil, nil, err
			}
			sess = nil
		}
	}
	return k, sess, nil
}

// resultJSON is a link's result as JSON: a cancelled link keeps its reason
// as plain text, which becomes {"reason": …}.
func resultJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || json.Valid(raw) {
		return raw
	}
	b, err := json.Marshal(map[string]string{"reason": string(raw)})
	if err != nil {
		return nil // a map of strings always marshals; nothing to show otherwise
	}
	return b
}

// wireOf turns issued message bytes (base64) into the wire transaction a
// wallet signs: one zeroed signature slot per required signer, then the message.
func wireOf(messageB64 string) string {
	msg, err := base64.StdEncoding.DecodeString(messageB64)
	if err != nil || len(msg) == 0 {
		return ""
	}
	n := int(msg[0]) // required signatures (header byte 0), always < 128 here
	wire := append([]byte{byte(n)}, make([]byte, 64*n)...)
	return base64.StdEncoding.EncodeToString(append(wire, msg...))
}

// approvalDetails are the kind-specific details an approval keeps for its page.
type approvalDetails struct {
	Description string `json:"description"` // a payment's
	// Units are the limits a limits change sets, in base units (0: none).
	Units map[string]Amount `json:"units"`
}

// summary is what the owner reads before signing, from the approval and the
// key (k) and session (sess) it names, in the token of mint.
func (s *Service) summary(a *policy.Approval, k *policy.SessionKey, sess *policy.Session, mint string) (Summary, error) {
	decimals, symbol := s.decimalsOf(mint), s.symbolOf(mint)
	amount := func(u Amount) *TokenAmount { return &TokenAmount{Units: u, Decimals: decimals} }
	text := func(u Amount) string { return amount(u).String() + " " + symbol }
	sm := Summary{Token: symbol, SessionKeyID: a.SessionKeyID, SessionID: a.SessionID, Recipient: a.Recipient}
	var details approvalDetails
	if len(a.Details) > 0 {
		if err := json.Unmarshal(a.Details, &details); err != nil {
			return Summary{}, fmt.Errorf("service: approval details: %w", err)
		}
	}
	sm.Description = details.Description
	if a.Amount > 0 {
		sm.Amount = amount(a.Amount)
	}
	if k != nil {
		sm.SessionKeyAddress, sm.KeyExpiresAt = k.Address, k.ExpiresAt.UTC().Truncate(time.Second)
	}
	if sess != nil {
		sm.Limits = limitsView(sess.Limits, sess.RequireApprovalAbove, decimals)
	}
	add := func(label, value string) {
		if value != "" {
			sm.Lines = append(sm.Lines, Line{label, value})
		}
	}
	switch a.Kind {
	case policy.ApprovalFund:
		sm.Title = "Fund a new session key"
		sm.RemainingAfter = sm.Amount
		add("Amount", text(a.Amount)+" from your wallet to the session key")
		add("Agent", a.AgentID)
		add("Session key", a.SessionKeyID)
		add("The agent may spend up to", text(a.Amount)+" without asking you again")
	case policy.ApprovalTopUp:
		sm.Title = "Top up a session key"
		add("Amount", text(a.Amount)+" from your wallet to the session key")
		add("Agent", a.AgentID)
		add("Session key", a.SessionKeyID)
		if k != nil {
			sm.RemainingAfter = amount(k.Remaining + a.Amount)
			add("Its limit becomes", text(k.MaxAmount+a.Amount))
		}
	case policy.ApprovalPayment, policy.ApprovalOwnPayment:
		sm.Title = "Approve a payment"
		if a.Kind == policy.ApprovalOwnPayment {
			add("Amount", text(a.Amount)+" from your own wallet")
		} else {
			add("Amount", text(a.Amount)+" from session key "+a.SessionKeyID)
			if k != nil {
				sm.RemainingAfter = amount(max(k.Remaining-a.Amount, 0))
			}
		}
		add("Recipient", a.Recipient)
		add("Agent", a.AgentID)
		add("What for", sm.Description)
	case policy.ApprovalLink:
		sm.Title = "Link a session key to a session"
		add("Session key", a.SessionKeyID)
		add("Session", a.SessionID)
	case policy.ApprovalUnlink:
		sm.Title = "Remove a session key's spending limits"
		add("Session key", a.SessionKeyID)
		add("Session", a.SessionID)
	case policy.ApprovalLimits:
		sm.Title = "Change a session's limits"
		add("Session", a.SessionID)
		if details.Units != nil {
			u := details.Units
			sm.NewLimits = limitsView(policy.Limits{PerTransaction: u["max_per_transaction"], PerDay: u["max_per_day"],
				PerWeek: u["max_per_week"], PerMonth: u["max_per_month"]}, u["require_approval_above"], decimals)
		}
	}
	return sm, nil
}

// limitsView is limits l and the approval threshold above in a token of decimals.
func limitsView(l policy.Limits, above Amount, decimals int32) *LimitsView {
	f := func(a Amount) *TokenAmount {
		if a == 0 {
			return nil
		}
		return &TokenAmount{Units: a, Decimals: decimals}
	}
	return &LimitsView{MaxPerTransaction: f(l.PerTransaction), MaxPerDay: f(l.PerDay), MaxPerWeek: f(l.PerWeek),
		MaxPerMonth: f(l.PerMonth), RequireApprovalAbove: f(above)}
}
