package wallet

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRPCErrorsCarryNoURL: whatever way the RPC fails (nothing listening, an
// HTTP error page, a timeout), the error names the endpoint by scheme and
// host only: no user, password, path or query of the configured URL.
func TestRPCErrorsCarryNoURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer page.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	}))
	defer slow.Close()
	secrets := []string{"rpcuser", "s3cr3t-pass", "k3y-in-the-path", "API-KEY-VALUE-123"}
	withSecrets := func(base string) string {
		return strings.Replace(base, "http://", "http://rpcuser:s3cr3t-pass@", 1) + "/k3y-in-the-path/v1?api-key=API-KEY-VALUE-123"
	}
	for _, tc := range []struct{ name, url string }{
		{"nothing listening", withSecrets("http://" + closed)},
		{"HTTP error page", withSecrets(page.URL)},
		{"timeout", withSecrets(slow.URL)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := newRPC(Config{RPCURL: tc.url, RPCTimeout: 250 * time.Millisecond}, slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err = c.GetHealth(ctx)
			if err == nil {
				t.Fatal("GetHealth succeeded")
			}
			var fault *RPCFault
			if !errors.As(err, &fault) {
				t.Fatalf("error %T is not an RPCFault: %v", err, err)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error carries %q: %v", s, err)
				}
			}
			if fault.Endpoint != RedactURL(tc.url) || !strings.HasPrefix(fault.Endpoint, "http://127.0.0.1:") {
				t.Fatalf("endpoint %q", fault.Endpoint)
			}
			t.Logf("%v", err)
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pass@rpc.example.com:8899/v1/KEY?api-key=x": "https://rpc.example.com:8899",
		"http://127.0.0.1:8899":                                   "http://127.0.0.1:8899",
		"redis://:pw@redis:6379/0":                                "redis://redis:6379",
		"::not a url":                                             "(an unparsable URL)",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q; want %q", in, got, want)
		}
	}
}
