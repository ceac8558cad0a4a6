package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestVerify: a good signature passes; a changed body, a wrong secret, a
// stale or future timestamp, a missing or garbled header do not.
func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"session_key.created","created":1700000000,"data":{}}`)
	const secret = "whsec_right"
	good := Sign(secret, now, body)
	ts := strconv.FormatInt(now.Unix(), 10)
	other := Sign("whsec_old", now, body)
	_, otherV1, _ := strings.Cut(other, ",")
	_, goodV1, _ := strings.Cut(good, ",")
	for _, tc := range []struct {
		name      string
		header    string
		body      []byte
		secret    string
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{"good", good, body, secret, 0, now, nil},
		{"good, spaces", "t=" + ts + ", " + goodV1, body, secret, 0, now, nil},
		{"good, 4m59s old", good, body, secret, 0, now.Add(299 * time.Second), nil},
		{"good, 4m59s ahead", good, body, secret, 0, now.Add(-299 * time.Second), nil},
		{"rotation: old then new", "t=" + ts + "," + otherV1 + "," + goodV1, body, secret, 0, now, nil},
		{"other scheme ignored", "t=" + ts + ",v0=abc," + goodV1, body, secret, 0, now, nil},
		{"changed body", good, append(bytes.Clone(body[:len(body)-1]), ' ', '}'), secret, 0, now, ErrBadSignature},
		{"wrong secret", good, body, "whsec_wrong", 0, now, ErrBadSignature},
		{"only the old secret", other, body, secret, 0, now, ErrBadSignature},
		{"stale", good, body, secret, 0, now.Add(6 * time.Minute), ErrTimestamp},
		{"stale, tight tolerance", good, body, secret, 10 * time.Second, now.Add(11 * time.Second), ErrTimestamp},
		{"future", good, body, secret, 0, now.Add(-6 * time.Minute), ErrTimestamp},
		{"re-timed", "t=" + strconv.FormatInt(now.Unix()+1, 10) + "," + goodV1, body, secret, 0, now, ErrBadSignature},
		{"missing", "", body, secret, 0, now, ErrNoSignature},
		{"blank", "  ", body, secret, 0, now, ErrNoSignature},
		{"no timestamp", goodV1, body, secret, 0, now, ErrMalformedSignature},
		{"no v1", "t=" + ts, body, secret, 0, now, ErrMalformedSignature},
		{"two timestamps", "t=" + ts + ",t=" + ts + "," + goodV1, body, secret, 0, now, ErrMalformedSignature},
		{"negative timestamp", "t=-1," + goodV1, body, secret, 0, now, ErrMalformedSignature},
		{"signed timestamp", "t=+" + ts + "," + goodV1, body, secret, 0, now, ErrMalformedSignature},
		{"short v1", "t=" + ts + ",v1=abcd", body, secret, 0, now, ErrMalformedSignature},
		{"not hex", "t=" + ts + ",v1=" + strings.Repeat("zz", 32), body, secret, 0, now, ErrMalformedSignature},
		{"no equals", "t=" + ts + ",garbage," + goodV1, body, secret, 0, now, ErrMalformedSignature},
		{"too many v1", "t=" + ts + strings.Repeat(","+goodV1, maxSignatures+1), body, secret, 0, now, ErrMalformedSignature},
		{"too long", "t=" + ts + "," + goodV1 + strings.Repeat(",x=y", 2000), body, secret, 0, now, ErrMalformedSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.header, tc.body, tc.secret, tc.tolerance, tc.now)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestVerifyRequest reads and verifies a request with the local clock.
func TestVerifyRequest(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_2"}`)
	req := func(sig string, b []byte) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(b))
		if sig != "" {
			r.Header.Set(HeaderSignature, sig)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		want error
	}{
		{"good", req(Sign("s", time.Now(), body), body), nil},
		{"changed body", req(Sign("s", time.Now(), body), []byte(`{"id":"evt_3"}`)), ErrBadSignature},
		{"wrong secret", req(Sign("t", time.Now(), body), body), ErrBadSignature},
		{"stale", req(Sign("s", time.Now().Add(-10*time.Minute), body), body), ErrTimestamp},
		{"no header", req("", body), ErrNoSignature},
		{"too large", req("t=1,v1=00", make([]byte, MaxBodyBytes+1)), ErrBodyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyRequest(tc.r, "s")
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("VerifyRequest = %v, want %v", err, tc.want)
			}
			if err == nil && !bytes.Equal(got, body) {
				t.Errorf("body %q", got)
			}
		})
	}
}

// TestBackoff: the delay doubles from BaseBackoff, is capped at MaxBackoff
// and jittered within [d/2, d].
func TestBackoff(t *testing.T) {
	t.Parallel()
	d := &Dispatcher{cfg: Config{BaseBackoff: time.Second, MaxBackoff: 10 * time.Minute}}
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {8, 128 * time.Second}, {10, 512 * time.Second}, {11, 10 * time.Minute}, {60, 10 * time.Minute}} {
		for range 100 {
			if got := d.backoff(tc.n); got < tc.want/2 || got > tc.want {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tc.n, got, tc.want/2, tc.want)
			}
		}
	}
}

// FuzzParseSignature: the header parser never panics, and what it accepts
// is well formed: one positive decimal timestamp, 1 to 16 signatures of
// 32 bytes. Verify never accepts a header for a wrong secret.
func FuzzParseSignature(f *testing.F) {
	body := []byte(`{"id":"evt_1"}`)
	good := Sign("s", time.Unix(1_700_000_000, 0), body)
	for _, s := range []string{good, "", "t=", "v1=", "t=1,v1=" + strings.Repeat("ab", 32), "t=1,t=2", ",,,", "t=99999999999999999999,v1=00",
		good + ",v1=" + strings.Repeat("0", 64), "t=1700000000 , v0=x, v1=" + strings.Repeat("f", 64), "=,=", "t=1,v1=\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		s, err := parseSignature(h)
		if err != nil {
			if !errors.Is(err, ErrNoSignature) && !errors.Is(err, ErrMalformedSignature) {
				t.Fatalf("unexpected error kind %v", err)
			}
			return
		}
		if s.unix <= 0 || strconv.FormatInt(s.unix, 10) != strings.TrimLeft(s.ts, "0") {
			t.Fatalf("timestamp %q → %d", s.ts, s.unix)
		}
		if len(s.v1) == 0 || len(s.v1) > maxSignatures {
			t.Fatalf("%d signatures", len(s.v1))
		}
		for _, v := range s.v1 {
			if len(v) != sha256.Size {
				t.Fatalf("signature of %d bytes", len(v))
			}
		}
		// Only a header carrying the real HMAC under a secret passes for it.
		if Verify(h, body, "not-the-secret", time.Hour, time.Unix(s.unix, 0)) == nil &&
			!strings.Contains(strings.ToLower(h), hex.EncodeToString(mac("not-the-secret", s.ts, body))) {
			t.Fatalf("accepted %q for a secret it was not signed with", h)
		}
	})
}

// FuzzSignVerify: whatever the body, secret and time, Verify accepts what
// Sign made and refuses it for another body.
func FuzzSignVerify(f *testing.F) {
	f.Add([]byte(`{}`), "s", int64(1_700_000_000))
	f.Add([]byte(""), "", int64(1))
	f.Fuzz(func(t *testing.T, body []byte, secret string, unix int64) {
		if unix <= 0 || unix > 1<<40 {
			return
		}
		now := time.Unix(unix, 0)
		h := Sign(secret, now, body)
		if secret == "" {
			if err := Verify(h, body, secret, 0, now); !errors.Is(err, ErrEmptySecret) {
				t.Fatalf("empty secret: Verify(Sign) = %v; want ErrEmptySecret", err)
			}
			return
		}
		if err := Verify(h, body, secret, 0, now); err != nil {
			t.Fatalf("Verify(Sign) = %v", err)
		}
		if err := Verify(h, append(bytes.Clone(body), 'x'), secret, 0, now); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("changed body: %v", err)
		}
	})
}

// TestVerifyEmptySecret: a receiver whose secret is empty (an unset
// environment variable) refuses everything, even a header made with
// Sign("", …), which anyone can forge.
func TestVerifyEmptySecret(t *testing.T) {
	t.Parallel()
	now := time.Now()
	body := []byte(`{"id":"evt_1","type":"payment.confirmed","created":1700000000,"data":{}}`)
	forged := Sign("", now, body)
	if err := Verify(forged, body, "", 0, now); !errors.Is(err, ErrEmptySecret) {
		t.Fatalf("Verify with an empty secret = %v; want ErrEmptySecret", err)
	}
	r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
	r.Header.Set(HeaderSignature, forged)
	got, err := VerifyRequest(r, "")
	if !errors.Is(err, ErrEmptySecret) {
		t.Fatalf("VerifyRequest with an empty secret = %v; want ErrEmptySecret", err)
	}
	if got != nil {
		t.Fatalf("VerifyRequest with an empty secret returned a body %q", got)
	}
	// The same header still fails under a real secret, and a real one passes.
	if err := Verify(forged, body, "whsec_real", 0, now); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged header under a real secret = %v; want ErrBadSignature", err)
	}
}
