package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/mcpsession"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/tools"
	"github.com/stipend/stipend/web"
)

const (
	usdc       = 1_000_000
	agent      = "shopping-bot"
	apiKey     = "stp_test_agent_key"
	adminToken = "stpadm_test_admin_token"
)

var ctx = context.Background()

// env is a stack (real Redis, local chain) behind the HTTP handler.
type env struct {
	t   *testing.T
	st  *testenv.Stack
	srv *httptest.Server
	h   *web.Handler
	o   web.Options // what h was built with
}

// newEnv serves the whole handler for st on a test server whose URL is the
// service's public URL, so approval links point at it.
func newEnv(t *testing.T, o web.Options, so testenv.StackOptions) *env {
	t.Helper()
	var h atomic.Pointer[web.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Load().ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	so.PublicURL = srv.URL
	st := testenv.NewStack(t, so)
	o.Service = st.Service
	if o.MCP == nil {
		o.MCP = tools.NewServer(st.Service, tools.Options{Version: "test"})
		o.Guard = tools.NewGuard(st.Service)
	}
	if o.Sessions == nil {
		o.Sessions = mcpsession.New(testenv.Redis(t), "stipendtest"+policy.NewID("")[:10], 0)
	}
	if o.APIKeys == nil {
		o.APIKeys = []web.APIKey{{AgentID: agent, SHA256: web.HashToken(apiKey)}}
	}
	if o.AdminTokenSHA256 == nil {
		sum := web.HashToken(adminToken)
		o.AdminTokenSHA256 = &sum
	}
	hd, err := web.NewHandler(o)
	if err != nil {
		t.Fatal(err)
	}
	h.Store(hd)
	t.Cleanup(func() { _ = hd.Shutdown(context.Background()) })
	return &env{t: t, st: st, srv: srv, h: hd, o: o}
}

// response is an HTTP answer with its body.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errCode returns the code of an error answer.
func (r response) errCode(t *testing.T) (code, param string) {
	t.Helper()
	var b struct {
		Error struct{ Code, Message, Param string } `json:"error"`
	}
	r.json(t, &b)
	if b.Error.Message == "" {
		t.Fatalf("error answer without a message: %s", r.body)
	}
	return b.Error.Code, b.Error.Param
}

// do sends a request; body may be nil, a string (sent as is) or a value (as JSON).
func (e *env) do(method, path, token string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	url := path
	if strings.HasPrefix(path, "/") {
		url = e.srv.URL + path
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// admin calls the admin API with the admin token.
func (e *env) admin(method, path string, body any) response {
	e.t.Helper()
	return e.do(method, path, adminToken, body)
}

type ctxT = context.Context

// newTestServer serves h on a test server stopped with the test.
func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
