package web_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	gschema "github.com/google/jsonschema-go/jsonschema"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/web"
)

// TestOpenAPISnapshot: the admin API's OpenAPI 3.1 document, served at
// /admin/openapi.json, is snapshotted (UPDATE_OPENAPI=1 rewrites it).
func TestOpenAPISnapshot(t *testing.T) {
	e := newEnv(t, web.Options{}, testenv.StackOptions{})
	r := e.admin("GET", "/admin/openapi.json", nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var doc map[string]any
	r.json(t, &doc)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi: %v", doc["openapi"])
	}
	got, _ := json.MarshalIndent(doc, "", "  ")
	path := filepath.Join("testdata", "openapi.json")
	if os.Getenv("UPDATE_OPENAPI") == "1" {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no snapshot (run with UPDATE_OPENAPI=1): %v", err)
	}
	if string(want) != string(got)+"\n" {
		t.Fatal("the OpenAPI document changed; review the diff and run with UPDATE_OPENAPI=1")
	}
	if r := e.do("GET", "/admin/openapi.json", "", nil); r.status != 401 {
		t.Fatalf("without the admin token: %d", r.status)
	}
}

// apiCheck validates admin calls against the OpenAPI document: each request
// body against its operation's schema, each answer against the schema of its
// status (or the default error), and records which operations were sent.
type apiCheck struct {
	t    *testing.T
	e    *env
	doc  map[string]any
	seen map[string]bool
}

func (c *apiCheck) op(method, path string) (string, map[string]any) {
	p := path
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	for tmpl, ops := range c.doc["paths"].(map[string]any) {
		if !matchPath(tmpl, p) {
			continue
		}
		if o, ok := ops.(map[string]any)[strings.ToLower(method)]; ok {
			return strings.ToLower(method) + " " + tmpl, o.(map[string]any)
		}
	}
	return "", nil
}

// matchPath reports whether path fits the template ({x} is one segment).
func matchPath(tmpl, path string) bool {
	ts, ps := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if ts[i] != ps[i] && !(strings.HasPrefix(ts[i], "{") && ps[i] != "") {
			return false
		}
	}
	return true
}

func validate(t *testing.T, what string, schema any, instance []byte) {
	t.Helper()
	sj, _ := json.Marshal(schema)
	var s gschema.Schema
	if err := json.Unmarshal(sj, &s); err != nil {
		t.Fatalf("%s: schema: %v", what, err)
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		t.Fatalf("%s: resolve: %v", what, err)
	}
	var v any
	if err := json.Unmarshal(instance, &v); err != nil {
		t.Fatalf("%s: not JSON: %s", what, instance)
	}
	if err := rs.Validate(v); err != nil {
		t.Errorf("%s: %s does not validate: %v", what, instance, err)
	}
}

func (c *apiCheck) call(method, path string, body any) response {
	c.t.Helper()
	name, o := c.op(method, path)
	if o == nil {
		c.t.Fatalf("%s %s is not in the OpenAPI document", method, path)
	}
	c.seen[name] = true
	if body != nil {
		rb, ok := o["requestBody"].(map[string]any)
		if !ok {
			c.t.Fatalf("%s takes no body", name)
		}
		b, _ := json.Marshal(body)
		validate(c.t, name+" request", rb["content"].(map[string]any)["application/json"].(map[string]any)["schema"], b)
	}
	r := c.e.admin(method, path, body)
	resps := o["responses"].(map[string]any)
	resp, ok := resps[strconv.Itoa(r.status)]
	if !ok {
		if r.status < 400 {
			c.t.Fatalf("%s answered %d, which is not documented: %s", name, r.status, r.body)
		}
		resp = resps["default"]
	}
	validate(c.t, name+" "+strconv.Itoa(r.status), resp.(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"], r.body)
	return r
}

// TestOpenAPIValidatesEveryCall sends every documented admin request and
// checks every answer (successes and errors) against the OpenAPI document.
func TestOpenAPIValidatesEveryCall(t *testing.T) {
	hooks := &fakeWebhooks{}
	e := newEnv(t, web.Options{Webhooks: hooks}, testenv.StackOptions{})
	c := &apiCheck{t: t, e: e, doc: web.OpenAPI(), seen: map[string]bool{}}
	b, _ := json.Marshal(c.doc)
	_ = json.Unmarshal(b, &c.doc) // as a client reads it
	user := e.st.NewUser(t, 500*usdc)
	w := user.Address().String()
	shop := newAddress(t)

	var key service.KeyCreated
	c.call("POST", "/admin/session-keys", map[string]any{"agent_id": agent, "user_wallet": w, "max_amount": "100", "expiry_hours": 24}).json(t, &key)
	var v service.ApprovalView
	e.do("GET", key.ApprovalURL, "", nil).json(t, &v)
	if r := e.do("POST", key.ApprovalURL, "", map[string]string{"signed_transaction": user.SignTransaction(t, v.Transaction)}); r.status != 200 {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	c.call("POST", "/admin/session-keys", map[string]any{"agent_id": agent, "user_wallet": w, "max_amount": "0"})
	c.call("GET", "/admin/session-keys?agent_id="+agent, nil)
	c.call("GET", "/admin/session-keys/"+key.SessionKeyID, nil)
	c.call("GET", "/admin/session-keys/sk_doesnotexist", nil)
	c.call("POST", "/admin/session-keys/"+key.SessionKeyID+"/can-afford", map[string]any{"amount": 20, "recipient": shop})
	c.call("POST", "/admin/payments", map[string]any{"agent_id": agent, "session_key_id": key.SessionKeyID, "recipient": shop,
		"amount": "10", "description": "widget", "idempotency_key": "o-1", "auto_detect_gasless": true})
	c.call("POST", "/admin/payments", map[string]any{"agent_id": agent, "session_key_id": key.SessionKeyID, "recipient": shop, "amount": "500"})
	c.call("POST", "/admin/session-keys/"+key.SessionKeyID+"/top-up", map[string]any{"amount": "5"})
	var sess web.SessionCreated
	c.call("POST", "/admin/sessions", map[string]any{"agent_id": agent, "user_wallet": w, "limits": map[string]any{"max_per_day": 100}}).json(t, &sess)
	c.call("GET", "/admin/sessions/"+sess.SessionID, nil)
	c.call("POST", "/admin/session-keys/"+key.SessionKeyID+"/link", map[string]any{"session_id": sess.SessionID})
	c.call("POST", "/admin/sessions/"+sess.SessionID+"/limits", map[string]any{"max_per_day": 50})
	c.call("POST", "/admin/sessions/"+sess.SessionID+"/limits", map[string]any{"max_per_day": 50, "force": true})
	c.call("POST", "/admin/session-keys/"+key.SessionKeyID+"/unlink", map[string]any{})
	c.call("POST", "/admin/session-keys/"+key.SessionKeyID+"/unlink", map[string]any{"force": true})
	c.call("GET", "/admin/audit?wallet="+w, nil)
	c.call("GET", "/admin/audit/verify?wallet="+w, nil)
	c.call("POST", "/admin/webhooks/ops/test", nil)
	c.call("GET", "/admin/webhooks/dead?limit=10", nil)
	c.call("POST", "/admin/webhooks/dead/1-0/retry", nil)
	c.call("POST", "/admin/session-keys/"+key.SessionKeyID+"/revoke", map[string]any{"reason": "done"})

	var missing []string
	for tmpl, ops := range c.doc["paths"].(map[string]any) {
		for m := range ops.(map[string]any) {
			if !c.seen[m+" "+tmpl] {
				missing = append(missing, m+" "+tmpl)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("documented but never sent: %v", missing)
	}
}
