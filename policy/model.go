package policy

import (
	"strconv"
	"time"
)

// Status is the status of a session key.
type Status string

// The statuses of a session key, as in the seed. revoked and expired are final.
const (
	StatusPendingApproval Status = "pending_approval"
	StatusActive          Status = "active"
	StatusExhausted       Status = "exhausted"
	StatusExpired         Status = "expired"
	StatusRevoked         Status = "revoked"
)

// SessionKey is a pre-funded wallet an agent spends from.
type SessionKey struct {
	ID                 string
	AgentID            string
	UserWallet         string
	Token              string
	Mint               string
	Decimals           int32
	Status             Status
	Address            string
	PKPPublicKey       string
	Attestation        string
	MaxAmount          Amount
	Spent              Amount // confirmed on chain
	Reserved           Amount // held by payments in flight
	Remaining          Amount
	TransactionCount   int64
	CreatedAt          time.Time
	ExpiresAt          time.Time
	ActivatedAt        time.Time
	LastActivity       time.Time
	LinkedSessionID    string
	Refusals           int64
	LastRefusal        time.Time
	DistinctRecipients int64
	PaymentsLastHour   int64 // confirmed payments in the current and the previous clock hour
	RefusalsLastHour   int64 // refused payments in the current and the previous clock hour
	RecipientPaid      bool  // the recipient asked about was paid before (KeyForPayment)
	DeviceBound        bool  // payments must present the device fingerprint given at creation
	// Duplicate is set by Activate, TopUp, Revoke, Link and Unlink when the
	// same call was made before (the same funding signature, a second
	// revocation, the same link): this one changed nothing.
	Duplicate bool
}

// Limits are a session's spending limits in base units; zero means no limit.
type Limits struct {
	PerTransaction Amount
	PerDay         Amount
	PerWeek        Amount
	PerMonth       Amount
}

// Session is an agent session: the policy layer of limits.
type Session struct {
	ID                   string
	AgentID              string
	UserWallet           string
	Status               string // active, expired or revoked
	Limits               Limits
	RequireApprovalAbove Amount // zero: never
	AllowedRecipients    []string
	CreatedAt            time.Time
	ExpiresAt            time.Time
	Mint                 string // the token the limits are in; "" = any
	// Usage of the rolling windows, and when their oldest counted bucket leaves.
	UsedDay, UsedWeek, UsedMonth       Amount
	ResetsDay, ResetsWeek, ResetsMonth time.Time
}

// PaymentStatus is the status of a payment.
type PaymentStatus string

// The statuses of a payment.
const (
	PaymentApprovalRequired PaymentStatus = "approval_required"
	PaymentReserved         PaymentStatus = "reserved"
	PaymentConfirmed        PaymentStatus = "confirmed"
	PaymentFailed           PaymentStatus = "failed"
)

// Payment is one payment from a session key, or from the owner's own wallet
// under a session.
type Payment struct {
	ID             string
	SessionKeyID   string
	SessionID      string
	AgentID        string
	UserWallet     string
	Amount         Amount
	Recipient      string
	Description    string
	Status         PaymentStatus
	Signature      string
	Blockhash      string
	IdempotencyKey string
	Reason         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// Duplicate is set by Commit and Release when the payment was already
	// confirmed or failed before the call: the call changed nothing.
	Duplicate bool
	// KeyRemaining is what remains on the session key after a Commit.
	KeyRemaining Amount
}

// Check is one failing check of a payment decision.
type Check struct {
	Code      Code
	Param     string
	Message   string
	Window    string // day, week or month for window checks
	Limit     Amount
	Used      Amount
	Remaining Amount
	ResetsAt  time.Time // zero if waiting does not help
}

// Outcome is what a decision came to.
type Outcome string

// The outcomes of a decision.
const (
	OutcomeAllowed          Outcome = "allowed" // check only
	OutcomeRefused          Outcome = "refused"
	OutcomeApprovalRequired Outcome = "approval_required"
	OutcomeReserved         Outcome = "reserved"
	// A duplicate (same idempotency key) reports its payment's status as outcome.
	OutcomeConfirmed Outcome = "confirmed"
	OutcomeFailed    Outcome = "failed"
)

// Decision is the answer of the ledger to a payment or a can_afford check.
type Decision struct {
	Allowed          bool
	ApprovalRequired bool
	Outcome          Outcome
	Duplicate        bool
	Checks           []Check // every failing check, not only the first
	MaxAffordableNow Amount  // the largest amount that passes every check now
	// NextAvailableAt is when the requested amount would pass if nothing else
	// is spent; nil when waiting does not help (only a top-up or the owner can).
	NextAvailableAt       *time.Time
	SessionKeyRemaining   *Amount
	SessionRemainingToday *Amount
	Payment               *Payment
	Now                   time.Time
	// SealedKey and KeyAddress come with a reservation from a session key:
	// the service signs the payment after the decision, with no other read.
	SealedKey  string
	KeyAddress string
	// Mint is the token of the amounts: the key's mint, or the session's
	// for a session payment ("" for records made before several tokens).
	Mint string

	newPayment fields // what the script answered of a payment it created (decide.go)
}

// fields is a payment record as it is stored: text values by name (its
// hash, or the payment in a script's reply). The key, session, approval and
// sweep scripts answer typed replies instead (replies.go).
type fields map[string]string

func (f fields) str(name string) string { return f[name] }

func (f fields) int(name string) int64 {
	n, _ := strconv.ParseInt(f.str(name), 10, 64) // a field the record lacks is zero; the scripts write integers only
	return n
}

func (f fields) amount(name string) Amount { return Amount(f.int(name)) }

func (f fields) time(name string) time.Time {
	ms := f.int(name)
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func (f fields) payment() *Payment {
	return &Payment{
		ID: f.str("payment_id"), SessionKeyID: f.str("session_key_id"), SessionID: f.str("session_id"),
		AgentID: f.str("agent_id"), UserWallet: f.str("user_wallet"), Amount: f.amount("amount"),
		Recipient: f.str("recipient"), Description: f.str("description"),
		Status: PaymentStatus(f.str("status")), Signature: f.str("signature"), Blockhash: f.str("blockhash"),
		IdempotencyKey: f.str("idempotency_key"), Reason: f.str("reason"),
		CreatedAt: f.time("created_at"), UpdatedAt: f.time("updated_at"),
		Duplicate: f.str("duplicate") == "1", KeyRemaining: f.amount("key_remaining"),
	}
}
