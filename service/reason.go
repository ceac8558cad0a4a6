package service

import (
	"fmt"
	"strings"
	"time"

	"github.com/stipend/stipend/policy"
)

// reason is the one sentence an agent can act on: what fails, what is left
// and until when, and what would work instead.
func (s *Service) reason(d *policy.Decision) string {
	tok := " " + s.symbolOf(d.Mint)
	f := func(a policy.Amount) string { return s.formatIn(d.Mint, a) }
	if d.Allowed {
		if d.ApprovalRequired {
			return "Allowed with the owner's approval: pay will return an approval link for the owner."
		}
		return fmt.Sprintf("Allowed: up to %s%s can be paid now.", f(d.MaxAffordableNow), tok)
	}
	var parts []string
	needOwner, needTopUp := false, false
	for _, c := range d.Checks {
		switch c.Code {
		case policy.CodeInsufficientFunds:
			parts = append(parts, fmt.Sprintf("Session key balance: %s%s left of %s%s", f(c.Remaining), tok, f(c.Limit), tok))
			needTopUp = true
		case policy.CodePerTransactionLimit:
			parts = append(parts, fmt.Sprintf("Per-transaction limit: %s%s", f(c.Limit), tok))
		case policy.CodeDailyLimit, policy.CodeWeeklyLimit, policy.CodeMonthlyLimit:
			name := map[policy.Code]string{policy.CodeDailyLimit: "Daily", policy.CodeWeeklyLimit: "Weekly", policy.CodeMonthlyLimit: "Monthly"}[c.Code]
			p := fmt.Sprintf("%s limit: %s%s left", name, f(c.Remaining), tok)
			if !c.ResetsAt.IsZero() {
				p += " until " + clock(c.ResetsAt, d.Now)
			}
			parts = append(parts, p)
		case policy.CodeExpired:
			parts = append(parts, "The "+subject(c.Param)+" expired")
			needOwner = true
		case policy.CodeRevoked:
			parts = append(parts, "The "+subject(c.Param)+" was revoked")
			needOwner = true
		case policy.CodeNotActive:
			parts = append(parts, "The session key is not funded yet: the owner must open its approval link")
			needOwner = true
		case policy.CodeRecipientNotAllowed:
			parts = append(parts, "The recipient is not on the session's allow-list")
			needOwner = true
		default:
			parts = append(parts, c.Message)
		}
	}
	out := strings.Join(parts, "; ")
	switch {
	case needOwner:
		out += "; only the owner can change this (create a new session key if needed)."
	case d.MaxAffordableNow > 0 && needTopUp:
		out += fmt.Sprintf("; ask the owner for a top-up with top_up_request or pay at most %s%s now.", f(d.MaxAffordableNow), tok)
	case d.MaxAffordableNow > 0:
		out += fmt.Sprintf("; pay at most %s%s now", f(d.MaxAffordableNow), tok)
		if d.NextAvailableAt != nil {
			out += " or retry the full amount after " + clock(*d.NextAvailableAt, d.Now)
		}
		out += "."
	case d.NextAvailableAt != nil:
		out += "; retry after " + clock(*d.NextAvailableAt, d.Now) + " or ask the owner to raise the limit."
	case needTopUp:
		out += "; ask the owner for a top-up with top_up_request."
	default:
		out += "; ask the owner to raise the limit."
	}
	return out
}

func subject(param string) string {
	if param == "session_id" {
		return "linked session"
	}
	return "session key"
}

// clock writes a time as HH:MM UTC, with the date when it is not within a day.
func clock(t, now time.Time) string {
	t = t.UTC()
	if !now.IsZero() && t.Sub(now) < 20*time.Hour {
		return t.Format("15:04 UTC")
	}
	return t.Format("2006-01-02 15:04 UTC")
}
