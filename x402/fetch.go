package x402

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrBlockedAddress is returned when a URL leads (directly, through DNS or a
// redirect) to a loopback, private, link-local or otherwise internal address.
var ErrBlockedAddress = errors.New("x402: address not allowed")

// ErrBadURL is returned for a URL that is not an absolute http(s) URL.
var ErrBadURL = errors.New("x402: bad URL")

// FetchOptions bound a Fetcher.
type FetchOptions struct {
	// AllowPrivate lets URLs reach loopback, private and link-local
	// addresses: for tests and private deployments only.
	AllowPrivate bool
	// Timeout bounds one request, redirects and body included; 20s by default.
	Timeout time.Duration
	// MaxBody bounds the body read from an answer; 256 KiB by default.
	MaxBody int64
	// MaxRedirects bounds the redirects of an unpaid request; 5 by default.
	// A paid request never follows one: the payment goes only where it was asked for.
	MaxRedirects int
}

// Fetcher makes the HTTP requests of the x402 tool: only to public addresses
// (unless allowed), checked at connect time after DNS and on every redirect,
// with bounded time and body, and never with the caller's credentials.
type Fetcher struct {
	opts   FetchOptions
	client *http.Client
	public func(netip.Addr) bool // PublicAddr; tests narrow it
}

// NewFetcher returns a Fetcher.
func NewFetcher(o FetchOptions) *Fetcher {
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 256 << 10
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = 5
	}
	f := &Fetcher{opts: o, public: PublicAddr}
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: f.control}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		Proxy:                 nil, // a proxy would hide the address actually reached
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
	}
	f.client = &http.Client{Transport: tr, Timeout: o.Timeout, CheckRedirect: f.checkRedirect}
	return f
}

// control runs after DNS resolution, on the address about to be dialed: the
// one check that redirects and DNS rebinding cannot get around.
func (f *Fetcher) control(network, address string, _ syscall.RawConn) error {
	if f.opts.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
	}
	if !f.public(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address", ErrBlockedAddress, ap.Addr())
	}
	return nil
}

// PublicAddr reports whether a is a public unicast address: not loopback,
// private (RFC 1918, fc00::/7), link-local, CGNAT (100.64/10), unspecified,
// multicast, or an IPv4 address mapped into IPv6 that is any of these.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("169.254.0.0/16"), // link-local (cloud metadata)
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
}

func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > 0 && via[0].Header.Get(HeaderPaymentSignature) != "" {
		return http.ErrUseLastResponse // a paid request is never redirected
	}
	if len(via) >= f.opts.MaxRedirects {
		return fmt.Errorf("x402: more than %d redirects", f.opts.MaxRedirects)
	}
	if err := CheckURL(req.URL); err != nil {
		return err
	}
	return nil
}

// CheckURL refuses what the fetcher never requests: other schemes than http
// and https, credentials in the URL, a missing host.
func CheckURL(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: scheme %q (only http and https)", ErrBadURL, u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%w: no host", ErrBadURL)
	case u.User != nil:
		return fmt.Errorf("%w: credentials in the URL are not allowed", ErrBadURL)
	}
	return nil
}

// Request is one request of the fetcher.
type Request struct {
	Method      string // GET or POST
	URL         string
	Body        string
	ContentType string // of Body; application/json by default
	// Payment is the PAYMENT-SIGNATURE header's value for the paid retry.
	Payment string
}

// Response is an answer, with its body read up to the bound.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
	Truncated   bool     // the body was longer than the bound
	URL         *url.URL // the URL that answered (after redirects)
	Header      http.Header
}

// Do sends the request with only the headers the protocol needs (no cookies,
// no authorization, nothing of the caller's) and reads the answer.
func (f *Fetcher) Do(ctx context.Context, r Request) (*Response, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	if err := CheckURL(u); err != nil {
		return nil, err
	}
	var body io.Reader
	if r.Method == http.MethodPost {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	req.Header.Set("User-Agent", "stipend-x402/1")
	req.Header.Set("Accept", "*/*")
	if r.Method == http.MethodPost {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if r.Payment != "" {
		req.Header.Set(HeaderPaymentSignature, r.Payment)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // the body is read (or dropped) already: its close has nothing to tell
	b, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("x402: read the answer: %w", err)
	}
	out := &Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b,
		URL: resp.Request.URL, Header: resp.Header}
	if int64(len(b)) > f.opts.MaxBody {
		out.Body, out.Truncated = b[:f.opts.MaxBody], true
	}
	return out, nil
}
