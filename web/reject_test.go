package web_test

import (
	"testing"
	"time"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/web"
)

// TestApprovalPostsOnlyFromThePage: signing and rejecting change state, so
// they are accepted only as the page sends them: a JSON body from the page's
// own origin. An empty or non-JSON body, another Origin, or a browser saying
// the request is cross-site is refused and changes nothing; a link past its
// life answers 410.
func TestApprovalPostsOnlyFromThePage(t *testing.T) {
	e := newEnv(t, web.Options{}, testenv.StackOptions{})
	user := e.st.NewUser(t, 100*usdc)
	c, err := e.st.Service.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: agent, UserWallet: user.Address().String(), MaxAmount: 10 * usdc})
	if err != nil {
		t.Fatal(err)
	}
	link := c.ApprovalURL
	signed := map[string]string{"signed_transaction": user.SignTransaction(t, c.ApprovalTransaction)}
	for _, tc := range []struct {
		name   string
		path   string
		body   any
		header []string
		status int
		code   string
	}{
		{"reject, empty body, no Content-Type", link + "/reject", nil, nil, 400, "invalid_argument"},
		{"reject, empty body, JSON Content-Type", link + "/reject", nil, []string{"Content-Type", "application/json"}, 400, "invalid_argument"},
		{"reject, form", link + "/reject", "reason=x", []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, "invalid_argument"},
		{"reject, text/plain JSON", link + "/reject", "{}", []string{"Content-Type", "text/plain"}, 400, "invalid_argument"},
		{"reject, other Origin", link + "/reject", map[string]string{}, []string{"Origin", "https://evil.example"}, 403, "cross_origin"},
		{"reject, Origin null", link + "/reject", map[string]string{}, []string{"Origin", "null"}, 403, "cross_origin"},
		{"reject, cross-site fetch", link + "/reject", map[string]string{}, []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross_origin"},
		{"reject, same-site fetch", link + "/reject", map[string]string{}, []string{"Sec-Fetch-Site", "same-site"}, 403, "cross_origin"},
		{"sign, other Origin", link, signed, []string{"Origin", "http://127.0.0.2:1"}, 403, "cross_origin"},
		{"sign, cross-site fetch", link, signed, []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross_origin"},
		{"sign, no Content-Type", link, `{"signed_transaction":"x"}`, []string{"Content-Type", ""}, 400, "invalid_argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", tc.path, "", tc.body, tc.header...)
			if r.status != tc.status {
				t.Fatalf("%d %s; want %d", r.status, r.body, tc.status)
			}
			if code, _ := r.errCode(t); code != tc.code {
				t.Fatalf("code %s; want %s", code, tc.code)
			}
		})
	}
	if v, err := e.st.Service.Approval(ctx, c.ApprovalToken); err != nil || v.Status != "pending" {
		t.Fatalf("refused requests changed the link: %+v %v", v, err)
	}
	// As the page sends it: same origin, JSON.
	r := e.do("POST", link+"/reject", "", map[string]string{"reason": "not now"}, "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin")
	if r.status != 200 {
		t.Fatalf("reject from the page: %d %s", r.status, r.body)
	}

	// A link past its life: 410, and it stays as it was.
	tok := policy.NewToken()
	now, err := e.st.Store.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Store.CreateApproval(ctx, policy.NewApproval{Token: tok, Kind: policy.ApprovalUnlink, UserWallet: user.Address().String(),
		AgentID: agent, Payload: "a message", ExpiresAt: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	r = e.do("POST", "/approve/"+tok+"/reject", "", map[string]string{}, "Origin", e.srv.URL)
	if r.status != 410 {
		t.Fatalf("reject of an expired link: %d %s; want 410", r.status, r.body)
	}
	if code, _ := r.errCode(t); code != "expired" {
		t.Fatalf("code %s; want expired", code)
	}
}
