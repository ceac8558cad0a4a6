package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery.
const (
	// HeaderSignature carries "t=<unix seconds>,v1=<hex hmac>[,v1=…]".
	HeaderSignature = "Stipend-Signature"
	// HeaderEventID is the event's id, the same on every attempt.
	HeaderEventID = "Stipend-Event-Id"
	// HeaderEvent is the event's name, e.g. "session_key.activated".
	HeaderEvent = "Stipend-Event"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock, in either direction, when no tolerance is given.
const DefaultTolerance = 5 * time.Minute

// MaxBodyBytes is the largest body VerifyRequest reads.
const MaxBodyBytes = 1 << 20

// Limits of the signature header parser, so a hostile header costs little.
const (
	maxHeaderLen  = 4096
	maxSignatures = 16
)

// Errors of signature verification; compare with errors.Is.
var (
	// ErrNoSignature: the request has no Stipend-Signature header.
	ErrNoSignature = errors.New("webhook: no signature header")
	// ErrMalformedSignature: the header is not "t=<unix>,v1=<hex>…".
	ErrMalformedSignature = errors.New("webhook: malformed signature header")
	// ErrTimestamp: the signature's timestamp is outside the tolerance (stale or in the future).
	ErrTimestamp = errors.New("webhook: signature timestamp outside tolerance")
	// ErrBadSignature: no v1 value matches the body under the secret.
	ErrBadSignature = errors.New("webhook: signature does not match")
	// ErrBodyTooLarge: the body is larger than MaxBodyBytes.
	ErrBodyTooLarge = errors.New("webhook: body too large")
	// ErrEmptySecret: the receiver passed an empty secret (an unset
	// environment variable, say); nothing verifies under it, since anyone can
	// sign with an empty key.
	ErrEmptySecret = errors.New("webhook: empty secret: nothing can be verified with it")
)

// Sign returns the Stipend-Signature header value of body, signed with
// secret at time t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// signature is a parsed Stipend-Signature header.
type signature struct {
	ts   string // the timestamp exactly as signed
	unix int64
	v1   [][]byte
}

// parseSignature parses "t=<unix>,v1=<hex>[,v1=<hex>…]". Elements of other
// schemes (e.g. "v0=…") are skipped; spaces around elements are allowed.
// It wants exactly one t, a positive decimal, and at least one v1 of 32
// bytes in hex.
func parseSignature(header string) (signature, error) {
	var s signature
	if strings.TrimSpace(header) == "" {
		return s, ErrNoSignature
	}
	if len(header) > maxHeaderLen {
		return s, fmt.Errorf("%w: longer than %d bytes", ErrMalformedSignature, maxHeaderLen)
	}
	seenT := false
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return s, fmt.Errorf("%w: element %q has no '='", ErrMalformedSignature, part)
		}
		switch k {
		case "t":
			if seenT {
				return s, fmt.Errorf("%w: more than one timestamp", ErrMalformedSignature)
			}
			seenT = true
			if v == "" || len(v) > 12 || strings.Trim(v, "0123456789") != "" {
				return s, fmt.Errorf("%w: timestamp %q", ErrMalformedSignature, v)
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return s, fmt.Errorf("%w: timestamp %q", ErrMalformedSignature, v)
			}
			s.ts, s.unix = v, n
		case "v1":
			if len(s.v1) == maxSignatures {
				return s, fmt.Errorf("%w: more than %d signatures", ErrMalformedSignature, maxSignatures)
			}
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return s, fmt.Errorf("%w: v1 is not %d bytes of hex", ErrMalformedSignature, sha256.Size)
			}
			s.v1 = append(s.v1, b)
		default:
			// Another scheme: ignored, as Stripe's libraries do.
		}
	}
	if !seenT {
		return s, fmt.Errorf("%w: no timestamp", ErrMalformedSignature)
	}
	if len(s.v1) == 0 {
		return s, fmt.Errorf("%w: no v1 signature", ErrMalformedSignature)
	}
	return s, nil
}

// Verify checks a Stipend-Signature header value against body and secret:
// the header must parse, its timestamp must be within tolerance of now
// (DefaultTolerance if tolerance <= 0), and one of its v1 values must equal
// HMAC-SHA256(secret, "<t>.<body>") (compared in constant time). Several v1
// values are allowed so a sender may sign with an old and a new secret
// while they rotate. An empty secret is refused (ErrEmptySecret) before
// anything else. Errors wrap ErrEmptySecret, ErrNoSignature,
// ErrMalformedSignature, ErrTimestamp or ErrBadSignature.
func Verify(header string, body []byte, secret string, tolerance time.Duration, now time.Time) error {
	if secret == "" {
		return ErrEmptySecret
	}
	s, err := parseSignature(header)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	tol := int64(tolerance / time.Second)
	if d := now.Unix() - s.unix; d > tol || d < -tol {
		return fmt.Errorf("%w: signed at %d, now %d, tolerance %s", ErrTimestamp, s.unix, now.Unix(), tolerance)
	}
	want := mac(secret, s.ts, body)
	for _, got := range s.v1 {
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// VerifyRequest reads r's body (at most MaxBodyBytes) and verifies its
// Stipend-Signature header with secret, a tolerance of DefaultTolerance and
// the local clock. It returns the body, which the caller should only trust
// when the error is nil. An empty secret is refused (ErrEmptySecret) without
// reading the body.
func VerifyRequest(r *http.Request, secret string) ([]byte, error) {
	if secret == "" {
		return nil, ErrEmptySecret
	}
	if r.Body == nil {
		return nil, fmt.Errorf("webhook: request has no body: %w", ErrBadSignature)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("webhook: read body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	if err := Verify(r.Header.Get(HeaderSignature), body, secret, DefaultTolerance, time.Now()); err != nil {
		return body, err
	}
	return body, nil
}
