package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/web"
)

func codeOf(s string) policy.Code { return policy.Code(s) }

func newAddress(t *testing.T) string { return testenv.NewAddress(t) }

// TestAdminAuth: no token, a wrong token or an agent's API key reach nothing.
func TestAdminAuth(t *testing.T) {
	e := newEnv(t, web.Options{}, testenv.StackOptions{})
	body := map[string]any{"agent_id": agent, "user_wallet": newAddress(t), "max_amount": "10"}
	for _, tok := range []string{"", "wrong", apiKey, adminToken + "x"} {
		r := e.do("POST", "/admin/session-keys", tok, body)
		if code, _ := r.errCode(t); r.status != 401 || code != "unauthorized" || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("token %q: %d %s", tok, r.status, r.body)
		}
		if r := e.do("GET", "/admin/session-keys", tok, nil); r.status != 401 {
			t.Fatalf("list with %q: %d", tok, r.status)
		}
	}
	r := e.admin("GET", "/admin/session-keys", nil)
	var l web.KeyList
	r.json(t, &l)
	if r.status != 200 || l.Total != 0 {
		t.Fatalf("after refused calls: %d %s", r.status, r.body)
	}
}

// TestAdminOff: without an admin token hash the admin API is off.
func TestAdminOff(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{Embedded: true})
	h, err := web.NewHandler(web.Options{Service: st.Service})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, h: h}
	e.srv = newTestServer(t, h)
	if r := e.admin("GET", "/admin/session-keys", nil); r.status != 404 {
		t.Fatalf("admin off: %d %s", r.status, r.body)
	}
}

// TestAdminLifecycle drives keys and sessions through the admin API, with
// the owner's approvals through the approval endpoints.
func TestAdminLifecycle(t *testing.T) {
	e := newEnv(t, web.Options{}, testenv.StackOptions{})
	user := e.st.NewUser(t, 500*usdc)
	shop := newAddress(t)

	// Bad input: a clear error naming the field, nothing created.
	bad := []struct {
		name  string
		body  any
		param string
	}{
		{"zero", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_amount": "0"}, "max_amount"},
		{"negative", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_amount": -5}, "max_amount"},
		{"too precise", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_amount": "1.0000001"}, "max_amount"},
		{"not a number", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_amount": "ten"}, "max_amount"},
		{"bool", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_amount": true}, "max_amount"},
		{"missing", map[string]any{"agent_id": agent, "user_wallet": user.Address().String()}, "max_amount"},
		{"bad wallet", map[string]any{"agent_id": agent, "user_wallet": "nope", "max_amount": "10"}, "user_wallet"},
		{"no agent", map[string]any{"user_wallet": user.Address().String(), "max_amount": "10"}, "agent_id"},
		{"bad expiry", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_amount": "10", "expiry_hours": -1}, "expiry_hours"},
		{"unknown field", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_amount": "10", "limit_usdc": 5}, "limit_usdc"},
		{"expiry as text", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_amount": "10", "expiry_hours": "24"}, "expiry_hours"},
	}
	for _, tc := range bad {
		t.Run("create/"+tc.name, func(t *testing.T) {
			r := e.admin("POST", "/admin/session-keys", tc.body)
			code, param := r.errCode(t)
			if r.status != 400 || code != "invalid_argument" || param != tc.param {
				t.Fatalf("%d %s (param %q)", r.status, r.body, param)
			}
		})
	}
	var l web.KeyList
	e.admin("GET", "/admin/session-keys", nil).json(t, &l)
	if l.Total != 0 {
		t.Fatalf("bad input created %d keys", l.Total)
	}

	// Create, approve (as the owner, through the page's endpoints), check.
	r := e.admin("POST", "/admin/session-keys", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_amount": 100, "expiry_hours": 24})
	var c service.KeyCreated
	r.json(t, &c)
	if r.status != 201 || c.Status != "pending_approval" || c.ApprovalURL == "" || c.ApprovalTransaction == "" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	approve := func(url string) {
		t.Helper()
		var v service.ApprovalView
		e.do("GET", url, "", nil).json(t, &v)
		r := e.do("POST", url, "", map[string]string{"signed_transaction": user.SignTransaction(t, v.Transaction)})
		if r.status != 200 {
			t.Fatalf("approve: %d %s", r.status, r.body)
		}
	}
	approve(c.ApprovalURL)
	var k service.KeyView
	r = e.admin("GET", "/admin/session-keys/"+c.SessionKeyID, nil)
	r.json(t, &k)
	if r.status != 200 || k.Status != "active" || k.RemainingAmount != "100.00" {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	r = e.admin("GET", "/admin/session-keys?agent_id="+agent, nil)
	r.json(t, &l)
	if l.Total != 1 || l.SessionKeys[0].SessionKeyID != c.SessionKeyID {
		t.Fatalf("list: %s", r.body)
	}
	e.admin("GET", "/admin/session-keys?agent_id=someone-else", nil).json(t, &l)
	if l.Total != 0 {
		t.Fatalf("another agent's list: %+v", l)
	}

	// Pay, then checks and refusals.
	r = e.admin("POST", "/admin/payments", map[string]any{"agent_id": agent, "session_key_id": c.SessionKeyID,
		"recipient": shop, "amount": "29.99", "description": "Premium widget", "idempotency_key": "order-1"})
	var p service.PayResult
	r.json(t, &p)
	if r.status != 200 || p.Status != "confirmed" {
		t.Fatalf("pay: %d %s", r.status, r.body)
	}
	r = e.admin("POST", "/admin/session-keys/"+c.SessionKeyID+"/can-afford", map[string]any{"amount": "80"})
	var d service.DecisionView
	r.json(t, &d)
	if r.status != 200 || d.Allowed || d.MaxAffordableNow != "70.01" {
		t.Fatalf("can-afford: %d %s", r.status, r.body)
	}
	r = e.admin("POST", "/admin/payments", map[string]any{"agent_id": agent, "session_key_id": c.SessionKeyID, "recipient": shop, "amount": "80"})
	if code, _ := r.errCode(t); r.status != 422 || code != "insufficient_funds" || !strings.Contains(string(r.body), `"payment"`) {
		t.Fatalf("refused pay: %d %s", r.status, r.body)
	}

	// A session, linked: the per-transaction limit blocks a payment the key could make.
	r = e.admin("POST", "/admin/sessions", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(),
		"max_per_transaction": "25", "max_per_day": 100, "duration_hours": 48, "allowed_recipients": []string{shop}})
	var sess service.SessionView
	r.json(t, &sess)
	if r.status != 201 || sess.MaxPerTransaction != "25.00" || len(sess.AllowedRecipients) != 1 {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	for _, tc := range []struct{ name, path, param string }{
		{"bad limit", "/admin/sessions", "max_per_day"},
	} {
		r := e.admin("POST", tc.path, map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_per_day": "-1"})
		if code, param := r.errCode(t); r.status != 400 || code != "invalid_argument" || param != tc.param {
			t.Fatalf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
	r = e.admin("POST", "/admin/session-keys/"+c.SessionKeyID+"/link", map[string]any{"session_id": sess.SessionID})
	r.json(t, &k)
	if r.status != 200 || k.LinkedSessionID != sess.SessionID {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	r = e.admin("POST", "/admin/payments", map[string]any{"agent_id": agent, "session_key_id": c.SessionKeyID, "recipient": shop, "amount": "30"})
	if code, _ := r.errCode(t); r.status != 422 || code != "per_transaction_limit" {
		t.Fatalf("linked pay: %d %s", r.status, r.body)
	}
	// Unlink loosens the policy: the owner must sign; nothing changes before.
	r = e.admin("POST", "/admin/session-keys/"+c.SessionKeyID+"/unlink", nil)
	var unlinkLink service.ApprovalLink
	r.json(t, &unlinkLink)
	if r.status != 202 || unlinkLink.ApprovalURL == "" || unlinkLink.ApprovalMessage == "" {
		t.Fatalf("unlink: %d %s", r.status, r.body)
	}
	if e.admin("GET", "/admin/session-keys/"+c.SessionKeyID, nil).json(t, &k); k.LinkedSessionID != sess.SessionID {
		t.Fatalf("unlinked before the owner signed: %+v", k)
	}
	var uv service.ApprovalView
	e.do("GET", unlinkLink.ApprovalURL, "", nil).json(t, &uv)
	if r := e.do("POST", unlinkLink.ApprovalURL, "", map[string]string{"signature": user.SignMessage(uv.Message)}); r.status != 200 {
		t.Fatalf("owner signs the unlink: %d %s", r.status, r.body)
	}
	var after service.KeyView
	if e.admin("GET", "/admin/session-keys/"+c.SessionKeyID, nil).json(t, &after); after.LinkedSessionID != "" {
		t.Fatalf("still linked after the owner signed: %+v", after)
	}

	// Top-up through its approval link.
	r = e.admin("POST", "/admin/session-keys/"+c.SessionKeyID+"/top-up", map[string]any{"amount": "50"})
	var top service.TopUpCreated
	r.json(t, &top)
	if r.status != 200 || top.NewMaxAmount != "150.00" {
		t.Fatalf("top-up: %d %s", r.status, r.body)
	}
	approve(top.ApprovalURL)
	e.admin("GET", "/admin/session-keys/"+c.SessionKeyID, nil).json(t, &k)
	if k.RemainingAmount != "120.01" {
		t.Fatalf("after top-up: %+v", k)
	}

	// Audit, by key and by wallet; every wallet.
	r = e.admin("GET", "/admin/audit?session_key_id="+c.SessionKeyID, nil)
	var log web.AuditLog
	r.json(t, &log)
	if r.status != 200 || log.Wallet != user.Address().String() || len(log.Entries) < 5 {
		t.Fatalf("audit: %d %s", r.status, r.body)
	}
	r = e.admin("GET", "/admin/audit/verify?wallet="+user.Address().String(), nil)
	var ver web.AuditVerification
	r.json(t, &ver)
	if r.status != 200 || !ver.OK || len(ver.Wallets) != 1 || ver.Wallets[0].Entries != len(log.Entries) {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	if r := e.admin("GET", "/admin/audit", nil); r.status != 400 {
		t.Fatalf("audit without wallet: %d", r.status)
	}

	// Revoke: swept back to the owner.
	before := e.st.TokenBalance(t, user.Address())
	r = e.admin("POST", "/admin/session-keys/"+c.SessionKeyID+"/revoke", map[string]any{"reason": "test"})
	var rev service.Revoked
	r.json(t, &rev)
	if r.status != 200 || rev.Status != "revoked" || rev.SweptAmount != "120.01" {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if after := e.st.TokenBalance(t, user.Address()); after-before != 120_010_000 {
		t.Fatalf("swept %d", after-before)
	}
	r = e.admin("POST", "/admin/session-keys/"+c.SessionKeyID+"/top-up", map[string]any{"amount": "5"})
	if code, _ := r.errCode(t); r.status != 409 || code != "revoked" {
		t.Fatalf("top-up after revoke: %d %s", r.status, r.body)
	}

	// Not found, and routes that do not exist.
	for _, path := range []string{"/admin/session-keys/sk_doesnotexist", "/admin/sessions/sess_doesnotexist"} {
		if r := e.admin("GET", path, nil); r.status != 404 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
	if r := e.admin("GET", "/admin/nothing", nil); r.status != 404 {
		t.Fatalf("unknown route: %d", r.status)
	}
	if r := e.admin("POST", "/admin/webhooks/ops/test", nil); r.status != 404 {
		t.Fatalf("webhooks without endpoints: %d %s", r.status, r.body)
	}
	_ = fmt.Sprint()
}

// fakeWebhooks records the operator's webhook calls.
type fakeWebhooks struct{ tested []string }

func (f *fakeWebhooks) SendTest(_ ctxT, endpoint string) error {
	if endpoint != "ops" {
		return policy.Errorf(policy.CodeNotFound, "endpoint", "no endpoint %q", endpoint)
	}
	f.tested = append(f.tested, endpoint)
	return nil
}

func (f *fakeWebhooks) DeadLetters(_ ctxT, limit int) ([]web.DeadLetter, error) {
	return []web.DeadLetter{{ID: "1-0", Endpoint: "ops", Event: "session_key.created", Attempts: 8}}, nil
}

func (f *fakeWebhooks) Status(_ ctxT) ([]web.WebhookEndpoint, error) {
	return []web.WebhookEndpoint{{Name: "ops", State: "failing", ConsecutiveFailures: 5, Backlog: 3, OldestUndeliveredAgeSeconds: 90}}, nil
}

func (f *fakeWebhooks) Retry(_ ctxT, id string) error {
	if id != "1-0" {
		return policy.Errorf(policy.CodeNotFound, "id", "no dead letter %s", id)
	}
	return nil
}

func TestAdminWebhooks(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{Embedded: true})
	f := &fakeWebhooks{}
	sum := web.HashToken(adminToken)
	h, err := web.NewHandler(web.Options{Service: st.Service, Webhooks: f, AdminTokenSHA256: &sum})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, h: h, srv: newTestServer(t, h)}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/admin/webhooks", 200},
		{"POST", "/admin/webhooks/ops/test", 200},
		{"POST", "/admin/webhooks/nope/test", 404},
		{"GET", "/admin/webhooks/dead", 200},
		{"GET", "/admin/webhooks/dead?limit=0", 400},
		{"POST", "/admin/webhooks/dead/1-0/retry", 200},
		{"POST", "/admin/webhooks/dead/2-0/retry", 404},
	} {
		if r := e.admin(tc.method, tc.path, struct{}{}); r.status != tc.status {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.status, r.body)
		}
	}
	if len(f.tested) != 1 {
		t.Fatalf("tested %v", f.tested)
	}
}

// TestAdminForcedPolicyChange: the operator may unlink or change limits at
// once only by saying force, and the audit log records the change as forced;
// without force nothing changes until the owner signs.
func TestAdminForcedPolicyChange(t *testing.T) {
	e := newEnv(t, web.Options{}, testenv.StackOptions{})
	user := e.st.NewUser(t, 0)
	var sess service.SessionView
	e.admin("POST", "/admin/sessions", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(), "max_per_day": "100"}).json(t, &sess)
	var c service.KeyCreated
	e.admin("POST", "/admin/session-keys", map[string]any{"agent_id": agent, "user_wallet": user.Address().String(),
		"max_amount": "10", "session_id": sess.SessionID}).json(t, &c)
	if c.LinkedSessionID != sess.SessionID {
		t.Fatalf("create linked: %+v", c)
	}
	r := e.admin("POST", "/admin/sessions/"+sess.SessionID+"/limits", map[string]any{"max_per_day": "500"})
	if r.status != 202 {
		t.Fatalf("limits without force: %d %s", r.status, r.body)
	}
	var got service.SessionView
	if e.admin("GET", "/admin/sessions/"+sess.SessionID, nil).json(t, &got); got.MaxPerDay != "100.00" {
		t.Fatalf("limits changed before the owner signed: %+v", got)
	}
	r = e.admin("POST", "/admin/sessions/"+sess.SessionID+"/limits", map[string]any{"max_per_day": "500", "force": true})
	r.json(t, &got)
	if r.status != 200 || got.MaxPerDay != "500.00" {
		t.Fatalf("forced limits: %d %s", r.status, r.body)
	}
	r = e.admin("POST", "/admin/session-keys/"+c.SessionKeyID+"/unlink", map[string]any{"force": true})
	var k service.KeyView
	r.json(t, &k)
	if r.status != 200 || k.LinkedSessionID != "" {
		t.Fatalf("forced unlink: %d %s", r.status, r.body)
	}
	if r := e.admin("POST", "/admin/session-keys/"+c.SessionKeyID+"/unlink", map[string]any{"force": "yes"}); r.status != 400 {
		t.Fatalf("force as text: %d %s", r.status, r.body)
	}
	var log web.AuditLog
	e.admin("GET", "/admin/audit?wallet="+user.Address().String(), nil).json(t, &log)
	forced := map[string]bool{}
	for _, en := range log.Entries {
		if en.Data["by"] == "operator_forced" {
			forced[en.Event] = true
		}
	}
	if !forced["session_key.unlinked"] || !forced["session.limits_changed"] || len(forced) != 2 {
		t.Fatalf("forced changes in the audit log: %v", forced)
	}
}
