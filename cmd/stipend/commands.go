package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/service"
)

// runFn is what a subcommand does once its flags are parsed.
type runFn = func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error

// call sends a request; with --json it prints the raw answer, else decodes
// it into out and calls show.
func call[T any](ctx context.Context, c *adminClient, e env, asJSON bool, method, path string, body any, show func(*T)) error {
	var raw json.RawMessage
	if err := c.do(ctx, method, path, body, &raw); err != nil {
		return err
	}
	if asJSON {
		printJSON(e.stdout, raw)
		return nil
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	show(out)
	return nil
}

func sessionKeysCmd(ctx context.Context, args []string, e env) int {
	return dispatch(ctx, "session-keys", []command{
		{"create", "create --agent-id ID --wallet W --max-amount 100 [--expiry-hours 24] [--session sess_…]", func(fs *flag.FlagSet) runFn {
			agent := fs.String("agent-id", "", "agent that may spend from the key (required)")
			wallet := fs.String("wallet", "", "owner's wallet (user_wallet) that funds the key (required)")
			maxAmount := fs.String("max-amount", "", "USDC to put on the key, e.g. 100 (required)")
			hours := fs.Float64("expiry-hours", 24, "hours until the key expires")
			sess := fs.String("session", "", "agent session (sess_…) to link once created")
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				if len(pos) > 0 {
					return usageErr("unexpected argument %q", pos[0])
				}
				if *agent == "" || *wallet == "" || *maxAmount == "" {
					return usageErr("--agent-id, --wallet and --max-amount are required")
				}
				body := stipend.CreateKeyRequest{AgentID: *agent, UserWallet: *wallet, MaxAmount: amountArg(*maxAmount), ExpiryHours: *hours, SessionID: *sess}
				return call(ctx, c, e, asJSON, "POST", "/admin/session-keys", body, func(k *service.KeyCreated) {
					t := newTable(e.stdout)
					showKey(t, k.KeyView)
					t.kv("Approval URL", k.ApprovalURL)
					t.kv("Approval expires", k.ApprovalExpiresAt)
					t.flush()
					fmt.Fprintf(e.stdout, "\nThe owner (%s) must open the approval URL and sign the funding of %s %s.\n", k.UserWallet, k.MaxAmount, k.Token)
				})
			}
		}},
		{"status", "status sk_…", func(fs *flag.FlagSet) runFn {
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				id, err := one(pos, "session key id", "sk_")
				if err != nil {
					return err
				}
				return call(ctx, c, e, asJSON, "GET", "/admin/session-keys/"+url.PathEscape(id), nil, func(k *service.KeyView) {
					t := newTable(e.stdout)
					showKey(t, k)
					t.flush()
				})
			}
		}},
		{"top-up", "top-up sk_… --amount 50", func(fs *flag.FlagSet) runFn {
			amount := fs.String("amount", "", "USDC to add (required)")
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				id, err := one(pos, "session key id", "sk_")
				if err != nil {
					return err
				}
				if *amount == "" {
					return usageErr("--amount is required")
				}
				return call(ctx, c, e, asJSON, "POST", "/admin/session-keys/"+url.PathEscape(id)+"/top-up",
					stipend.AmountRequest{Amount: amountArg(*amount)}, func(t *service.TopUpCreated) {
						tb := newTable(e.stdout)
						tb.kv("Session key", t.SessionKeyID)
						tb.kv("Amount", t.Amount)
						tb.kv("New max amount", t.NewMaxAmount)
						tb.kv("Approval URL", t.ApprovalURL)
						tb.kv("Approval expires", t.ApprovalExpiresAt)
						tb.flush()
						fmt.Fprintln(e.stdout, "\nThe owner must open the approval URL and sign the top-up.")
					})
			}
		}},
		{"revoke", "revoke sk_… [--reason TEXT]", func(fs *flag.FlagSet) runFn {
			reason := fs.String("reason", "", "why (kept in the audit log)")
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				id, err := one(pos, "session key id", "sk_")
				if err != nil {
					return err
				}
				return call(ctx, c, e, asJSON, "POST", "/admin/session-keys/"+url.PathEscape(id)+"/revoke",
					stipend.RevokeRequest{Reason: *reason}, func(r *service.Revoked) {
						t := newTable(e.stdout)
						t.kv("Session key", r.SessionKeyID)
						t.kv("Status", r.Status)
						t.kv("Swept to owner", r.SweptAmount+" "+r.Token)
						t.kv("Sweep signature", r.SweepSignature)
						t.kv("Sweep error", r.SweepError)
						t.flush()
					})
			}
		}},
		{"list", "list [--agent-id ID]", func(fs *flag.FlagSet) runFn {
			agent := fs.String("agent-id", "", "only this agent's keys")
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				if len(pos) > 0 {
					return usageErr("unexpected argument %q", pos[0])
				}
				path := "/admin/session-keys"
				if *agent != "" {
					path += "?agent_id=" + url.QueryEscape(*agent)
				}
				return call(ctx, c, e, asJSON, "GET", path, nil, func(l *stipend.KeyList) {
					t := newTable(e.stdout)
					t.row("SESSION KEY", "STATUS", "AGENT", "MAX", "SPENT", "REMAINING", "TXS", "SESSION", "EXPIRES")
					for _, k := range l.SessionKeys {
						t.row(k.SessionKeyID, k.Status, k.AgentID, k.MaxAmount, k.SpentAmount, k.RemainingAmount,
							k.TransactionCount, k.LinkedSessionID, k.ExpiresAt)
					}
					t.flush()
					fmt.Fprintf(e.stdout, "Total: %d\n", l.Total)
				})
			}
		}},
		{"can-afford", "can-afford sk_… --amount 80 [--recipient ADDR]", func(fs *flag.FlagSet) runFn {
			amount := fs.String("amount", "", "USDC amount to check (required)")
			recipient := fs.String("recipient", "", "recipient address (for allow-lists)")
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				id, err := one(pos, "session key id", "sk_")
				if err != nil {
					return err
				}
				if *amount == "" {
					return usageErr("--amount is required")
				}
				return call(ctx, c, e, asJSON, "POST", "/admin/session-keys/"+url.PathEscape(id)+"/can-afford",
					stipend.CanAffordRequest{Amount: amountArg(*amount), Recipient: *recipient}, func(d *service.DecisionView) {
						showDecision(e, d)
					})
			}
		}},
	}, args, e)
}

func showKey(t *table, k *service.KeyView) {
	if k == nil {
		return
	}
	t.kv("Session key", k.SessionKeyID)
	t.kv("Status", k.Status)
	t.kv("Agent", k.AgentID)
	t.kv("User wallet", k.UserWallet)
	t.kv("Address", k.SessionKeyAddress)
	t.kv("PKP public key", k.PKPPublicKey)
	t.kv("Max amount", k.MaxAmount+" "+k.Token)
	t.kv("Spent", k.SpentAmount)
	t.kv("Remaining", k.RemainingAmount)
	t.kv("Transactions", k.TransactionCount)
	t.kv("Linked session", k.LinkedSessionID)
	t.kv("Created", k.CreatedAt)
	t.kv("Expires", k.ExpiresAt)
	t.kv("Last activity", k.Security.LastActivity)
	t.kv("Risk score", k.Security.RiskScore)
	if k.Session != nil {
		showLimits(t, k.Session)
	}
}

func showLimits(t *table, s *service.SessionView) {
	t.kv("Max per transaction", s.MaxPerTransaction)
	t.kv("Max per day", s.MaxPerDay)
	t.kv("Max per week", s.MaxPerWeek)
	t.kv("Max per month", s.MaxPerMonth)
	t.kv("Approval above", s.RequireApprovalAbove)
	if len(s.AllowedRecipients) > 0 {
		t.kv("Allowed recipients", strings.Join(s.AllowedRecipients, ", "))
	}
	t.kv("Spent today", s.SpentToday)
	t.kv("Spent this week", s.SpentThisWeek)
	t.kv("Spent this month", s.SpentThisMonth)
}

func showDecision(e env, d *service.DecisionView) {
	t := newTable(e.stdout)
	t.kv("Allowed", d.Allowed)
	if d.ApprovalRequired {
		t.kv("Approval required", true)
	}
	t.kv("Reason", d.Reason)
	t.kv("Largest amount now", d.MaxAffordableNow)
	if d.SessionKeyRemaining != nil {
		t.kv("Session key remaining", *d.SessionKeyRemaining)
	}
	if d.SessionRemainingToday != nil {
		t.kv("Session remaining today", *d.SessionRemainingToday)
	}
	t.flush()
	if len(d.Checks) > 0 {
		fmt.Fprintln(e.stdout)
		t = newTable(e.stdout)
		t.row("FAILING CHECK", "LIMIT", "USED", "REMAINING", "RESETS")
		for _, c := range d.Checks {
			t.row(c.Code, c.Limit, c.Used, c.Remaining, c.ResetsAt)
		}
		t.flush()
	}
}

// limitFlags are a session's limits as flags.
type limitFlags struct {
	perTx, perDay, perWeek, perMonth, above *string
}

func addLimitFlags(fs *flag.FlagSet) limitFlags {
	return limitFlags{
		perTx:    fs.String("max-per-transaction", "", "largest single payment"),
		perDay:   fs.String("max-per-day", "", "most in any 24 hours"),
		perWeek:  fs.String("max-per-week", "", "most in any 7 days"),
		perMonth: fs.String("max-per-month", "", "most in any 30 days"),
		above:    fs.String("require-approval-above", "", "payments above this need the owner's approval"),
	}
}

func (l limitFlags) request() stipend.LimitsRequest {
	return stipend.LimitsRequest{MaxPerTransaction: amountArg(*l.perTx), MaxPerDay: amountArg(*l.perDay),
		MaxPerWeek: amountArg(*l.perWeek), MaxPerMonth: amountArg(*l.perMonth), RequireApprovalAbove: amountArg(*l.above)}
}

func showSession(e env, s *service.SessionView) {
	t := newTable(e.stdout)
	t.kv("Session", s.SessionID)
	t.kv("Status", s.Status)
	t.kv("Agent", s.AgentID)
	t.kv("User wallet", s.UserWallet)
	showLimits(t, s)
	t.kv("Expires", s.ExpiresAt)
	t.flush()
}

func showApprovalLink(e env, l *service.ApprovalLink, note string) {
	t := newTable(e.stdout)
	t.kv("Approval URL", l.ApprovalURL)
	t.kv("Approval expires", l.ApprovalExpiresAt)
	t.flush()
	fmt.Fprintln(e.stdout, "\n"+note)
}

func sessionsCmd(ctx context.Context, args []string, e env) int {
	return dispatch(ctx, "sessions", []command{
		{"create", "create --agent-id ID --wallet W [--max-per-transaction N] [--max-per-day N] [--max-per-week N] [--max-per-month N] [--require-approval-above N] [--duration-hours 168] [--allow ADDR]...", func(fs *flag.FlagSet) runFn {
			agent := fs.String("agent-id", "", "agent the session is for (required)")
			wallet := fs.String("wallet", "", "owner's wallet (required)")
			hours := fs.Float64("duration-hours", 168, "hours the session lasts")
			var allow multi
			fs.Var(&allow, "allow", "allowed recipient address (repeat, or comma-separated); none = any")
			lf := addLimitFlags(fs)
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				if len(pos) > 0 {
					return usageErr("unexpected argument %q", pos[0])
				}
				if *agent == "" || *wallet == "" {
					return usageErr("--agent-id and --wallet are required")
				}
				body := stipend.CreateSessionRequest{AgentID: *agent, UserWallet: *wallet, DurationHours: *hours,
					AllowedRecipients: allow, LimitsRequest: lf.request()}
				return call(ctx, c, e, asJSON, "POST", "/admin/sessions", body, func(s *service.SessionView) { showSession(e, s) })
			}
		}},
		{"show", "show sess_…", func(fs *flag.FlagSet) runFn {
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				id, err := one(pos, "session id", "sess_")
				if err != nil {
					return err
				}
				return call(ctx, c, e, asJSON, "GET", "/admin/sessions/"+url.PathEscape(id), nil, func(s *service.SessionView) { showSession(e, s) })
			}
		}},
		{"link", "link sk_… sess_…", func(fs *flag.FlagSet) runFn {
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				if len(pos) != 2 || !strings.HasPrefix(pos[0], "sk_") || !strings.HasPrefix(pos[1], "sess_") {
					return usageErr("want a session key id (sk_…) and a session id (sess_…)")
				}
				return call(ctx, c, e, asJSON, "POST", "/admin/session-keys/"+url.PathEscape(pos[0])+"/link",
					stipend.LinkRequest{SessionID: pos[1]}, func(k *service.KeyView) {
						t := newTable(e.stdout)
						showKey(t, k)
						t.flush()
					})
			}
		}},
		{"unlink", "unlink sk_… [--force]", func(fs *flag.FlagSet) runFn {
			force := fs.Bool("force", false, "unlink at once without the owner's approval (recorded as forced in the audit log)")
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				id, err := one(pos, "session key id", "sk_")
				if err != nil {
					return err
				}
				path := "/admin/session-keys/" + url.PathEscape(id) + "/unlink"
				if *force {
					return call(ctx, c, e, asJSON, "POST", path, stipend.UnlinkRequest{Force: true}, func(k *service.KeyView) {
						t := newTable(e.stdout)
						showKey(t, k)
						t.flush()
					})
				}
				return call(ctx, c, e, asJSON, "POST", path, stipend.UnlinkRequest{}, func(l *service.ApprovalLink) {
					showApprovalLink(e, l, "The key stays linked until the owner opens the approval URL and signs.")
				})
			}
		}},
		{"limits", "limits sess_… [--max-per-transaction N] [--max-per-day N] [--max-per-week N] [--max-per-month N] [--require-approval-above N] [--force]", func(fs *flag.FlagSet) runFn {
			lf := addLimitFlags(fs)
			force := fs.Bool("force", false, "apply at once without the owner's approval (recorded as forced in the audit log)")
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				id, err := one(pos, "session id", "sess_")
				if err != nil {
					return err
				}
				path := "/admin/sessions/" + url.PathEscape(id) + "/limits"
				if *force {
					return call(ctx, c, e, asJSON, "POST", path, stipend.SetLimitsRequest{LimitsRequest: lf.request(), Force: true}, func(s *service.SessionView) { showSession(e, s) })
				}
				return call(ctx, c, e, asJSON, "POST", path, stipend.SetLimitsRequest{LimitsRequest: lf.request()}, func(l *service.ApprovalLink) {
					showApprovalLink(e, l, "The new limits apply once the owner opens the approval URL and signs. Limits not given are removed.")
				})
			}
		}},
	}, args, e)
}

func payCmd(ctx context.Context, args []string, e env) int {
	return dispatch(ctx, "", []command{{"pay", "pay --agent-id ID --session-key sk_… --recipient ADDR --amount N [--description T] [--idempotency-key K]", func(fs *flag.FlagSet) runFn {
		agent := fs.String("agent-id", "", "agent paying (the key's agent)")
		key := fs.String("session-key", "", "session key to pay from (sk_…)")
		sess := fs.String("session", "", "or: session (sess_…) paying from the owner's wallet, with the owner's approval")
		recipient := fs.String("recipient", "", "recipient address (required)")
		amount := fs.String("amount", "", "USDC amount (required)")
		desc := fs.String("description", "", "what it is for")
		idem := fs.String("idempotency-key", "", "retrying with the same key never pays twice")
		return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
			if len(pos) > 0 {
				return usageErr("unexpected argument %q", pos[0])
			}
			if *recipient == "" || *amount == "" || (*key == "") == (*sess == "") {
				return usageErr("--recipient, --amount and one of --session-key or --session are required")
			}
			body := stipend.PayRequest{AgentID: *agent, SessionKeyID: *key, SessionID: *sess, Recipient: *recipient,
				Amount: amountArg(*amount), Description: *desc, IdempotencyKey: *idem}
			return call(ctx, c, e, asJSON, "POST", "/admin/payments", body, func(p *service.PayResult) {
				t := newTable(e.stdout)
				t.kv("Status", p.Status)
				t.kv("Payment", p.PaymentID)
				t.kv("Amount", p.Amount)
				t.kv("Recipient", p.Recipient)
				t.kv("Transaction", p.TransactionSignature)
				t.kv("Remaining", p.RemainingAmount)
				t.kv("Reason", p.Reason)
				if p.ApprovalLink != nil {
					t.kv("Approval URL", p.ApprovalURL)
				}
				t.flush()
			})
		}
	}}}, append([]string{"pay"}, args...), e)
}

func auditCmd(ctx context.Context, args []string, e env) int {
	walletQuery := func(wallet string, pos []string, required bool) (string, error) {
		switch {
		case wallet != "" && len(pos) > 0:
			return "", usageErr("give --wallet or a session key id, not both")
		case len(pos) > 1:
			return "", usageErr("unexpected argument %q", pos[1])
		case len(pos) == 1:
			if !strings.HasPrefix(pos[0], "sk_") {
				return "", usageErr("%q is not a session key id (sk_…)", pos[0])
			}
			return "?session_key_id=" + url.QueryEscape(pos[0]), nil
		case wallet != "":
			return "?wallet=" + url.QueryEscape(wallet), nil
		case required:
			return "", usageErr("give --wallet W or a session key id")
		}
		return "", nil
	}
	return dispatch(ctx, "audit", []command{
		{"verify", "verify [--wallet W | sk_…]   (no argument: every wallet)", func(fs *flag.FlagSet) runFn {
			wallet := fs.String("wallet", "", "owner's wallet whose audit chain to verify")
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				q, err := walletQuery(*wallet, pos, false)
				if err != nil {
					return err
				}
				var broken bool
				err = call(ctx, c, e, asJSON, "GET", "/admin/audit/verify"+q, nil, func(v *stipend.AuditVerification) {
					t := newTable(e.stdout)
					t.row("WALLET", "ENTRIES", "CHAIN", "BROKEN AT")
					for _, w := range v.Wallets {
						state, at := "ok", ""
						if !w.OK {
							state = "BROKEN"
							if w.Break != nil {
								at = fmt.Sprintf("entry %d (seq %d): %s", w.Break.Index, w.Break.Seq, w.Break.Reason)
							}
						}
						t.row(w.Wallet, w.Entries, state, at)
					}
					t.flush()
					broken = !v.OK
				})
				if err == nil && broken {
					return &apiError{Code: "audit_broken", Message: "an audit chain is broken: an entry was altered or removed"}
				}
				return err
			}
		}},
		{"show", "show (--wallet W | sk_…)", func(fs *flag.FlagSet) runFn {
			wallet := fs.String("wallet", "", "owner's wallet whose audit log to show")
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				q, err := walletQuery(*wallet, pos, true)
				if err != nil {
					return err
				}
				return call(ctx, c, e, asJSON, "GET", "/admin/audit"+q, nil, func(l *stipend.AuditLog) {
					fmt.Fprintf(e.stdout, "Audit log of %s\n\n", l.Wallet)
					t := newTable(e.stdout)
					t.row("SEQ", "TIME", "EVENT", "HASH", "DATA")
					for _, en := range l.Entries {
						d, _ := json.Marshal(en.Data)
						h := en.Hash
						if len(h) > 12 {
							h = h[:12]
						}
						t.row(en.Seq, auditTime(en.TS), en.Event, h, string(d))
					}
					t.flush()
				})
			}
		}},
	}, args, e)
}

func webhooksCmd(ctx context.Context, args []string, e env) int {
	return dispatch(ctx, "webhooks", []command{
		{"status", "status", func(fs *flag.FlagSet) runFn {
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				if len(pos) > 0 {
					return usageErr("unexpected argument %q", pos[0])
				}
				return call(ctx, c, e, asJSON, "GET", "/admin/webhooks", nil, func(o *struct {
					Endpoints []stipend.WebhookEndpoint `json:"endpoints"`
				}) {
					t := newTable(e.stdout)
					t.row("ENDPOINT", "STATE", "BACKLOG", "OLDEST", "FAILURES", "LAST OK", "IN FLIGHT", "LAST ERROR")
					for _, p := range o.Endpoints {
						oldest := "-"
						if p.Backlog > 0 {
							oldest = (time.Duration(p.OldestUndeliveredAgeSeconds) * time.Second).String()
						}
						lastOK := p.LastSuccessAt
						if lastOK == "" {
							lastOK = "-"
						}
						t.row(p.Name, p.State, p.Backlog, oldest, p.ConsecutiveFailures, lastOK,
							fmt.Sprintf("%d/%d", p.InFlight, p.Slots), p.LastError)
					}
					t.flush()
				})
			}
		}},
		{"test", "test ENDPOINT", func(fs *flag.FlagSet) runFn {
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				if len(pos) != 1 {
					return usageErr("want the endpoint's name")
				}
				return call(ctx, c, e, asJSON, "POST", "/admin/webhooks/"+url.PathEscape(pos[0])+"/test", struct{}{}, func(m *stipend.WebhookStatus) {
					fmt.Fprintf(e.stdout, "Test event delivered to %s.\n", pos[0])
				})
			}
		}},
		{"dead", "dead [--limit N]", func(fs *flag.FlagSet) runFn {
			limit := fs.Int("limit", 100, "how many, newest first")
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				if len(pos) > 0 {
					return usageErr("unexpected argument %q", pos[0])
				}
				return call(ctx, c, e, asJSON, "GET", "/admin/webhooks/dead?limit="+strconv.Itoa(*limit), nil, func(out *stipend.DeadLetterList) {
					t := newTable(e.stdout)
					t.row("ID", "AT", "ENDPOINT", "EVENT", "ATTEMPTS", "ERROR")
					for _, d := range out.DeadLetters {
						t.row(d.ID, d.At, d.Endpoint, d.Event, d.Attempts, d.Error)
					}
					t.flush()
					fmt.Fprintf(e.stdout, "Total: %d\n", out.Total)
				})
			}
		}},
		{"retry", "retry DEAD_ID", func(fs *flag.FlagSet) runFn {
			return func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error {
				if len(pos) != 1 {
					return usageErr("want the dead letter's id (see: stipend webhooks dead)")
				}
				return call(ctx, c, e, asJSON, "POST", "/admin/webhooks/dead/"+url.PathEscape(pos[0])+"/retry", struct{}{}, func(m *stipend.WebhookStatus) {
					fmt.Fprintf(e.stdout, "Dead letter %s delivered and removed.\n", pos[0])
				})
			}
		}},
	}, args, e)
}

// auditTime shows an audit timestamp (unix milliseconds) as RFC 3339.
func auditTime(ts string) string {
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ts
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}
