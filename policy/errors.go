package policy

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error or refusal code.
type Code string

// The codes an agent, the owner or the operator can meet.
const (
	CodePerTransactionLimit Code = "per_transaction_limit"
	CodeDailyLimit          Code = "daily_limit"
	CodeWeeklyLimit         Code = "weekly_limit"
	CodeMonthlyLimit        Code = "monthly_limit"
	CodeInsufficientFunds   Code = "insufficient_funds"
	CodeNotActive           Code = "not_active"
	CodeExpired             Code = "expired"
	CodeRevoked             Code = "revoked"
	CodeApprovalRequired    Code = "approval_required"
	CodeRecipientNotAllowed Code = "recipient_not_allowed"
	CodeInvalidArgument     Code = "invalid_argument"
	CodeNotFound            Code = "not_found"
	CodeConflict            Code = "conflict"
	CodeUnavailable         Code = "unavailable"
	// CodeDeviceMismatch: a key bound to a device was asked to pay without that device's fingerprint.
	CodeDeviceMismatch Code = "device_mismatch"
	// CodeTokenMismatch: a session's limits are in one token, and a key of another was linked to it.
	CodeTokenMismatch Code = "token_mismatch"
)

// Error is an error with a stable code, a human message and the offending
// parameter, as Stripe's API reports them.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
	// Cause is the failure behind an unavailable error, for the log only:
	// it is never shown to an agent, the owner or the operator's client.
	Cause error `json:"-"`
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Cause }

// Error implements error.
func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Param)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, policy.ErrNotFound) works for any not_found error.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// Sentinels to compare errors against with errors.Is.
var (
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument, Message: "invalid argument"}
	ErrNotFound        = &Error{Code: CodeNotFound, Message: "not found"}
	ErrConflict        = &Error{Code: CodeConflict, Message: "conflict"}
	ErrExpired         = &Error{Code: CodeExpired, Message: "expired"}
	ErrRevoked         = &Error{Code: CodeRevoked, Message: "revoked"}
	ErrNotActive       = &Error{Code: CodeNotActive, Message: "not active"}
)

// Errorf builds an *Error with a code, the offending parameter and a message.
func Errorf(code Code, param, format string, args ...any) *Error {
	return &Error{Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err if it carries one, else "".
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
