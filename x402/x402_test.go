package x402

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func validAddr(a string) bool { return len(a) >= 32 && len(a) <= 44 }

const (
	mint   = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
	seller = "GbU9AhTNxjBZuLxuQK1Fk2BXiTAjud74UQ7S4ntyvGJP"
	payer  = "9w371sw93rCoTGgM7LjBxR6RqeproX7T9i2SsfC8kzu8"
	devnet = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
)

func offer(mod func(*Requirements)) Requirements {
	r := Requirements{Scheme: "exact", Network: devnet, Amount: "10000", Asset: mint, PayTo: seller,
		MaxTimeoutSeconds: 300, Extra: Extra{FeePayer: payer}}
	if mod != nil {
		mod(&r)
	}
	return r
}

func TestChoose(t *testing.T) {
	want := Want{Network: devnet, Asset: mint, Max: 50_000}
	tests := []struct {
		name   string
		offers []Requirements
		pick   string // the amount of the chosen offer; "" = none
		fields []string
	}{
		{"one payable", []Requirements{offer(nil)}, "10000", nil},
		{"cheapest payable", []Requirements{offer(func(r *Requirements) { r.Amount = "40000" }), offer(nil)}, "10000", nil},
		{"at the maximum", []Requirements{offer(func(r *Requirements) { r.Amount = "50000" })}, "50000", nil},
		{"above the maximum", []Requirements{offer(func(r *Requirements) { r.Amount = "50001" })}, "", []string{"price"}},
		{"other scheme", []Requirements{offer(func(r *Requirements) { r.Scheme = "upto" })}, "", []string{"scheme"}},
		{"other network", []Requirements{offer(func(r *Requirements) { r.Network = "eip155:8453" })}, "", []string{"network"}},
		{"other token", []Requirements{offer(func(r *Requirements) { r.Asset = seller })}, "", []string{"asset"}},
		{"no fee payer", []Requirements{offer(func(r *Requirements) { r.Extra.FeePayer = "" })}, "", []string{"extra.feePayer"}},
		{"bad payTo", []Requirements{offer(func(r *Requirements) { r.PayTo = "x" })}, "", []string{"payTo"}},
		{"amount not an integer", []Requirements{offer(func(r *Requirements) { r.Amount = "0.01" })}, "", []string{"amount"}},
		{"amount zero", []Requirements{offer(func(r *Requirements) { r.Amount = "0" })}, "", []string{"amount"}},
		{"amount negative", []Requirements{offer(func(r *Requirements) { r.Amount = "-5" })}, "", []string{"amount"}},
		{"amount overflows", []Requirements{offer(func(r *Requirements) { r.Amount = "99999999999999999999" })}, "", []string{"amount"}},
		{"every reason named", []Requirements{offer(func(r *Requirements) { r.Network = "x" }), offer(func(r *Requirements) { r.Amount = "60000" })},
			"", []string{"network", "price"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := Choose(tt.offers, want, validAddr)
			if tt.pick != "" {
				if got == nil || got.Amount != tt.pick || why != nil {
					t.Fatalf("chose %+v (%v); want the offer of %s", got, why, tt.pick)
				}
				return
			}
			if got != nil || len(why) != len(tt.fields) {
				t.Fatalf("chose %+v, reasons %v; want none and %v", got, why, tt.fields)
			}
			for i, f := range tt.fields {
				if why[i].Field != f || why[i].Reason == "" {
					t.Fatalf("reason %d: %+v; want field %s", i, why[i], f)
				}
			}
		})
	}
}

func header(v any) string {
	b, _ := json.Marshal(v)
	return base64.StdEncoding.EncodeToString(b)
}

func TestParsePaymentRequired(t *testing.T) {
	good := header(map[string]any{"x402Version": 2, "resource": map[string]any{"url": "http://x/y"},
		"accepts": []any{map[string]any{"scheme": "exact", "network": devnet, "amount": "10000", "asset": mint, "payTo": seller,
			"maxTimeoutSeconds": 300, "extra": map[string]any{"feePayer": payer, "recentBlockhash": "abc", "lastValidBlockHeight": "174"}}}})
	pr, err := ParsePaymentRequired(good)
	if err != nil || len(pr.Accepts) != 1 || pr.Accepts[0].Extra.FeePayer != payer || pr.Accepts[0].Extra.RecentBlockhash != "abc" {
		t.Fatalf("%+v %v", pr, err)
	}
	// The offer is echoed exactly as it came.
	var echo map[string]any
	if err := json.Unmarshal(pr.Accepts[0].Raw, &echo); err != nil || echo["extra"].(map[string]any)["lastValidBlockHeight"] != "174" {
		t.Fatalf("raw offer: %s", pr.Accepts[0].Raw)
	}
	for name, h := range map[string]string{
		"empty":       "",
		"not base64":  "%%%",
		"not JSON":    base64.StdEncoding.EncodeToString([]byte("nope")),
		"version 1":   header(map[string]any{"x402Version": 1, "accepts": []any{map[string]any{"scheme": "exact"}}}),
		"no offers":   header(map[string]any{"x402Version": 2, "accepts": []any{}}),
		"accepts obj": header(map[string]any{"x402Version": 2, "accepts": map[string]any{}}),
		"too long":    strings.Repeat("A", maxHeader+4),
	} {
		if _, err := ParsePaymentRequired(h); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v; want ErrMalformed", name, err)
		}
	}
}

// FuzzParsePaymentRequired: any header either parses into offers whose raw
// JSON is kept, or is ErrMalformed; it never panics.
func FuzzParsePaymentRequired(f *testing.F) {
	f.Add(header(map[string]any{"x402Version": 2, "accepts": []any{map[string]any{"scheme": "exact", "amount": "1"}}}))
	f.Add("")
	f.Add("eyJ4NDAyVmVyc2lvbiI6Mn0=")
	f.Fuzz(func(t *testing.T, h string) {
		pr, err := ParsePaymentRequired(h)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		for _, o := range pr.Accepts {
			if len(o.Raw) == 0 {
				t.Fatal("offer without its raw JSON")
			}
			_, _ = o.Units()
		}
		_, _ = Choose(pr.Accepts, Want{Network: devnet, Asset: mint, Max: 1 << 40}, validAddr)
	})
}

// FuzzParseSettleResponse: any header parses or is ErrMalformed.
func FuzzParseSettleResponse(f *testing.F) {
	f.Add(header(SettleResponse{Success: true, Transaction: "5x", Network: devnet}))
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		if _, err := ParseSettleResponse(h); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v is not ErrMalformed", err)
		}
	})
}

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700::1111": true,
		"127.0.0.1": false, "127.9.9.9": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd12::1": false,
		"100.64.0.1": false, "0.0.0.0": false, "::": false, "224.0.0.1": false, "255.255.255.255": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "::ffff:8.8.8.8": true, "198.18.0.1": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddr(%s) = %v; want %v", addr, got, want)
		}
	}
}

// TestFetcherRefusesAfterDNSAndRedirects: the check runs on the address
// actually dialed, so a name that resolves to loopback and a redirect to a
// private address are both refused. Here only 127.0.0.1 counts as "public".
func TestFetcherRefusesAfterDNSAndRedirects(t *testing.T) {
	private, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	hidden := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret")) }))
	hidden.Listener = private
	hidden.Start()
	defer hidden.Close()
	var gotHeaders http.Header
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeaders = r.Header.Clone()
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, hidden.URL+"/", http.StatusFound)
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 100)))
		default:
			_, _ = w.Write([]byte("ok"))
		}
	}))
	defer front.Close()
	f := NewFetcher(FetchOptions{MaxBody: 10})
	f.public = func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }
	ctx := context.Background()

	r, err := f.Do(ctx, Request{Method: "GET", URL: front.URL + "/"})
	if err != nil || string(r.Body) != "ok" {
		t.Fatalf("allowed address: %v %v", r, err)
	}
	for _, h := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
		if gotHeaders.Get(h) != "" {
			t.Fatalf("the fetcher sent %s", h)
		}
	}
	if _, err := f.Do(ctx, Request{Method: "GET", URL: front.URL + "/redirect"}); !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("redirect to a private address: %v; want ErrBlockedAddress", err)
	}
	if _, err := f.Do(ctx, Request{Method: "GET", URL: hidden.URL + "/"}); !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("private address: %v; want ErrBlockedAddress", err)
	}
	if _, err := NewFetcher(FetchOptions{}).Do(ctx, Request{Method: "GET", URL: strings.Replace(front.URL, "127.0.0.1", "localhost", 1)}); !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("a name resolving to loopback: %v; want ErrBlockedAddress", err)
	}
	r, err = f.Do(ctx, Request{Method: "GET", URL: front.URL + "/big"})
	if err != nil || len(r.Body) != 10 || !r.Truncated {
		t.Fatalf("bounded body: %d bytes, truncated %v, %v", len(r.Body), r.Truncated, err)
	}
	// A paid request is never redirected: the payment goes only where it was asked for.
	r, err = f.Do(ctx, Request{Method: "GET", URL: front.URL + "/redirect", Payment: "e30="})
	if err != nil || r.Status != http.StatusFound {
		t.Fatalf("paid request followed a redirect: %+v %v", r, err)
	}
	for _, u := range []string{"ftp://example.com/", "http://user:pw@example.com/", "http:///x"} {
		if _, err := f.Do(ctx, Request{Method: "GET", URL: u}); !errors.Is(err, ErrBadURL) {
			t.Errorf("%s: %v; want ErrBadURL", u, err)
		}
	}
}
