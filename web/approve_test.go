package web_test

import (
	"net/http"
	"strings"
	"testing"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/web"
)

// TestApproveFunding funds a key through the approval page's endpoints, as
// the page's script does: GET the JSON, sign, POST.
func TestApproveFunding(t *testing.T) {
	e := newEnv(t, web.Options{}, testenv.StackOptions{})
	user := e.st.NewUser(t, 500*usdc)
	c, err := e.st.Service.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: agent, UserWallet: user.Address().String(), MaxAmount: 100 * usdc})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ApprovalURL, e.srv.URL+"/approve/") {
		t.Fatalf("approval url %q", c.ApprovalURL)
	}

	// The JSON view: what will be signed.
	r := e.do("GET", c.ApprovalURL, "", nil)
	var v service.ApprovalView
	r.json(t, &v)
	if r.status != 200 || v.Kind != "fund" || v.Status != "pending" || v.Sign != "transaction" || v.Transaction == "" || v.Summary.Amount == nil || v.Summary.Amount.String() != "100.00" {
		t.Fatalf("GET json: %d %+v", r.status, v)
	}
	if r.header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("Referrer-Policy %q", r.header.Get("Referrer-Policy"))
	}
	// The page, for a browser.
	page := e.do("GET", c.ApprovalURL, "", nil, "Accept", "text/html,application/xhtml+xml")
	if page.status != 200 || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(page.body), "Fund a new session key") || page.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET page: %d %s", page.status, page.header)
	}
	css := e.do("GET", "/approve/static/approve.css", "", nil)
	if css.status != 200 {
		t.Fatalf("static: %d", css.status)
	}

	// Refused submissions change nothing.
	other := e.st.NewUser(t, 0)
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"other wallet", map[string]string{"signed_transaction": other.SignTransaction(t, v.Transaction)}, 401, "wrong_signer"},
		{"unsigned", map[string]string{"signed_transaction": v.Transaction}, 401, ""},
		{"not base64", map[string]string{"signed_transaction": "%%%"}, 400, ""},
		{"empty object", map[string]string{}, 400, "invalid_argument"},
		{"empty body", "", 400, "invalid_argument"},
		{"not json", "signed", 400, "invalid_argument"},
		{"unknown field", map[string]string{"signed_tx": "x"}, 400, "invalid_argument"},
		{"too large", `{"signed_transaction":"` + strings.Repeat("A", web.MaxBodyBytes) + `"}`, 413, "invalid_argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", c.ApprovalURL, "", tc.body)
			code, _ := r.errCode(t)
			if tc.status == 400 && r.status == 401 || tc.status == 401 && r.status == 400 {
				// A mangled transaction is bad input or a bad signature; either is a refusal.
			} else if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.code != "" && code != tc.code {
				t.Fatalf("code %q, want %q", code, tc.code)
			}
			k, err := e.st.Service.Status(ctx, "", c.SessionKeyID)
			if err != nil || k.Status != "pending_approval" {
				t.Fatalf("after a refused submission: %v %v", k.Status, err)
			}
		})
	}
	if got := e.st.TokenBalance(t, user.Address()); got != 500*usdc {
		t.Fatalf("user balance %d after refusals", got)
	}

	// The owner's signature funds the key.
	r = e.do("POST", c.ApprovalURL, "", map[string]string{"signed_transaction": user.SignTransaction(t, v.Transaction)})
	var res service.ApprovalResult
	r.json(t, &res)
	if r.status != 200 || res.Status != "active" || res.Kind != "fund" {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	if got := e.st.TokenBalance(t, solana.MustPublicKeyFromBase58(c.SessionKeyAddress)); got != 100*usdc {
		t.Fatalf("key holds %d", got)
	}
	// Single use.
	r = e.do("POST", c.ApprovalURL, "", map[string]string{"signed_transaction": user.SignTransaction(t, v.Transaction)})
	if code, _ := r.errCode(t); r.status != 409 || code != "conflict" {
		t.Fatalf("second POST: %d %s", r.status, r.body)
	}
	var used service.ApprovalView
	e.do("GET", c.ApprovalURL, "", nil).json(t, &used)
	if used.Status != "used" || used.Transaction != "" || len(used.Result) == 0 {
		t.Fatalf("after use: %+v", used)
	}

	// Unknown links.
	r = e.do("GET", "/approve/ap_doesnotexist", "", nil)
	if code, _ := r.errCode(t); r.status != 404 || code != "not_found" {
		t.Fatalf("unknown link json: %d %s", r.status, r.body)
	}
	page = e.do("GET", "/approve/ap_doesnotexist", "", nil, "Accept", "text/html")
	if page.status != 404 || !strings.Contains(string(page.body), "not found") {
		t.Fatalf("unknown link page: %d %s", page.status, page.body)
	}
	r = e.do("POST", "/approve/ap_doesnotexist", "", map[string]string{"signature": "x"})
	if r.status != 404 {
		t.Fatalf("unknown link POST: %d %s", r.status, r.body)
	}
}

// TestRejectAndMessageApproval: the owner declines one link, and signs a
// policy change (a message) on another.
func TestRejectAndMessageApproval(t *testing.T) {
	e := newEnv(t, web.Options{}, testenv.StackOptions{})
	user := e.st.NewUser(t, 100*usdc)
	c, err := e.st.Service.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: agent, UserWallet: user.Address().String(), MaxAmount: 10 * usdc})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", c.ApprovalURL+"/reject", "", map[string]string{})
	if r.status != 200 {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	var v service.ApprovalView
	g := e.do("GET", c.ApprovalURL, "", nil)
	g.json(t, &v)
	if v.Status != "cancelled" {
		t.Fatalf("after reject: %+v", v)
	}
	r = e.do("POST", c.ApprovalURL+"/reject", "", map[string]string{"reason": "again"})
	if r.status == 200 {
		t.Fatalf("second reject accepted: %s", r.body)
	}

	// A limits change is a signed message.
	s := e.admin("POST", "/admin/sessions", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_per_day": "100"})
	var sess service.SessionView
	s.json(t, &sess)
	if s.status != 201 {
		t.Fatalf("create session: %d %s", s.status, s.body)
	}
	l := e.admin("POST", "/admin/sessions/"+sess.SessionID+"/limits", map[string]any{"max_per_day": 50, "max_per_transaction": "10"})
	var link service.ApprovalLink
	l.json(t, &link)
	if l.status != 202 || link.ApprovalURL == "" || link.ApprovalMessage == "" {
		t.Fatalf("limits: %d %s", l.status, l.body)
	}
	e.do("GET", link.ApprovalURL, "", nil).json(t, &v)
	if v.Sign != "message" || v.Message == "" || v.Kind != "limits" {
		t.Fatalf("limits view: %+v", v)
	}
	other := e.st.NewUser(t, 0)
	r = e.do("POST", link.ApprovalURL, "", map[string]string{"signature": other.SignMessage(v.Message)})
	if code, _ := r.errCode(t); r.status != 401 || code == "" {
		t.Fatalf("foreign signature: %d %s", r.status, r.body)
	}
	r = e.do("POST", link.ApprovalURL, "", map[string]string{"signature": user.SignMessage(v.Message)})
	var res service.ApprovalResult
	r.json(t, &res)
	if r.status != 200 || res.Status != "limits_changed" {
		t.Fatalf("sign limits: %d %s", r.status, r.body)
	}
	got := e.admin("GET", "/admin/sessions/"+sess.SessionID, nil)
	got.json(t, &sess)
	if sess.MaxPerDay != "50.00" || sess.MaxPerTransaction != "10.00" {
		t.Fatalf("limits after approval: %+v", sess)
	}
}

func TestStatusOf(t *testing.T) {
	for code, want := range map[string]int{
		"invalid_argument": 400, "tampered": 400, "wrong_signer": 401, "invalid_signature": 401, "unauthorized": 401,
		"not_found": 404, "conflict": 409, "not_active": 409, "revoked": 409, "expired": 410,
		"daily_limit": 422, "insufficient_funds": 422, "unavailable": 503, "something_else": 500,
	} {
		if got := web.StatusOf(codeOf(code)); got != want {
			t.Errorf("StatusOf(%s) = %d, want %d", code, got, want)
		}
	}
	_ = http.StatusOK
}
