package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/service"
)

// ---- rendering -----------------------------------------------------------------

// usdc is an amount of USDC: 6 decimals.
func usdc(units int64) *service.TokenAmount {
	return &service.TokenAmount{Units: service.Amount(units), Decimals: 6}
}

func pageTestData(kind string) service.ApprovalView {
	d := service.ApprovalView{
		Token: "ap_test123", Kind: kind, Status: "pending",
		UserWallet: "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU", AgentID: "shopping-bot",
		Sign: "transaction", Transaction: base64.StdEncoding.EncodeToString([]byte("not really a transaction")),
		ExpiresAt: time.Now().Add(10 * time.Minute),
	}
	key := service.Summary{Token: "USDC", SessionKeyID: "sk_abc", SessionKeyAddress: "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM",
		KeyExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	limits := &service.LimitsView{MaxPerTransaction: usdc(25_000_000), MaxPerDay: usdc(100_000_000), MaxPerMonth: usdc(1_000_000_000),
		RequireApprovalAbove: usdc(50_000_000)}
	recipient := "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"
	message := func() {
		d.Sign, d.Transaction, d.Message = "message", "", "stipend: approve "+kind+"\ntoken: ap_test123"
	}
	switch kind {
	case "fund":
		d.Summary = key
		d.Summary.Title = "Fund a new session key"
		d.Summary.Amount, d.Summary.RemainingAfter = usdc(100_000_000), usdc(100_000_000)
		d.Summary.Lines = []service.Line{{Label: "Amount", Value: "100.00 USDC"}, {Label: "Network fee", Value: "about 0.000005 SOL"}}
	case "top_up":
		d.Summary = key
		d.Summary.Amount, d.Summary.RemainingAfter = usdc(50_000_000), usdc(75_000_000)
		d.Summary.Lines = []service.Line{{Label: "Spent so far", Value: "25.00 USDC"}}
	case "payment":
		message()
		d.Summary = key
		d.Summary.Amount, d.Summary.Recipient, d.Summary.RemainingAfter = usdc(60_000_000), recipient, usdc(40_000_000)
		d.Summary.SessionID, d.Summary.Limits, d.Summary.Description = "sess_1", limits, "Premium widget"
		d.Summary.Lines = []service.Line{{Label: "Payment", Value: "pay_7"}}
	case "own_payment":
		d.Summary = service.Summary{Token: "USDC", Amount: usdc(12_500_000), Recipient: recipient, SessionID: "sess_1", Limits: limits, RemainingAfter: usdc(87_500_000)}
	case "link", "unlink":
		message()
		d.Summary = key
		d.Summary.SessionID, d.Summary.Limits = "sess_1", limits
	case "limits":
		message()
		// Per transaction raised, per day lowered, per week from none to a limit, per
		// month unchanged though written with other decimals, the threshold removed.
		d.Summary = service.Summary{Token: "USDC", SessionID: "sess_1", Limits: limits,
			NewLimits: &service.LimitsView{MaxPerTransaction: usdc(50_000_000), MaxPerDay: usdc(80_000_000), MaxPerWeek: usdc(300_000_000),
				MaxPerMonth: &service.TokenAmount{Units: 100_000, Decimals: 2}}}
	}
	return d
}

func renderForTest(t *testing.T, d service.ApprovalView) (*httptest.ResponseRecorder, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := RenderPage(rec, &d); err != nil {
		t.Fatalf("RenderPage: %v", err)
	}
	return rec, rec.Body.String()
}

var pageDataBlock = regexp.MustCompile(`(?s)<script type="application/json" id="approval-data">(.*?)</script>`)

func clientDataOf(t *testing.T, body string) map[string]any {
	t.Helper()
	m := pageDataBlock.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no approval-data block in page")
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(m[1]), &out); err != nil {
		t.Fatalf("approval-data is not JSON: %v\n%s", err, m[1])
	}
	return out
}

func TestRenderPageHeaders(t *testing.T) {
	rec, _ := renderForTest(t, pageTestData("fund"))
	h := rec.Header()
	want := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	if got := h.Get("Content-Security-Policy"); got != want {
		t.Errorf("CSP = %q", got)
	}
	if got := h.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	for k, v := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

// The CSP allows no inline script or style: the page must have none.
func TestRenderPageNoInlineCode(t *testing.T) {
	for _, kind := range []string{"fund", "top_up", "payment", "own_payment", "link", "unlink", "limits"} {
		_, body := renderForTest(t, pageTestData(kind))
		for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
			if !strings.Contains(tag, `src="/approve/static/`) && !strings.Contains(tag, `type="application/json"`) {
				t.Errorf("%s: inline script %s", kind, tag)
			}
		}
		for _, bad := range []string{"<style", " style=", " onclick=", " onload=", "http://", "https://", "javascript:"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s: page contains %q", kind, bad)
			}
		}
	}
}

func TestRenderPageKinds(t *testing.T) {
	cases := map[string][]string{
		"fund":        {"Fund a new session key", "100.00 USDC", "“shopping-bot”", "2 Jan 2030, 03:04 UTC", "revoke the key", "sk_abc", "Network fee", "Sign with your wallet", "7xKX…gAsU"},
		"top_up":      {"Top up a session key", "adding 50.00 USDC", "the session key sk_abc", "up to 75.00 USDC", "Spent so far"},
		"payment":     {"Approve a payment", "wants to pay 60.00 USDC to 4Nd1…DB4T", "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T", "costs nothing", "The exact message you sign", "stipend: approve payment", "25.00 USDC", "Ask me to approve payments above", "Premium widget", "pay_7"},
		"own_payment": {"Pay from your wallet", "from your own wallet", "The transaction you sign", "87.50 USDC"},
		"link":        {"Link a session key to a session", "the session sess_1", "both the key's balance", "No limit", "1000.00 USDC"},
		"unlink":      {"Remove a session", "Limits that stop applying", "no longer apply"},
		"limits":      {"Change a session", "Now", "After you sign", "raised", "lowered", "unchanged" /* absent */, "asks you less", "Not set"},
	}
	for kind, wants := range cases {
		_, body := renderForTest(t, pageTestData(kind))
		for _, w := range wants {
			if w == "unchanged" {
				if strings.Contains(body, ">unchanged<") {
					t.Errorf("%s: an unchanged limit is tagged", kind)
				}
				continue
			}
			if !strings.Contains(body, w) {
				t.Errorf("%s: page lacks %q", kind, w)
			}
		}
		// "Amount" comes once from the facts; the server's line of the same label is not repeated.
		if n := strings.Count(body, "<dt>Amount</dt>"); n > 1 {
			t.Errorf("%s: Amount shown %d times", kind, n)
		}
		if c := clientDataOf(t, body); c["user_wallet"] != "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU" || c["kind"] != kind {
			t.Errorf("%s: client data %v", kind, c)
		}
		if !strings.Contains(body, `data-phase="ready"`) || !strings.Contains(body, `data-chain="`+DefaultChain+`"`) {
			t.Errorf("%s: the page is not ready to sign on %s", kind, DefaultChain)
		}
		if !strings.Contains(body, `id="sign"`) {
			t.Errorf("%s: no sign section", kind)
		}
	}
}

func TestRenderPageClosedStates(t *testing.T) {
	past := pageTestData("fund")
	past.ExpiresAt = time.Now().Add(-time.Minute)
	used := pageTestData("fund")
	used.Status = "used"
	used.Result = json.RawMessage(`{"status":"active","signature":"5sigXYZ","session_key_id":"sk_abc"}`)
	cases := []struct {
		name  string
		d     service.ApprovalView
		wants []string
	}{
		{"expired", func() service.ApprovalView { d := pageTestData("fund"); d.Status = "expired"; return d }(), []string{"This link has expired", "nothing changed"}},
		{"past expiry", past, []string{"This link has expired"}},
		{"used", used, []string{"Already approved", "5sigXYZ", "Transaction signature"}},
		{"cancelled", func() service.ApprovalView { d := pageTestData("payment"); d.Status = "cancelled"; return d }(), []string{"Cancelled"}},
		{"processing", func() service.ApprovalView { d := pageTestData("fund"); d.Status = "processing"; return d }(), []string{"Being processed"}},
		{"nothing to sign", func() service.ApprovalView { d := pageTestData("fund"); d.Transaction = ""; return d }(), []string{"cannot be signed"}},
	}
	for _, c := range cases {
		_, body := renderForTest(t, c.d)
		for _, w := range c.wants {
			if !strings.Contains(body, w) {
				t.Errorf("%s: page lacks %q", c.name, w)
			}
		}
		if strings.Contains(body, `id="sign"`) {
			t.Errorf("%s: page offers to sign", c.name)
		}
		if !strings.Contains(body, `data-phase="closed"`) {
			t.Errorf("%s: the page is not closed", c.name)
		}
	}
}

func TestRenderPageEscapes(t *testing.T) {
	d := pageTestData("payment")
	evil := `</script><script>alert(1)</script><img src=x onerror=alert(2)>`
	d.AgentID = evil
	d.Summary.Description = evil
	d.Message = evil
	_, body := renderForTest(t, d)
	if strings.Contains(body, "<script>alert(1)") || strings.Contains(body, "<img src=x") {
		t.Fatalf("unescaped input in page:\n%s", body)
	}
	if n := strings.Count(body, "</script>"); n != 4 { // sign.js, decode.js, approve.js and the data block
		t.Errorf("%d </script> in page", n)
	}
	if c := clientDataOf(t, body); c["message"] != evil {
		t.Errorf("message in client data = %q", c["message"])
	}
}

// The page's script reads the orchestrator's view as it is: the JSON in the
// page is the view's, as GET /approve/{token} answers it.
func TestPageDataIsTheView(t *testing.T) {
	for _, kind := range []string{"fund", "payment", "limits"} {
		d := pageTestData(kind)
		d.Result = json.RawMessage(`{"status":"limits_changed"}`)
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		_, body := renderForTest(t, d)
		var back service.ApprovalView
		if err := json.Unmarshal([]byte(pageDataBlock.FindStringSubmatch(body)[1]), &back); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		got, err := json.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the page's data\n%s\nis not the view\n%s", kind, got, want)
		}
	}
}

func TestPageLimitChange(t *testing.T) {
	cases := []struct {
		threshold bool
		cur, nw   *service.TokenAmount
		want      string
	}{
		{false, usdc(100_000_000), usdc(80_000_000), "lowered"},
		{false, nil, usdc(80_000_000), "lowered"},
		{false, usdc(80_000_000), nil, "raised"},
		{false, usdc(9_500_000), usdc(10_000_000), "raised"},
		{false, usdc(10_050_000), usdc(10_500_000), "raised"},
		{true, usdc(50_000_000), nil, "asks you less"},
		{true, nil, usdc(50_000_000), "asks you more"},
		{true, usdc(50_000_000), usdc(60_000_000), "asks you less"},
		{false, usdc(7_000_000), usdc(7_000_000), "unchanged"},
		{false, nil, nil, "unchanged"},
		// The same value written with other decimals: unchanged.
		{false, usdc(100_000_000), &service.TokenAmount{Units: 10_000, Decimals: 2}, "unchanged"},
		{false, &service.TokenAmount{Units: 10_001, Decimals: 2}, usdc(100_000_000), "lowered"},
	}
	for _, c := range cases {
		if got := pageLimitChange(c.threshold, c.cur, c.nw); got != c.want {
			t.Errorf("pageLimitChange(%v, %v, %v) = %q, want %q", c.threshold, c.cur, c.nw, got, c.want)
		}
	}
}

func TestPageChain(t *testing.T) {
	for in, want := range map[string]string{"": "solana:localnet", "solana:devnet": "solana:devnet", "devnet": "solana:devnet", "mainnet-beta": "solana:mainnet", "solana:mainnet": "solana:mainnet"} {
		if got := pageChain(in); got != want {
			t.Errorf("pageChain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAssets(t *testing.T) {
	srv := httptest.NewServer(Assets())
	defer srv.Close()
	for path, ctype := range map[string]string{
		"/approve/static/approve.js":  "text/javascript",
		"/approve/static/sign.js":     "text/javascript",
		"/approve/static/decode.js":   "text/javascript",
		"/approve/static/approve.css": "text/css",
		"/approve/static/icon.svg":    "image/svg+xml",
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) || len(body) == 0 {
			t.Errorf("%s: %d %q (%d bytes)", path, res.StatusCode, res.Header.Get("Content-Type"), len(body))
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: security headers missing", path)
		}
	}
	for _, path := range []string{"/approve/static/", "/approve/static/nope.js", "/approve/static/../page.go", "/other"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, res.StatusCode)
		}
	}
	res, err := http.Post(srv.URL+"/approve/static/approve.js", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST asset: %d", res.StatusCode)
	}
}

// ---- a fake approval server for the browser test ----------------------------------

// fakeApproval is one approval link of the fake server.
type fakeApproval struct {
	data     service.ApprovalView
	pub      ed25519.PublicKey
	issued   []byte // the transaction message or the text, as issued
	failOnce bool   // first POST answers unavailable
	conflict bool   // every POST answers conflict
	// expireOnPost: the link expires between showing the page and the POST.
	expireOnPost bool
	delay        time.Duration
	posts        int
	// build makes the transaction to sign for the owner's key (else a memo).
	build func(owner ed25519.PublicKey) (wire, message []byte)
}

// fakeApprovalServer serves RenderPage, Assets and a JSON contract like web/approve.go's.
type fakeApprovalServer struct {
	mu   sync.Mutex
	byID map[string]*fakeApproval
}

func (s *fakeApprovalServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/approve/static/") {
		Assets().ServeHTTP(w, r)
		return
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/approve/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	a := s.byID[token]
	s.mu.Unlock()
	if a == nil {
		fakeError(w, 404, "not_found", "no such approval")
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		d := a.data
		s.mu.Unlock()
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(d)
			return
		}
		if err := RenderPage(w, &d); err != nil {
			http.Error(w, err.Error(), 500)
		}
	case http.MethodPost:
		s.post(w, r, a)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func fakeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (s *fakeApprovalServer) post(w http.ResponseWriter, r *http.Request, a *fakeApproval) {
	var in struct {
		SignedTransaction string `json:"signed_transaction"`
		Signature         string `json:"signature"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		fakeError(w, 400, "invalid_argument", "body is not JSON")
		return
	}
	time.Sleep(a.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	a.posts++
	if a.conflict || a.data.Status != "pending" {
		fakeError(w, 409, "conflict", "already used")
		return
	}
	if a.expireOnPost || time.Now().After(a.data.ExpiresAt) {
		a.data.Status = "expired"
		fakeError(w, 410, "expired", "link expired")
		return
	}
	var sig []byte
	if a.data.Sign == "transaction" {
		tx, err := base64.StdEncoding.DecodeString(in.SignedTransaction)
		if err != nil || len(tx) < 1+64 || tx[0] != 1 {
			fakeError(w, 400, "invalid_argument", "not a transaction")
			return
		}
		if !bytes.Equal(tx[65:], a.issued) {
			fakeError(w, 400, "tampered", "the transaction differs from the one issued")
			return
		}
		sig = tx[1:65]
		if !ed25519.Verify(a.pub, a.issued, sig) {
			fakeError(w, 400, "invalid_signature", "signature does not verify")
			return
		}
	} else {
		sig = fakeBase58Decode(in.Signature)
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(a.pub, a.issued, sig) {
			fakeError(w, 400, "invalid_signature", "signature does not verify")
			return
		}
	}
	if a.failOnce {
		a.failOnce = false
		fakeError(w, 503, "unavailable", "the chain did not answer")
		return
	}
	status := map[string]string{"fund": "active", "top_up": "active", "payment": "confirmed", "own_payment": "confirmed",
		"link": "linked", "unlink": "unlinked", "limits": "limits_changed"}[a.data.Kind]
	result := map[string]any{"status": status, "session_key_id": a.data.Summary.SessionKeyID}
	if a.data.Sign == "transaction" || a.data.Kind == "payment" {
		result["signature"] = fakeBase58Encode(sig)
	}
	raw, _ := json.Marshal(result)
	a.data.Status = "used"
	a.data.Result = raw
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"status": status, "kind": a.data.Kind, "result": result})
}

const fakeB58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

func fakeBase58Encode(b []byte) string {
	n := new(big.Int).SetBytes(b)
	var out []byte
	mod, base := new(big.Int), big.NewInt(58)
	for n.Sign() > 0 {
		n.DivMod(n, base, mod)
		out = append(out, fakeB58[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

func fakeBase58Decode(s string) []byte {
	n := new(big.Int)
	for _, c := range s {
		i := strings.IndexRune(fakeB58, c)
		if i < 0 {
			return nil
		}
		n.Mul(n, big.NewInt(58)).Add(n, big.NewInt(int64(i)))
	}
	out := n.Bytes()
	for _, c := range s {
		if c != '1' {
			break
		}
		out = append([]byte{0}, out...)
	}
	return out
}

// fakeTransaction is a legacy wire transaction with one signer (payer) and an
// SPL Memo instruction: signatures zeroed, and its message.
func fakeTransaction(payer ed25519.PublicKey, memo string) (wire, message []byte) {
	program := solana.MemoProgramID.Bytes()
	blockhash := make([]byte, 32)
	rand.Read(blockhash)
	message = append(message, 1, 0, 1) // one signer; one read-only unsigned account
	message = append(message, 2)       // two account keys
	message = append(message, payer...)
	message = append(message, program...)
	message = append(message, blockhash...)
	message = append(message, 1, 1, 1, 0, byte(len(memo))) // one instruction: program 1, account 0, data
	message = append(message, memo...)
	wire = append([]byte{1}, make([]byte, 64)...)
	return append(wire, message...), message
}

// browserCase is one case of web/e2e/approve.test.js.
type browserCase struct {
	Name      string         `json:"name"`
	URL       string         `json:"url"`
	SecretKey string         `json:"secret_key"`
	Mode      string         `json:"mode,omitempty"`
	Viewport  string         `json:"viewport,omitempty"`
	Keyboard  bool           `json:"keyboard,omitempty"`
	Retry     bool           `json:"retry,omitempty"`
	DelayMs   int            `json:"delay_ms,omitempty"`
	Expect    map[string]any `json:"expect"`
	// SkipOtherSize: the page of this kind was already shown at the other size.
	SkipOtherSize bool `json:"skip_other_size,omitempty"`

	posts int // POSTs the server must have seen
	final string
}

// TestBrowser drives the approval page in headless Chromium (web/e2e, node --test)
// against a fake approval server: every kind approved, and each failure changing
// nothing. Outside CI it skips when Chromium, node or web/e2e/node_modules are
// missing; in CI (CI set) it fails instead.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	env := browserEnv(t)

	fake := &fakeApprovalServer{byID: map[string]*fakeApproval{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	owner := func() (ed25519.PublicKey, string) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		return pub, fakeBase58Encode(priv)
	}
	var cases []*browserCase
	shown := map[string]bool{} // kinds whose page was shown at the other size too
	add := func(name, kind string, c browserCase, tweak func(*fakeApproval)) {
		c.SkipOtherSize, shown[kind] = shown[kind], true
		pub, secret := owner()
		d := pageTestData(kind)
		d.Token = "ap_" + strings.ReplaceAll(name, "-", "_")
		d.UserWallet = fakeBase58Encode(pub)
		d.AgentID = "shopping-bot"
		a := &fakeApproval{pub: pub, delay: 150 * time.Millisecond}
		if d.Sign == "transaction" {
			wire, msg := fakeTransaction(pub, "stipend "+d.Token)
			d.Transaction = base64.StdEncoding.EncodeToString(wire)
			a.issued = msg
		} else {
			statement := "Approve " + kind + " for the agent shopping-bot on session sess_1."
			if kind == "payment" {
				statement = "Approve a payment of " + d.Summary.Amount.String() + " USDC to " + d.Summary.Recipient + " from session key sk_abc."
			}
			d.Message = fmt.Sprintf("pay.example.com wants you to approve with your Solana account:\n%s\n\n%s\n\nURI: https://pay.example.com/approve\nNonce: %x\nIssued At: 2030-01-01T00:00:00Z\nExpiration Time: 2030-01-01T00:30:00Z",
				d.UserWallet, statement, sha256.Sum256([]byte(d.Token)))
			a.issued = []byte(d.Message)
		}
		a.data = d
		if tweak != nil {
			tweak(a)
		}
		if a.build != nil {
			wire, msg := a.build(pub)
			a.data.Transaction = base64.StdEncoding.EncodeToString(wire)
			a.issued = msg
		}
		fake.byID[d.Token] = a
		c.Name, c.URL, c.SecretKey = name, "/approve/"+d.Token, secret
		if c.final == "" {
			c.final = "pending"
		}
		cases = append(cases, &c)
	}
	ok := func(code string) map[string]any { return map[string]any{"state": "success", "code": code} }
	fail := func(code, title string) map[string]any {
		return map[string]any{"state": "error", "code": code, "title_includes": title}
	}
	// Every kind, approved.
	add("fund-ok", "fund", browserCase{Expect: map[string]any{"state": "success", "code": "active", "chain": "solana:localnet",
		"progress_includes": []string{"Connecting to", "Waiting for your wallet…", "Sending to Solana…", "Confirming…"}},
		posts: 1, final: "used"}, func(a *fakeApproval) { a.delay = 2 * time.Second })
	add("top_up-ok", "top_up", browserCase{Viewport: "phone", Keyboard: true, Expect: ok("active"), posts: 1, final: "used"}, nil)
	add("payment-ok", "payment", browserCase{Expect: map[string]any{"state": "success", "code": "confirmed",
		"progress_includes": []string{"Waiting for your wallet…", "Sending your signature…"}}, posts: 1, final: "used"}, nil)
	add("own_payment-ok", "own_payment", browserCase{Viewport: "phone", Expect: ok("confirmed"), posts: 1, final: "used"},
		func(a *fakeApproval) { a.data.Cluster = "solana:devnet" })
	add("link-ok", "link", browserCase{Expect: ok("linked"), posts: 1, final: "used"}, nil)
	add("unlink-ok", "unlink", browserCase{Keyboard: true, Expect: ok("unlinked"), posts: 1, final: "used"}, nil)
	add("limits-ok", "limits", browserCase{Viewport: "phone", Expect: ok("limits_changed"), posts: 1, final: "used"}, nil)
	// Failures: each says what happened and changes nothing.
	add("fund-reject", "fund", browserCase{Mode: "reject", Expect: fail("rejected", "Not signed")}, nil)
	add("payment-reject", "payment", browserCase{Mode: "reject", Viewport: "phone", Expect: fail("rejected", "Not signed")}, nil)
	add("fund-wrong-wallet", "fund", browserCase{Mode: "wrong-wallet", Expect: fail("wrong_wallet", "Wrong wallet: connect ")}, nil)
	add("limits-wrong-wallet", "limits", browserCase{Mode: "wrong-wallet", Viewport: "phone", Expect: fail("wrong_wallet", "Wrong wallet")}, nil)
	add("fund-no-wallet", "fund", browserCase{Mode: "no-wallet", Viewport: "phone", Expect: map[string]any{"state": "no-wallet", "text_includes": "No Solana wallet found"}}, nil)
	add("fund-tamper", "fund", browserCase{Mode: "tamper", Expect: fail("tampered", "Refused"), posts: 1}, nil)
	add("unlink-tamper", "unlink", browserCase{Mode: "tamper", Expect: fail("invalid_signature", "not valid"), posts: 1}, nil)
	add("fund-unavailable", "fund", browserCase{Expect: fail("unavailable", "Solana did not answer"), posts: 1},
		func(a *fakeApproval) { a.failOnce = true })
	add("top_up-unavailable-retry", "top_up", browserCase{Retry: true, Expect: map[string]any{"state": "success", "code": "active", "first_code": "unavailable"},
		posts: 2, final: "used"}, func(a *fakeApproval) { a.failOnce = true })
	add("payment-conflict", "payment", browserCase{Expect: fail("conflict", "Already used"), posts: 1}, func(a *fakeApproval) { a.conflict = true })
	add("fund-expires-on-post", "fund", browserCase{Expect: fail("expired", "expired"), posts: 1, final: "expired"},
		func(a *fakeApproval) { a.expireOnPost = true })
	// Pages that may not be signed any more: the state, no button.
	add("fund-expired", "fund", browserCase{Expect: map[string]any{"state": "closed", "title_includes": "expired"}, final: "expired"},
		func(a *fakeApproval) { a.data.Status = "expired" })
	add("fund-used", "fund", browserCase{Expect: map[string]any{"state": "closed", "title_includes": "Already approved"}, final: "used"},
		func(a *fakeApproval) {
			a.data.Status = "used"
			a.data.Result = json.RawMessage(`{"status":"active","signature":"4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi"}`)
		})
	add("payment-cancelled", "payment", browserCase{Viewport: "phone", Expect: map[string]any{"state": "closed", "title_includes": "Cancelled"}, final: "cancelled"},
		func(a *fakeApproval) { a.data.Status = "cancelled" })

	addDecodeCases(t, add)

	env.run(t, srv.URL, cases)

	// The server side: what each case may and may not have changed.
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, c := range cases {
		a := fake.byID[strings.TrimPrefix(c.URL, "/approve/")]
		if a.posts != c.posts {
			t.Errorf("%s: the server saw %d POSTs, want %d", c.Name, a.posts, c.posts)
		}
		if a.data.Status != c.final {
			t.Errorf("%s: approval is %q, want %q", c.Name, a.data.Status, c.final)
		}
	}
}

// browser is where the browser tests run: Debian's Chromium, node and the
// web/e2e package (playwright-core and the Wallet Standard test wallet).
type browser struct {
	node, e2e, chromium, artifacts string
}

// browserEnv finds the browser test's tools; without them the test is
// skipped loudly, or fails in CI.
func browserEnv(t *testing.T) *browser {
	t.Helper()
	missing := func(what string) {
		msg := "BROWSER TEST NOT RUN: " + what + " (apt-get install -y chromium chromium-driver nodejs npm; cd web/e2e && npm ci)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	b := &browser{chromium: os.Getenv("CHROMIUM_PATH"), artifacts: os.Getenv("STIPEND_ARTIFACTS")}
	if b.chromium == "" {
		b.chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(b.chromium); err != nil {
		missing("no Chromium at " + b.chromium)
	}
	var err error
	if b.node, err = exec.LookPath("node"); err != nil {
		missing("no node in PATH")
	}
	b.e2e, _ = filepath.Abs("e2e")
	if _, err := os.Stat(filepath.Join(b.e2e, "node_modules", "playwright-core")); err != nil {
		missing("web/e2e/node_modules is not installed")
	}
	if b.artifacts == "" {
		b.artifacts = filepath.Join(b.e2e, "artifacts")
	}
	if err := os.MkdirAll(b.artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	return b
}

// run carries out the cases against baseURL in headless Chromium
// (web/e2e/approve.test.js) and fails the test unless every case passed.
func (b *browser) run(t *testing.T, baseURL string, cases any) {
	t.Helper()
	spec, _ := json.MarshalIndent(map[string]any{"base_url": baseURL, "cases": cases}, "", "  ")
	specPath := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	// The browser gets the test's own time (go test -timeout), less a moment to report.
	deadline, ok := t.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Hour)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(-30*time.Second))
	defer cancel()
	cmd := exec.CommandContext(ctx, b.node, "--test", "--test-concurrency=1", "--test-reporter=spec", "approve.test.js")
	cmd.Dir = b.e2e
	cmd.Env = append(os.Environ(), "STIPEND_E2E_CASES="+specPath, "STIPEND_ARTIFACTS="+b.artifacts, "CHROMIUM_PATH="+b.chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test approve.test.js:\n%s", out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
	if !bytes.Contains(out, []byte("pass ")) || !bytes.Contains(out, []byte("fail 0")) || bytes.Contains(out, []byte("skipped 1")) {
		t.Fatalf("browser tests did not all run and pass")
	}
	t.Logf("screenshots in %s", b.artifacts)
}
