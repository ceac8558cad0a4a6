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

// PageData is what the approval page shows; the JSON of GET /approve/{token}
// (Accept: application/json), as Go values.
type PageData struct {
	Token       string `json:"token"`
	Kind        string `json:"kind"`   // fund, top_up, payment, own_payment, link, unlink, limits
	Status      string `json:"status"` // pending, processing, used, cancelled, expired
	UserWallet  string `json:"user_wallet"`
	AgentID     string `json:"agent_id"`
	Sign        string `json:"sign"`                  // transaction or message
	Transaction string `json:"transaction,omitempty"` // base64 wire transaction, signatures zeroed
	Message     string `json:"message,omitempty"`     // UTF-8 text to sign
	// Chain is the Wallet Standard chain the wallet signs for ("solana:mainnet",
	// "solana:devnet", "solana:localnet"). Empty: solana:localnet.
	Chain string `json:"chain,omitempty"`
	// Mint is the configured token's mint, so the page can name amounts of it by their symbol.
	Mint      string          `json:"mint,omitempty"`
	Summary   Summary         `json:"summary"`
	ExpiresAt time.Time       `json:"expires_at,omitzero"`
	Result    json.RawMessage `json:"result,omitempty"`
	// Nonce is a CSP nonce. The page needs none (it has no inline script or
	// style); kept so a caller can pass one through.
	Nonce string `json:"-"`
}

// Summary says in words what will be signed: the service's summary, as is.
type Summary = service.Summary

// Line is one extra labelled fact of a summary.
type Line = service.Line

// PageCSP is the Content-Security-Policy of the approval page and its assets.
const PageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// DefaultChain is the chain the page asks the wallet to sign for when PageData.Chain is empty.
const DefaultChain = "solana:localnet"

//go:embed templates/*.html
var pageTemplateFS embed.FS

//go:embed static
var pageStaticFS embed.FS

var pageTemplate = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"short": pageShortAddress,
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

// RenderPage writes the approval page for d: the HTML, its Content-Type and a
// strict Content-Security-Policy. A page that may not be signed any more
// (used, cancelled, expired, being processed, or past ExpiresAt) says so and
// has no sign button.
func RenderPage(w http.ResponseWriter, d PageData) error {
	v := newPageView(d, time.Now())
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, v); err != nil {
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

// pageClientData is what the page's script needs, embedded as JSON.
type pageClientData struct {
	Token       string `json:"token"`
	Kind        string `json:"kind"`
	Status      string `json:"status"`
	UserWallet  string `json:"user_wallet"`
	Sign        string `json:"sign"`
	Transaction string `json:"transaction,omitempty"`
	Message     string `json:"message,omitempty"`
	Chain       string `json:"chain"`
	CanSign     bool   `json:"can_sign"`
	ExpiresAt   string `json:"expires_at,omitempty"`
	// Mint and Token name the configured token, so the page can call its
	// amounts by their symbol; Names label addresses the page may meet.
	Mint   string            `json:"mint,omitempty"`
	Symbol string            `json:"symbol,omitempty"`
	Names  map[string]string `json:"names,omitempty"`
}

// pageLimitRow is one row of a limits table.
type pageLimitRow struct {
	Label, Current, New, Change string
}

// pageView is the template's input: PageData turned into sentences and rows.
type pageView struct {
	D          PageData
	Heading    string
	Lead       string   // what happens, in one or two sentences
	Notes      []string // further plain facts (what it costs, how to undo)
	Facts      []Line
	LimitsHead string
	LimitRows  []pageLimitRow
	ShowNew    bool
	Extra      []Line
	SignWhat   string // "a transaction" or "a message"
	Button     string
	Expires    string
	ExpiresISO string
	CanSign    bool
	StateTitle string
	StateText  string
	StateClass string
	Result     []Line
	Client     pageClientData
}

var pageLimitOrder = []struct{ key, label string }{
	{"max_per_transaction", "Each payment at most"},
	{"max_per_day", "Per day (any 24 hours)"},
	{"max_per_week", "Per week (any 7 days)"},
	{"max_per_month", "Per month (any 30 days)"},
	{"require_approval_above", "Ask me to approve payments above"},
}

func newPageView(d PageData, now time.Time) pageView {
	s := d.Summary
	v := pageView{D: d}
	tok := s.Token
	if tok == "" {
		tok = "USDC"
	}
	amt := ""
	if s.Amount != "" {
		amt = s.Amount + " " + tok
	}
	agent := d.AgentID
	if agent == "" {
		agent = "an agent"
	} else {
		agent = "the agent “" + agent + "”"
	}
	keyExp := pageFormatTime(s.KeyExpiresAt)
	remaining := ""
	if s.RemainingAfter != "" {
		remaining = s.RemainingAfter + " " + tok
	}

	v.Heading = s.Title
	switch d.Kind {
	case "fund":
		if v.Heading == "" {
			v.Heading = "Fund a new session key"
		}
		v.Lead = fmt.Sprintf("You are moving %s from your wallet into a new session key for %s. "+
			"The agent can then spend up to %s from that key without asking you again.", pageOr(amt, "USDC"), agent, pageOr(amt, "that amount"))
		if keyExp != "" {
			v.Notes = append(v.Notes, "The key stops working on "+keyExp+".")
		}
		v.Notes = append(v.Notes, "You can revoke the key at any time; what is left on it goes back to your wallet.")
	case "top_up":
		if v.Heading == "" {
			v.Heading = "Top up a session key"
		}
		v.Lead = fmt.Sprintf("You are adding %s from your wallet to %s of %s.", pageOr(amt, "USDC"), pageNamed("the session key", s.SessionKeyID), agent)
		if remaining != "" {
			v.Notes = append(v.Notes, "Afterwards the agent can spend up to "+remaining+" from this key.")
		}
	case "payment":
		if v.Heading == "" {
			v.Heading = "Approve a payment"
		}
		v.Lead = fmt.Sprintf("%s wants to pay %s to %s.",
			pageCapitalize(agent), pageOr(amt, "an amount"), pageOr(pageShortAddress(s.Recipient), "a recipient"))
		if th := s.Limits["require_approval_above"]; th != "" {
			v.Lead += fmt.Sprintf(" You asked to approve yourself each payment above %s %s.", th, tok)
		} else {
			v.Lead += " It needs your approval before it is made."
		}
		v.Notes = append(v.Notes, "You sign a message, not a transaction: signing costs nothing. The money comes from the session key, not from your wallet.")
		if remaining != "" {
			v.Notes = append(v.Notes, "Afterwards "+remaining+" remain.")
		}
	case "own_payment":
		if v.Heading == "" {
			v.Heading = "Pay from your wallet"
		}
		v.Lead = fmt.Sprintf("%s wants to pay %s from your own wallet to %s.",
			pageCapitalize(agent), pageOr(amt, "an amount"), pageOr(pageShortAddress(s.Recipient), "a recipient"))
		if remaining != "" {
			v.Notes = append(v.Notes, "Afterwards the session allows "+remaining+" more.")
		}
	case "link":
		if v.Heading == "" {
			v.Heading = "Link a session key to a session"
		}
		v.Lead = fmt.Sprintf("You are putting %s and its limits on %s of %s. "+
			"From then on each payment must stay within both the key's balance and every limit below.", pageNamed("the session", s.SessionID), pageNamed("the session key", s.SessionKeyID), agent)
		v.Notes = append(v.Notes, "You sign a message: it costs nothing and moves no money.")
	case "unlink":
		if v.Heading == "" {
			v.Heading = "Remove a session's limits from a key"
		}
		v.Lead = fmt.Sprintf("You are removing %s from %s of %s. "+
			"Afterwards the limits below no longer apply: only the key's balance caps what the agent can spend.", pageNamed("the session", s.SessionID), pageNamed("the session key", s.SessionKeyID), agent)
		v.Notes = append(v.Notes, "You sign a message: it costs nothing and moves no money.")
	case "limits":
		if v.Heading == "" {
			v.Heading = "Change a session's limits"
		}
		v.Lead = fmt.Sprintf("You are changing the spending limits of %s of %s, as shown below.", pageNamed("the session", s.SessionID), agent)
		v.Notes = append(v.Notes, "You sign a message: it costs nothing and moves no money.")
	default:
		if v.Heading == "" {
			v.Heading = "Approve a request"
		}
		v.Lead = fmt.Sprintf("%s asks you to approve this request.", pageCapitalize(agent))
	}
	if s.Description != "" {
		v.Notes = append(v.Notes, "The agent's description: “"+s.Description+"”.")
	}

	// Key facts, in a fixed order.
	add := func(label, value string) {
		if value != "" {
			v.Facts = append(v.Facts, Line{Label: label, Value: value})
		}
	}
	add("Amount", amt)
	add("Recipient", s.Recipient)
	add("Agent", d.AgentID)
	add("Your wallet", d.UserWallet)
	add("Session key", s.SessionKeyID)
	add("Session key address", s.SessionKeyAddress)
	add("Session", s.SessionID)
	add("Key expires", keyExp)
	switch d.Kind {
	case "payment", "own_payment":
		add("Remaining afterwards", remaining)
	default:
		add("Key can spend afterwards", remaining)
	}

	// Limits: the session's, or old against new.
	if len(s.NewLimits) > 0 {
		v.LimitsHead = "Limits: now and after you sign"
		v.ShowNew = true
	} else if len(s.Limits) > 0 {
		v.LimitsHead = "The session's limits"
		if d.Kind == "unlink" {
			v.LimitsHead = "Limits that stop applying"
		}
	}
	if v.LimitsHead != "" {
		for _, l := range pageLimitOrder {
			cur, hasCur := s.Limits[l.key]
			nw, hasNew := s.NewLimits[l.key]
			if !hasCur && !hasNew {
				continue
			}
			row := pageLimitRow{Label: l.label, Current: pageLimitText(l.key, cur, tok)}
			if v.ShowNew {
				row.New = pageLimitText(l.key, nw, tok)
				row.Change = pageLimitChange(l.key, cur, nw)
			}
			v.LimitRows = append(v.LimitRows, row)
		}
	}

	// Extra lines from the server, without repeating a fact already shown.
	seen := map[string]bool{}
	for _, f := range v.Facts {
		seen[strings.ToLower(f.Label)] = true
	}
	for _, l := range s.Lines {
		if l.Label == "" || seen[strings.ToLower(l.Label)] {
			continue
		}
		seen[strings.ToLower(l.Label)] = true
		v.Extra = append(v.Extra, l)
	}

	if d.Sign == "message" {
		v.SignWhat = "a message"
		v.Button = "Sign message with wallet"
	} else {
		v.SignWhat = "a transaction"
		v.Button = "Sign transaction with wallet"
	}
	if !d.ExpiresAt.IsZero() {
		v.Expires = d.ExpiresAt.UTC().Format("2 Jan 2006, 15:04 UTC")
		v.ExpiresISO = d.ExpiresAt.UTC().Format(time.RFC3339)
	}

	status := d.Status
	if status == "" {
		status = "pending"
	}
	if status == "pending" && !d.ExpiresAt.IsZero() && !now.Before(d.ExpiresAt) {
		status = "expired"
	}
	switch status {
	case "pending":
		v.CanSign = (d.Sign == "transaction" && d.Transaction != "") || (d.Sign == "message" && d.Message != "")
		if !v.CanSign {
			v.StateClass = "error"
			v.StateTitle = "This request cannot be signed"
			v.StateText = "The page has nothing to sign. Ask the agent for a new link."
		}
	case "processing":
		v.StateClass = "info"
		v.StateTitle = "Being processed"
		v.StateText = "This approval was signed and is being processed. This page updates when it is done; nothing more is needed from you."
	case "used":
		v.StateClass = "success"
		v.StateTitle = "Already approved"
		v.StateText = "This link was used: the request was signed and done. Nothing more is needed from you."
		v.Result = pageResultLines(d.Result)
	case "cancelled":
		v.StateClass = "error"
		v.StateTitle = "Cancelled"
		v.StateText = "This request was cancelled. Nothing was signed through this link and nothing changed. Ask the agent for a new link if you still want it."
	case "expired":
		v.StateClass = "error"
		v.StateTitle = "This link has expired"
		v.StateText = "Nothing was signed and nothing changed. Ask the agent for a new link."
	default:
		v.StateClass = "error"
		v.StateTitle = "This request cannot be signed"
		v.StateText = "Its state is “" + status + "”. Ask the agent for a new link."
	}

	chain := pageChain(d.Chain)
	v.Client = pageClientData{
		Token: d.Token, Kind: d.Kind, Status: status, UserWallet: d.UserWallet, Sign: d.Sign,
		Chain: chain, CanSign: v.CanSign, ExpiresAt: v.ExpiresISO,
	}
	if v.CanSign {
		v.Client.Transaction = d.Transaction
		v.Client.Message = d.Message
		v.Client.Mint, v.Client.Symbol = d.Mint, tok
		if s.SessionKeyAddress != "" {
			v.Client.Names = map[string]string{s.SessionKeyAddress: "the session key"}
		}
	}
	return v
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
func pageResultLines(raw json.RawMessage) []Line {
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
	var out []Line
	for _, l := range labels {
		if s, ok := m[l.key].(string); ok && s != "" {
			out = append(out, Line{Label: l.label, Value: s})
		}
	}
	return out
}

func pageLimitText(key, value, token string) string {
	if value == "" {
		if key == "require_approval_above" {
			return "Not set"
		}
		return "No limit"
	}
	return value + " " + token
}

// pageLimitChange says whether a new limit lets the agent spend more or less.
func pageLimitChange(key, cur, nw string) string {
	if cur == nw || (cur != "" && nw != "" && !pageDecimalLess(cur, nw) && !pageDecimalLess(nw, cur)) {
		return "unchanged"
	}
	// An empty limit means none: the loosest possible.
	looser := func(a, b string) bool { // is a looser than b?
		if a == "" {
			return b != ""
		}
		if b == "" {
			return false
		}
		return pageDecimalLess(b, a)
	}
	if looser(nw, cur) {
		if key == "require_approval_above" {
			return "asks you less"
		}
		return "raised"
	}
	if key == "require_approval_above" {
		return "asks you more"
	}
	return "lowered"
}

// pageDecimalLess compares two non-negative decimal texts such as "25.5" and "100.00".
func pageDecimalLess(a, b string) bool {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	ai = strings.TrimLeft(ai, "0")
	bi = strings.TrimLeft(bi, "0")
	if len(ai) != len(bi) {
		return len(ai) < len(bi)
	}
	if ai != bi {
		return ai < bi
	}
	for len(af) < len(bf) {
		af += "0"
	}
	for len(bf) < len(af) {
		bf += "0"
	}
	return af < bf
}

func pageFormatTime(s string) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

// pageShortAddress shortens a base58 address to its first and last four characters.
func pageShortAddress(a string) string {
	if len(a) <= 12 {
		return a
	}
	return a[:4] + "…" + a[len(a)-4:]
}

func pageOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// pageNamed is "the session sess_1", or "the session" when the id is unknown.
func pageNamed(what, id string) string {
	if id == "" {
		return what
	}
	return what + " " + id
}

func pageCapitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
