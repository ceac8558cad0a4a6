package service

import (
	"github.com/stipend/stipend/policy"
)

// KeyView is a session key as agents, people and the CLI see it; field names
// are the seed's.
type KeyView struct {
	SessionKeyID      string       `json:"session_key_id"`
	Status            string       `json:"status"`
	AgentID           string       `json:"agent_id"`
	UserWallet        string       `json:"user_wallet"`
	Token             string       `json:"token"`
	Mint              string       `json:"mint,omitempty"`
	Decimals          int32        `json:"decimals,omitempty"`
	SessionKeyAddress string       `json:"session_key_address"`
	PKPPublicKey      string       `json:"pkp_public_key"`
	Attestation       string       `json:"attestation,omitempty"`
	MaxAmount         string       `json:"max_amount"`
	SpentAmount       string       `json:"spent_amount"`
	ReservedAmount    string       `json:"reserved_amount"`
	RemainingAmount   string       `json:"remaining_amount"`
	TransactionCount  int64        `json:"transaction_count"`
	CreatedAt         string       `json:"created_at"`
	ExpiresAt         string       `json:"expires_at"`
	LinkedSessionID   string       `json:"linked_session_id,omitempty"`
	DeviceBound       bool         `json:"device_bound,omitempty"`
	Security          Security     `json:"security"`
	Session           *SessionView `json:"session,omitempty"`
}

// Security is the seed's security block of a key's status.
type Security struct {
	LastActivity string              `json:"last_activity"`
	RiskScore    int                 `json:"risk_score"`
	RiskFactors  []policy.RiskFactor `json:"risk_factors"`
}

// SessionView is an agent session with its limits and their use.
type SessionView struct {
	SessionID            string   `json:"session_id"`
	Status               string   `json:"status"`
	AgentID              string   `json:"agent_id"`
	UserWallet           string   `json:"user_wallet"`
	Token                string   `json:"token,omitempty"` // the token the limits are in; only keys of it link
	MaxPerTransaction    string   `json:"max_per_transaction,omitempty"`
	MaxPerDay            string   `json:"max_per_day,omitempty"`
	MaxPerWeek           string   `json:"max_per_week,omitempty"`
	MaxPerMonth          string   `json:"max_per_month,omitempty"`
	RequireApprovalAbove string   `json:"require_approval_above,omitempty"`
	AllowedRecipients    []string `json:"allowed_recipients,omitempty"`
	SpentToday           string   `json:"spent_today"`
	SpentThisWeek        string   `json:"spent_this_week"`
	SpentThisMonth       string   `json:"spent_this_month"`
	ExpiresAt            string   `json:"expires_at"`
}

// CheckView is one failing check of a decision.
type CheckView struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Limit     string `json:"limit,omitempty"`
	Used      string `json:"used,omitempty"`
	Remaining string `json:"remaining,omitempty"`
	ResetsAt  string `json:"resets_at,omitempty"`
}

// DecisionView is a can_afford answer, or the reason of a refused payment.
type DecisionView struct {
	Allowed               bool        `json:"allowed"`
	ApprovalRequired      bool        `json:"approval_required"`
	Reason                string      `json:"reason,omitempty"`
	EffectiveLimit        string      `json:"effective_limit"`
	MaxAffordableNow      string      `json:"max_affordable_now"`
	NextAvailableAt       *string     `json:"next_available_at"`
	SessionKeyRemaining   *string     `json:"session_key_remaining"`
	SessionRemainingToday *string     `json:"session_remaining_today"`
	Checks                []CheckView `json:"checks"`
}

func (s *Service) keyView(k *policy.SessionKey, sess *policy.Session) *KeyView {
	s.rememberMint(k)
	v := &KeyView{SessionKeyID: k.ID, Status: string(k.Status), AgentID: k.AgentID, UserWallet: k.UserWallet,
		Token: k.Token, Mint: k.Mint, Decimals: k.Decimals, SessionKeyAddress: k.Address, PKPPublicKey: k.PKPPublicKey, Attestation: k.Attestation,
		MaxAmount: s.formatIn(k.Mint, k.MaxAmount), SpentAmount: s.formatIn(k.Mint, k.Spent), ReservedAmount: s.formatIn(k.Mint, k.Reserved),
		RemainingAmount: s.formatIn(k.Mint, k.Remaining), TransactionCount: k.TransactionCount,
		CreatedAt: rfc(k.CreatedAt), ExpiresAt: rfc(k.ExpiresAt), LinkedSessionID: k.LinkedSessionID,
		DeviceBound: k.DeviceBound}
	risk := policy.KeyRisk(k, policy.RiskInput{})
	v.Security = Security{LastActivity: rfc(k.LastActivity), RiskScore: risk.Score, RiskFactors: risk.Factors}
	if sess != nil {
		v.Session = s.sessionView(sess)
	}
	return v
}

func (s *Service) sessionView(x *policy.Session) *SessionView {
	f := func(a policy.Amount) string { return s.formatIn(x.Mint, a) }
	orEmpty := func(a policy.Amount) string {
		if a == 0 {
			return ""
		}
		return f(a)
	}
	tokenName := ""
	if x.Mint != "" {
		tokenName = s.symbolOf(x.Mint)
	}
	return &SessionView{SessionID: x.ID, Status: x.Status, AgentID: x.AgentID, UserWallet: x.UserWallet, Token: tokenName,
		MaxPerTransaction: orEmpty(x.Limits.PerTransaction), MaxPerDay: orEmpty(x.Limits.PerDay),
		MaxPerWeek: orEmpty(x.Limits.PerWeek), MaxPerMonth: orEmpty(x.Limits.PerMonth),
		RequireApprovalAbove: orEmpty(x.RequireApprovalAbove), AllowedRecipients: x.AllowedRecipients,
		SpentToday: f(x.UsedDay), SpentThisWeek: f(x.UsedWeek), SpentThisMonth: f(x.UsedMonth),
		ExpiresAt: rfc(x.ExpiresAt)}
}

func (s *Service) decisionView(d *policy.Decision) *DecisionView {
	f := func(a policy.Amount) string { return s.formatIn(d.Mint, a) }
	v := &DecisionView{Allowed: d.Allowed, ApprovalRequired: d.ApprovalRequired,
		EffectiveLimit: f(d.MaxAffordableNow), MaxAffordableNow: f(d.MaxAffordableNow),
		Checks: []CheckView{}}
	if d.NextAvailableAt != nil {
		t := rfc(*d.NextAvailableAt)
		v.NextAvailableAt = &t
	}
	if d.SessionKeyRemaining != nil {
		a := f(*d.SessionKeyRemaining)
		v.SessionKeyRemaining = &a
	}
	if d.SessionRemainingToday != nil {
		a := f(*d.SessionRemainingToday)
		v.SessionRemainingToday = &a
	}
	for _, c := range d.Checks {
		cv := CheckView{Code: string(c.Code), Message: c.Message, ResetsAt: rfc(c.ResetsAt)}
		if c.Limit > 0 {
			cv.Limit, cv.Used, cv.Remaining = f(c.Limit), f(c.Used), f(c.Remaining)
		}
		v.Checks = append(v.Checks, cv)
	}
	v.Reason = s.reason(d)
	return v
}
