package wallet

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
)

// RedactURL returns what of an infrastructure URL may be shown or logged: its
// scheme and host ("https://rpc.example.com"). Hosted RPC providers put their
// keys in the user info, the path or the query, so none of those is kept.
func RedactURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "(an unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

// RPCFault is a failure to talk to the Solana RPC (no answer, a transport or
// HTTP error), as this package returns it: its text names the endpoint by
// scheme and host only. A JSON-RPC error the node answered is not an RPCFault.
type RPCFault struct {
	Endpoint string // scheme and host of the RPC URL
	msg      string
	err      error
}

// Error is the failure with the RPC URL reduced to its scheme and host.
func (e *RPCFault) Error() string { return e.msg }

// Unwrap returns the underlying error (for errors.Is with context errors).
func (e *RPCFault) Unwrap() error { return e.err }

// urlRedactor rewrites texts that may hold an infrastructure URL.
type urlRedactor struct {
	shown   string
	forms   []string // the URL as it may be printed, longest first
	secrets []string // user info, path and query values of the URL
}

func newURLRedactor(raw string) *urlRedactor {
	r := &urlRedactor{shown: RedactURL(raw)}
	add := func(list *[]string, s string, minLen int) {
		if len(s) >= minLen && !strings.Contains(r.shown, s) {
			*list = append(*list, s)
		}
	}
	add(&r.forms, raw, 1)
	if u, err := url.Parse(strings.TrimSpace(raw)); err == nil {
		add(&r.forms, u.String(), 1)
		add(&r.forms, u.Redacted(), 1)
		if u.User != nil {
			add(&r.secrets, u.User.Username(), 4)
			if p, ok := u.User.Password(); ok {
				add(&r.secrets, p, 4)
				add(&r.secrets, url.QueryEscape(p), 4)
			}
		}
		add(&r.secrets, strings.Trim(u.EscapedPath(), "/"), 4)
		add(&r.secrets, strings.Trim(u.Path, "/"), 4)
		add(&r.secrets, u.RawQuery, 4)
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(&r.secrets, v, 4)
				add(&r.secrets, url.QueryEscape(v), 4)
			}
		}
	}
	return r
}

// redact returns text without the URL's secrets: each printed form of the
// URL becomes its scheme and host, any other trace of a secret "[redacted]".
func (r *urlRedactor) redact(text string) string {
	for _, f := range r.forms {
		text = strings.ReplaceAll(text, f, r.shown)
	}
	for _, s := range r.secrets {
		text = strings.ReplaceAll(text, s, "[redacted]")
	}
	return text
}

// redactingRPC is a JSON-RPC client whose errors never carry the endpoint
// URL: solana-go writes "rpc call m() on <URL>: …", and net/http the URL
// with its query.
type redactingRPC struct {
	inner rpc.JSONRPCClient
	r     *urlRedactor
}

func (c *redactingRPC) wrap(err error) error {
	if err == nil {
		return nil
	}
	var answer *jsonrpc.RPCError
	text := err.Error()
	clean := c.r.redact(text)
	if errors.As(err, &answer) && clean == text {
		return err // the node answered with an error: pass it on as it is
	}
	return &RPCFault{Endpoint: c.r.shown, msg: clean, err: err}
}

// CallForInto implements rpc.JSONRPCClient.
func (c *redactingRPC) CallForInto(ctx context.Context, out any, method string, params []any) error {
	return c.wrap(c.inner.CallForInto(ctx, out, method, params))
}

// CallWithCallback implements rpc.JSONRPCClient.
func (c *redactingRPC) CallWithCallback(ctx context.Context, method string, params []any, cb func(*http.Request, *http.Response) error) error {
	return c.wrap(c.inner.CallWithCallback(ctx, method, params, cb))
}

// CallBatch implements rpc.JSONRPCClient.
func (c *redactingRPC) CallBatch(ctx context.Context, requests jsonrpc.RPCRequests) (jsonrpc.RPCResponses, error) {
	res, err := c.inner.CallBatch(ctx, requests)
	return res, c.wrap(err)
}
