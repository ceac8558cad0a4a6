package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/stipend/stipend/service"
)

// PageCSP is the Content-Security-Policy of the approval page and its assets.
const PageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// DefaultChain is the chain the page asks the wallet to sign for when the view names no cluster.
const DefaultChain = "solana:localnet"

//go:embed templates/*.html
var pageTemplateFS embed.FS

//go:embed static
var pageStaticFS embed.FS

// pageTemplate writes the page; amounts and times reach it typed and are
// written by its functions: money ("100.00 USDC"), when ("2 Jan 2030, 03:04
// UTC"), iso (RFC 3339) and short ("7xKX…gAsU").
var pageTemplate = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"short": pageShortAddress,
	"money": pageMoney,
	"when":  func(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") },
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).ParseFS(pageTemplateFS, "templates/*.html"))

// setPageSecurityHeaders sets the headers every approval page response carries.
// The token is in the URL: no referrer leaves the page, nothing is cached.
func setPageSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", PageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// RenderPage writes the approval page of the orchestrator's view v: the
// HTML, its Content-Type and a strict Content-Security-Policy. A page that
// may not be signed any more (used, cancelled, expired, being processed, or
// past ExpiresAt) says so and has no sign button.
func RenderPage(w http.ResponseWriter, v *service.ApprovalView) error {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, newPage(v, time.Now())); err != nil {
		return fmt.Errorf("render approval page: %w", err)
	}
	h := w.Header()
	setPageSecurityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf.Bytes())
	return err
}

// Assets serves the page's embedded static files; mount it as-is on
// /approve/static/.
func Assets() http.Handler {
	sub, err := fs.Sub(pageStaticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/approve/static/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/approve/static/")
		if name == r.URL.Path || name == "" || strings.HasSuffix(name, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		setPageSecurityHeaders(w.Header())
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// page is the template's input: the orchestrator's view as it is, and what
// the page makes of it. The view is also the page script's data, as JSON.
type page struct {
	V       *service.ApprovalView
	Status  string // the view's, or expired once its ExpiresAt has passed
	CanSign bool
	Chain   string // the Wallet Standard chain the wallet signs for
	Symbol  string // the token's symbol, USDC when the view names none
	Limits  []pageLimitRow
	Extra   []service.Line // the view's lines that are not one of the page's facts
	Result  []service.Line // what a used link came to
}

// pageLimitRow is one limit of a limits table: now, and after a change.
type pageLimitRow struct {
	Label    string
	None     string // what a nil limit means here: "No limit" or "Not set"
	Now, New *service.TokenAmount
	Change   string // raised, lowered, asks you less, asks you more, unchanged
}

// pageFacts are the labels of the facts the page shows itself: the view's
// lines of the same labels are not repeated.
var pageFacts = map[string]bool{"amount": true, "recipient": true, "agent": true, "your wallet": true,
	"session key": true, "session key address": true, "session": true, "key expires": true,
	"remaining afterwards": true, "key can spend afterwards": true}

func newPage(v *service.ApprovalView, now time.Time) page {
	p := page{V: v, Status: v.Status, Chain: pageChain(v.Cluster), Symbol: v.Summary.Token}
	if p.Symbol == "" {
		p.Symbol = "USDC"
	}
	if p.Status == "" {
		p.Status = "pending"
	}
	if p.Status == "pending" && !v.ExpiresAt.IsZero() && !now.Before(v.ExpiresAt) {
		p.Status = "expired"
	}
	p.CanSign = p.Status == "pending" && ((v.Sign == "transaction" && v.Transaction != "") || (v.Sign == "message" && v.Message != ""))
	if cur, nw := v.Summary.Limits, v.Summary.NewLimits; cur != nil || nw != nil {
		p.Limits = pageLimitRows(cur, nw)
	}
	seen := map[string]bool{}
	for _, l := range v.Summary.Lines {
		label := strings.ToLower(l.Label)
		if l.Label == "" || pageFacts[label] || seen[label] {
			continue
		}
		seen[label] = true
		p.Extra = append(p.Extra, l)
	}
	if p.Status == "used" {
		p.Result = pageResultLines(v.Result)
	}
	return p
}

// pageLimitRows are the rows of a session's limits (cur), and of the limits
// a change sets (nw, nil when none is asked).
func pageLimitRows(cur, nw *service.LimitsView) []pageLimitRow {
	get := func(l *service.LimitsView, f func(*service.LimitsView) *service.TokenAmount) *service.TokenAmount {
		if l == nil {
			return nil
		}
		return f(l)
	}
	rows := []struct {
		label     string
		threshold bool
		f         func(*service.LimitsView) *service.TokenAmount
	}{
		{"Each payment at most", false, func(l *service.LimitsView) *service.TokenAmount { return l.MaxPerTransaction }},
		{"Per day (any 24 hours)", false, func(l *service.LimitsView) *service.TokenAmount { return l.MaxPerDay }},
		{"Per week (any 7 days)", false, func(l *service.LimitsView) *service.TokenAmount { return l.MaxPerWeek }},
		{"Per month (any 30 days)", false, func(l *service.LimitsView) *service.TokenAmount { return l.MaxPerMonth }},
		{"Ask me to approve payments above", true, func(l *service.LimitsView) *service.TokenAmount { return l.RequireApprovalAbove }},
	}
	out := make([]pageLimitRow, 0, len(rows))
	for _, r := range rows {
		row := pageLimitRow{Label: r.label, None: "No limit", Now: get(cur, r.f), New: get(nw, r.f)}
		if r.threshold {
			row.None = "Not set"
		}
		if nw != nil {
			row.Change = pageLimitChange(r.threshold, row.Now, row.New)
		}
		out = append(out, row)
	}
	return out
}

// pageLimitChange says whether a new limit lets the agent spend more or less;
// threshold: the limit is the approval threshold. A nil limit is none, the
// loosest.
func pageLimitChange(threshold bool, cur, nw *service.TokenAmount) string {
	var c int // > 0: the new limit is looser
	switch {
	case cur == nil && nw == nil:
	case nw == nil:
		c = 1
	case cur == nil:
		c = -1
	default:
		c = nw.Cmp(*cur)
	}
	switch {
	case c == 0:
		return "unchanged"
	case c > 0 && threshold:
		return "asks you less"
	case c > 0:
		return "raised"
	case threshold:
		return "asks you more"
	}
	return "lowered"
}

// pageMoney writes an amount of the token symbol: "100.00 USDC".
func pageMoney(a *service.TokenAmount, symbol string) string {
	if a == nil {
		return ""
	}
	return a.String() + " " + symbol
}

// pageChain is the Wallet Standard chain id for a configured chain or cluster name:
// "solana:devnet" as is, "devnet" → "solana:devnet", "mainnet-beta" → "solana:mainnet".
func pageChain(c string) string {
	c = strings.TrimSpace(c)
	if c == "" {
		return DefaultChain
	}
	if !strings.Contains(c, ":") {
		c = "solana:" + c
	}
	if c == "solana:mainnet-beta" {
		c = "solana:mainnet"
	}
	return c
}

// pageResultLines turns a used approval's result into lines to show.
func pageResultLines(raw json.RawMessage) []service.Line {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	labels := []struct{ key, label string }{
		{"status", "Status"},
		{"session_key_id", "Session key"},
		{"session_id", "Session"},
		{"payment_id", "Payment"},
		{"new_max_amount", "Key's new total"},
		{"remaining_amount", "Remaining"},
		{"signature", "Transaction signature"},
	}
	var out []service.Line
	for _, l := range labels {
		if s, ok := m[l.key].(string); ok && s != "" {
			out = append(out, service.Line{Label: l.label, Value: s})
		}
	}
	return out
}

// pageShortAddress shortens a base58 address to its first and last four characters.
func pageShortAddress(a string) string {
	if len(a) <= 12 {
		return a
	}
	return a[:4] + "…" + a[len(a)-4:]
}
