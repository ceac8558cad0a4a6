package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/web"
)

// TestDocumentationExamples runs the Session Keys documentation's examples
// against the admin API with the documentation's own field names and values:
// create (max_amount 100, expiry_hours 24, token USDC), approve, status, the
// smart payment (user_wallet = the key's address, amount_usd 29.99,
// auto_detect_gasless), top-up (amount 50), list, revoke; then the linking
// example (a session with nested limits 25 / 100 / 1000 and duration_hours
// 168; a key with limit_usdc 500, duration_days 7 and device_fingerprint),
// link, can-afford 50, unlink. The one addition: a payment names its
// recipient (the documented smart payment pays the API key's merchant).
func TestDocumentationExamples(t *testing.T) {
	e := newEnv(t, web.Options{DefaultAgentID: "shopping-bot"}, testenv.StackOptions{})
	user := e.st.NewUser(t, 1000*usdc)
	userWallet := user.Address().String()
	merchant := newAddress(t)
	approve := func(url string) {
		t.Helper()
		var v service.ApprovalView
		e.do("GET", url, "", nil).json(t, &v)
		if r := e.do("POST", url, "", map[string]string{"signed_transaction": user.SignTransaction(t, v.Transaction)}); r.status != 200 {
			t.Fatalf("approve: %d %s", r.status, r.body)
		}
	}

	// zendfi.sessionKeys.create({agent_id, user_wallet, max_amount: 100, expiry_hours: 24, token: 'USDC'})
	r := e.admin("POST", "/admin/session-keys", map[string]any{"agent_id": "shopping-assistant", "user_wallet": userWallet,
		"max_amount": 100, "expiry_hours": 24, "token": "USDC"})
	var key service.KeyCreated
	r.json(t, &key)
	if r.status != 201 || key.Status != "pending_approval" || key.SessionKeyAddress == "" || key.PKPPublicKey == "" ||
		key.ApprovalTransaction == "" || key.MaxAmount != "100.00" || key.ExpiresAt == "" || key.Token != "USDC" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	approve(key.ApprovalURL)

	// zendfi.sessionKeys.getStatus(key.session_key_id)
	var status service.KeyView
	r = e.admin("GET", "/admin/session-keys/"+key.SessionKeyID, nil)
	r.json(t, &status)
	if status.Status != "active" || status.MaxAmount != "100.00" || status.SpentAmount != "0.00" || status.RemainingAmount != "100.00" ||
		status.TransactionCount != 0 || status.Security.LastActivity == "" || !strings.Contains(string(r.body), `"risk_score"`) {
		t.Fatalf("status: %s", r.body)
	}

	// zendfi.smart.execute({agent_id, user_wallet: key.session_key_address, amount_usd: 29.99, description, auto_detect_gasless: true})
	r = e.admin("POST", "/admin/payments", map[string]any{"agent_id": "shopping-assistant", "user_wallet": key.SessionKeyAddress,
		"amount_usd": 29.99, "description": "Premium widget", "auto_detect_gasless": true, "recipient": merchant})
	var payment service.PayResult
	r.json(t, &payment)
	if r.status != 200 || payment.PaymentID == "" || payment.Status != "confirmed" || payment.TransactionSignature == "" ||
		payment.SessionKeyID != key.SessionKeyID || payment.Amount != "29.99" || payment.Gasless == nil {
		t.Fatalf("smart payment: %d %s", r.status, r.body)
	}

	// zendfi.sessionKeys.topUp(key.session_key_id, {amount: 50})
	r = e.admin("POST", "/admin/session-keys/"+key.SessionKeyID+"/top-up", map[string]any{"amount": 50})
	var topUp service.TopUpCreated
	r.json(t, &topUp)
	if r.status != 200 || topUp.NewMaxAmount != "150.00" || topUp.ApprovalTransaction == "" {
		t.Fatalf("top-up: %d %s", r.status, r.body)
	}
	approve(topUp.ApprovalURL)
	var updated service.KeyView
	if e.admin("GET", "/admin/session-keys/"+key.SessionKeyID, nil).json(t, &updated); updated.RemainingAmount != "120.01" {
		t.Fatalf("after the top-up: %+v", updated)
	}

	// zendfi.sessionKeys.list()
	var list web.KeyList
	if e.admin("GET", "/admin/session-keys", nil).json(t, &list); list.Total != 1 || list.SessionKeys[0].RemainingAmount != "120.01" || list.SessionKeys[0].ExpiresAt == "" {
		t.Fatalf("list: %+v", list)
	}

	// zendfi.sessionKeys.revoke(key.session_key_id)
	if r := e.admin("POST", "/admin/session-keys/"+key.SessionKeyID+"/revoke", nil); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}

	// Linking: zendfi.agent.createSession({agent_id, user_wallet, limits: {25, 100, 1000}, duration_hours: 168})
	r = e.admin("POST", "/admin/sessions", map[string]any{"agent_id": "shopping-bot", "user_wallet": userWallet,
		"limits": map[string]any{"max_per_transaction": 25, "max_per_day": 100, "max_per_month": 1000}, "duration_hours": 168})
	var session web.SessionCreated
	r.json(t, &session)
	if r.status != 201 || session.ID == "" || session.ID != session.SessionID || session.MaxPerTransaction != "25.00" ||
		session.MaxPerDay != "100.00" || session.MaxPerMonth != "1000.00" || session.MaxPerWeek != "" {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	// zendfi.sessionKeys.create({user_wallet, limit_usdc: 500, duration_days: 7, device_fingerprint: fp})
	const fp = "fp_3b9e0c51d2"
	r = e.admin("POST", "/admin/session-keys", map[string]any{"user_wallet": userWallet, "limit_usdc": 500, "duration_days": 7, "device_fingerprint": fp})
	var key2 service.KeyCreated
	r.json(t, &key2)
	if r.status != 201 || key2.MaxAmount != "500.00" || key2.AgentID != "shopping-bot" || !key2.DeviceBound {
		t.Fatalf("create with limit_usdc: %d %s", r.status, r.body)
	}
	if days := hoursBetween(t, key2.CreatedAt, key2.ExpiresAt); days != 7*24 {
		t.Fatalf("duration_days 7 gave %v hours", days)
	}
	approve(key2.ApprovalURL)
	// zendfi.sessionKeys.linkSession(key.session_key_id, session.id)
	r = e.admin("POST", "/admin/session-keys/"+key2.SessionKeyID+"/link", map[string]any{"session_id": session.ID})
	if r.status != 200 {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	// zendfi.sessionKeys.canAfford(key.session_key_id, 50)
	var check service.DecisionView
	r = e.admin("POST", "/admin/session-keys/"+key2.SessionKeyID+"/can-afford", map[string]any{"amount": 50})
	r.json(t, &check)
	if r.status != 200 || check.Allowed || check.Reason == "" || str(check.SessionKeyRemaining) != "500.00" ||
		str(check.SessionRemainingToday) != "100.00" || check.EffectiveLimit != "25.00" {
		t.Fatalf("can-afford: %d %s", r.status, r.body)
	}
	// The device-bound key pays only with its fingerprint.
	pay := map[string]any{"agent_id": "shopping-bot", "user_wallet": key2.SessionKeyAddress, "amount_usd": 20, "recipient": merchant, "idempotency_key": "dev-1"}
	if r := e.admin("POST", "/admin/payments", pay); r.status != 403 {
		t.Fatalf("pay without the device fingerprint: %d %s", r.status, r.body)
	} else if code, param := r.errCode(t); code != "device_mismatch" || param != "device_fingerprint" {
		t.Fatalf("pay without the device fingerprint: %s", r.body)
	}
	pay["device_fingerprint"] = fp
	if r := e.admin("POST", "/admin/payments", pay); r.status != 200 {
		t.Fatalf("pay with the device fingerprint: %d %s", r.status, r.body)
	}
	// zendfi.sessionKeys.unlinkSession(key.session_key_id): the owner's approval.
	r = e.admin("POST", "/admin/session-keys/"+key2.SessionKeyID+"/unlink", nil)
	var link service.ApprovalLink
	if r.json(t, &link); r.status != 202 || link.ApprovalURL == "" {
		t.Fatalf("unlink: %d %s", r.status, r.body)
	}
}

// TestDocumentedSpellingsConflict: two spellings of one thing in one request
// are invalid_argument naming the field, and create nothing.
func TestDocumentedSpellingsConflict(t *testing.T) {
	e := newEnv(t, web.Options{}, testenv.StackOptions{})
	user := e.st.NewUser(t, 0)
	w := user.Address().String()
	c, err := e.st.Service.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: agent, UserWallet: w, MaxAmount: 10 * usdc})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.st.Service.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: agent, UserWallet: w, MaxAmount: 10 * usdc})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		body       map[string]any
		param      string
		message    string
	}{
		{"max_amount and limit_usdc", "/admin/session-keys", map[string]any{"agent_id": agent, "user_wallet": w, "max_amount": 10, "limit_usdc": 10}, "limit_usdc", "not both"},
		{"expiry_hours and duration_days", "/admin/session-keys", map[string]any{"agent_id": agent, "user_wallet": w, "max_amount": 10, "expiry_hours": 24, "duration_days": 1}, "duration_days", "not both"},
		{"negative duration_days", "/admin/session-keys", map[string]any{"agent_id": agent, "user_wallet": w, "max_amount": 10, "duration_days": -1}, "duration_days", "positive"},
		{"limit_usdc not a number", "/admin/session-keys", map[string]any{"agent_id": agent, "user_wallet": w, "limit_usdc": "lots"}, "limit_usdc", ""},
		{"unknown token", "/admin/session-keys", map[string]any{"agent_id": agent, "user_wallet": w, "max_amount": 10, "token": "SOL"}, "token", "offered: USDC"},
		{"no agent and no default", "/admin/session-keys", map[string]any{"user_wallet": w, "limit_usdc": 10}, "agent_id", ""},
		{"blank device", "/admin/session-keys", map[string]any{"agent_id": agent, "user_wallet": w, "max_amount": 10, "device_fingerprint": " "}, "device_fingerprint", ""},
		{"nested and top-level limits", "/admin/sessions", map[string]any{"agent_id": agent, "user_wallet": w, "max_per_day": 5, "limits": map[string]any{"max_per_day": 5}}, "limits", "not both"},
		{"bad nested limit", "/admin/sessions", map[string]any{"agent_id": agent, "user_wallet": w, "limits": map[string]any{"max_per_day": -5}}, "max_per_day", ""},
		{"amount and amount_usd", "/admin/payments", map[string]any{"agent_id": agent, "session_key_id": c.SessionKeyID, "recipient": w, "amount": 1, "amount_usd": 1}, "amount_usd", "not both"},
		{"user_wallet of another key", "/admin/payments", map[string]any{"agent_id": agent, "session_key_id": c.SessionKeyID, "user_wallet": other.SessionKeyAddress, "recipient": w, "amount": 1}, "user_wallet", ""},
		{"user_wallet not a key", "/admin/payments", map[string]any{"agent_id": agent, "user_wallet": w, "recipient": w, "amount_usd": 1}, "user_wallet", "session_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.admin("POST", tc.path, tc.body)
			code, param := r.errCode(t)
			if r.status != 400 || code != "invalid_argument" || param != tc.param || !strings.Contains(string(r.body), tc.message) {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	var l web.KeyList
	if e.admin("GET", "/admin/session-keys", nil).json(t, &l); l.Total != 2 {
		t.Fatalf("bad requests created keys: %d", l.Total)
	}
}

// hoursBetween returns the hours from one RFC 3339 time to another.
func hoursBetween(t *testing.T, from, to string) float64 {
	t.Helper()
	a, err := time.Parse(time.RFC3339, from)
	if err != nil {
		t.Fatal(err)
	}
	b, err := time.Parse(time.RFC3339, to)
	if err != nil {
		t.Fatal(err)
	}
	return b.Sub(a).Hours()
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
