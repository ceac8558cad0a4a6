package tools_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
)

const usdc = 1_000_000

// TestFetchPaid drives fetch_paid through an MCP client against a real x402
// seller (Express + @x402/express, the @x402/svm facilitator settling on the
// local chain): the body comes back, the seller holds exactly the price on
// chain, a replay returns the first answer without paying again, prices above
// the maximum or a limit are refused with nothing signed.
func TestFetchPaid(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{X402: true})
	seller := testenv.X402(t, st.Local)
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 10*usdc, "")
	keyAddr := solana.MustPublicKeyFromBase58(k.SessionKeyAddress)
	c := connect(t, tools.NewServer(st.Service, tools.Options{DefaultAgent: "bot"}), nil)

	fetch := func(args map[string]any) (bool, map[string]any) {
		res, m := call(t, c, "fetch_paid", args)
		return res.IsError, m
	}
	start := time.Now()
	isErr, m := fetch(map[string]any{"url": seller.URL + "/weather", "session_key_id": k.SessionKeyID,
		"max_amount": "0.05", "idempotency_key": "weather-1"})
	elapsed := time.Since(start)
	if isErr || m["status"] != "paid" || m["http_status"] != float64(200) {
		t.Fatalf("paid fetch: %v", m)
	}
	t.Logf("one paid fetch on the local chain (402, decide, sign, reserve, paid retry, settlement, commit): %s", elapsed)
	if body, _ := m["body"].(string); body == "" || m["content_type"] == "" || !strings.Contains(body, `"forecast":"sunny"`) {
		t.Fatalf("body: %v", m)
	}
	sig, _ := m["transaction_signature"].(string)
	if sig == "" || m["payment_id"] == "" || m["amount"] != "0.01" || m["pay_to"] != seller.PayTo.String() {
		t.Fatalf("payment fields: %v", m)
	}
	if got := st.TokenBalance(t, seller.PayTo); got != 10_000 {
		t.Fatalf("seller holds %d base units; want exactly the price, 10000", got)
	}
	if got := st.TokenBalance(t, keyAddr); got != 10*usdc-10_000 {
		t.Fatalf("key holds %d on chain", got)
	}
	kv, _ := st.Service.Status(ctx, "bot", k.SessionKeyID)
	if kv.SpentAmount != "0.01" || kv.ReservedAmount != "0.00" || kv.RemainingAmount != "9.99" {
		t.Fatalf("ledger after the fetch: %+v", kv)
	}

	// The same idempotency key: the first answer, not a second payment.
	isErr, again := fetch(map[string]any{"url": seller.URL + "/weather", "session_key_id": k.SessionKeyID,
		"max_amount": "0.05", "idempotency_key": "weather-1"})
	if isErr || again["duplicate"] != true || again["payment_id"] != m["payment_id"] || again["body"] != m["body"] ||
		again["transaction_signature"] != sig {
		t.Fatalf("replay: %v", again)
	}
	if got := st.TokenBalance(t, seller.PayTo); got != 10_000 {
		t.Fatalf("seller holds %d after the replay; paid twice", got)
	}
	// Another agent cannot replay (or read) this key's purchase.
	intruder := connect(t, tools.NewServer(st.Service, tools.Options{DefaultAgent: "intruder"}), nil)
	if res, m := call(t, intruder, "fetch_paid", map[string]any{"url": seller.URL + "/weather", "session_key_id": k.SessionKeyID,
		"max_amount": "0.05", "idempotency_key": "weather-1"}); !res.IsError || errCode(m) != "not_found" || m["body"] != nil {
		t.Fatalf("another agent's replay: %v", m)
	}
	// ... and with another request it is a conflict.
	if isErr, m := fetch(map[string]any{"url": seller.URL + "/premium", "session_key_id": k.SessionKeyID,
		"max_amount": "10", "idempotency_key": "weather-1"}); !isErr || errCode(m) != "conflict" {
		t.Fatalf("reused key for another URL: %v", m)
	}

	// POST with a body.
	isErr, m = fetch(map[string]any{"url": seller.URL + "/echo", "method": "POST", "body": "hello", "content_type": "text/plain",
		"session_key_id": k.SessionKeyID, "max_amount": "0.05", "idempotency_key": "echo-1"})
	if isErr || m["status"] != "paid" || m["body"] != "echo: hello" || m["amount"] != "0.02" {
		t.Fatalf("paid POST: %v", m)
	}
	if got := st.TokenBalance(t, seller.PayTo); got != 30_000 {
		t.Fatalf("seller holds %d; want 30000", got)
	}

	// A free resource is fetched and nothing is paid.
	if isErr, m := fetch(map[string]any{"url": seller.URL + "/free", "session_key_id": k.SessionKeyID,
		"max_amount": "0.05", "idempotency_key": "free-1"}); isErr || m["status"] != "free" || m["body"] != "free content" {
		t.Fatalf("free: %v", m)
	}

	// Refusals sign nothing: the key's transactions on chain do not change.
	before := keyTransactions(t, st, keyAddr)
	isErr, m = fetch(map[string]any{"url": seller.URL + "/premium", "session_key_id": k.SessionKeyID,
		"max_amount": "1", "idempotency_key": "premium-1"})
	if !isErr || errCode(m) != string(policy.CodePriceAboveMaximum) {
		t.Fatalf("price above max_amount: %v", m)
	}

	sess, err := st.Service.CreateSession(ctx, service.CreateSessionInput{AgentID: "bot", UserWallet: user.Address().String(),
		Limits: policy.Limits{PerTransaction: 15_000, PerDay: usdc}, RequireApprovalAbove: 5_000})
	if err != nil {
		t.Fatal(err)
	}
	linked := st.Fund(t, "bot", user, usdc, sess.SessionID)
	isErr, m = fetch(map[string]any{"url": seller.URL + "/echo", "method": "POST", "body": "x", "session_key_id": linked.SessionKeyID,
		"max_amount": "1", "idempotency_key": "echo-limit"})
	if !isErr || errCode(m) != string(policy.CodePerTransactionLimit) {
		t.Fatalf("price above the session's per-transaction limit: %v", m)
	}
	details, _ := m["details"].(map[string]any)
	if d, _ := details["decision"].(map[string]any); d == nil || len(d["checks"].([]any)) == 0 {
		t.Fatalf("a refusal lists its checks: %v", m)
	}
	// Within the limits but above the owner's approval threshold: nothing is
	// signed; the human gets a link; once they approve, stipend buys it and the
	// same idempotency key returns the answer.
	linkedAddr := solana.MustPublicKeyFromBase58(linked.SessionKeyAddress)
	approvalArgs := map[string]any{"url": seller.URL + "/weather", "session_key_id": linked.SessionKeyID,
		"max_amount": "1", "idempotency_key": "weather-approval"}
	isErr, m = fetch(approvalArgs)
	url, _ := m["approval_url"].(string)
	if isErr || m["status"] != "approval_required" || url == "" || m["body"] != nil {
		t.Fatalf("price above require_approval_above: %v", m)
	}
	if got := keyTransactions(t, st, linkedAddr); got != 1 { // its funding only
		t.Fatalf("the linked key has %d transactions; nothing may be signed before the approval", got)
	}
	if isErr, m := fetch(approvalArgs); isErr || m["status"] != "approval_required" || m["duplicate"] != true {
		t.Fatalf("asked again before the approval: %v", m)
	}
	token := url[strings.LastIndex(url, "/")+1:]
	view, err := st.Service.Approval(ctx, token)
	if err != nil || view.Sign != "message" {
		t.Fatalf("approval view: %+v %v", view, err)
	}
	ar, err := st.Service.SubmitApproval(ctx, token, service.Submission{Signature: user.SignMessage(view.Message)})
	if err != nil || ar.Status != "confirmed" {
		t.Fatalf("owner approves: %+v %v", ar, err)
	}
	if got := st.TokenBalance(t, seller.PayTo); got != 40_000 {
		t.Fatalf("seller holds %d after the approved purchase; want 40000", got)
	}
	isErr, m = fetch(approvalArgs)
	if isErr || m["status"] != "paid" || m["duplicate"] != true || !strings.Contains(m["body"].(string), "sunny") || m["transaction_signature"] == "" {
		t.Fatalf("the answer after the approval: %v", m)
	}
	if got := keyTransactions(t, st, keyAddr); got != before {
		t.Fatalf("a refusal signed or sent something: %d transactions, was %d", got, before)
	}
	if got := st.TokenBalance(t, seller.PayTo); got != 40_000 {
		t.Fatalf("seller holds %d after the refusals", got)
	}
	for _, id := range []string{"premium-1"} {
		if p, err := st.Store.PaymentByIdempotencyKey(ctx, k.SessionKeyID, id); err != nil || p != nil {
			t.Fatalf("a refused fetch left a payment: %+v %v", p, err)
		}
	}
}

// TestFetchPaidRefusesPrivateAddresses: by default the tool never reaches
// loopback or private addresses, and says so with invalid_argument.
func TestFetchPaidRefusesPrivateAddresses(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 10*usdc)
	k := st.Fund(t, "bot", user, usdc, "")
	c := connect(t, tools.NewServer(st.Service, tools.Options{DefaultAgent: "bot"}), nil)
	for _, u := range []string{"http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/x", "http://169.254.169.254/latest/meta-data",
		"http://10.0.0.1/", "file:///etc/passwd", "http://user:pw@example.com/"} {
		res, m := call(t, c, "fetch_paid", map[string]any{"url": u, "session_key_id": k.SessionKeyID, "max_amount": "1", "idempotency_key": "p"})
		if !res.IsError || errCode(m) != "invalid_argument" {
			t.Fatalf("%s: %v", u, m)
		}
	}
}

// keyTransactions counts the transactions that name the key on chain.
func keyTransactions(t *testing.T, st *testenv.Stack, key solana.PublicKey) int {
	t.Helper()
	list, err := st.Chain.RPC().GetSignaturesForAddress(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// BenchmarkFetchPaid: one paid fetch through the MCP client on the local
// chain (the unpaid request and its 402, the decision, signing, the
// reservation, the paid retry that the facilitator verifies, submits and
// confirms, the lookup of the transfer on chain, the commit), beside one pay
// of the same amount to the same seller in the same run.
// go test -bench FetchPaid -benchtime 50x -run XXX ./tools/
func BenchmarkFetchPaid(b *testing.B) {
	st := testenv.NewStack(b, testenv.StackOptions{X402: true})
	seller := testenv.X402(b, st.Local)
	user := st.NewUser(b, 1000*usdc)
	k := st.Fund(b, "bot", user, 900*usdc, "")
	srv := tools.NewServer(st.Service, tools.Options{DefaultAgent: "bot"})
	c, err := client.NewInProcessClient(srv)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, name string, args func(i int) map[string]any) {
		for i := range b.N {
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = name, args(i)
			res, err := c.CallTool(ctx, req)
			if err != nil || res.IsError {
				b.Fatalf("%s: %v %v", name, res, err)
			}
		}
	}
	b.Run("fetch_paid", func(b *testing.B) {
		run0 := policy.NewID("")
		run(b, "fetch_paid", func(i int) map[string]any {
			return map[string]any{"url": seller.URL + "/weather", "session_key_id": k.SessionKeyID,
				"max_amount": "0.05", "idempotency_key": fmt.Sprintf("bench-%s-%d", run0, i)}
		})
	})
	b.Run("pay", func(b *testing.B) {
		run0 := policy.NewID("")
		run(b, "pay", func(i int) map[string]any {
			return map[string]any{"recipient": seller.PayTo.String(), "session_key_id": k.SessionKeyID,
				"amount": "0.01", "idempotency_key": fmt.Sprintf("pay-%s-%d", run0, i)}
		})
	})
}

// TestFetchPaidBadInput: bad arguments are invalid_argument naming the
// parameter, before any request is made.
func TestFetchPaidBadInput(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 10*usdc)
	k := st.Fund(t, "bot", user, usdc, "")
	c := connect(t, tools.NewServer(st.Service, tools.Options{DefaultAgent: "bot"}), nil)
	base := func() map[string]any {
		return map[string]any{"url": "https://example.com/x", "session_key_id": k.SessionKeyID, "max_amount": "1", "idempotency_key": "i"}
	}
	for _, tc := range []struct {
		name  string
		set   map[string]any
		param string
	}{
		{"no url", map[string]any{"url": ""}, "url"},
		{"no idempotency key", map[string]any{"idempotency_key": ""}, "idempotency_key"},
		{"no key", map[string]any{"session_key_id": ""}, "session_key_id"},
		{"zero max", map[string]any{"max_amount": "0"}, "max_amount"},
		{"too many decimals", map[string]any{"max_amount": "0.0000001"}, "max_amount"},
		{"max not a number", map[string]any{"max_amount": "lots"}, "max_amount"},
		{"method", map[string]any{"method": "DELETE"}, "method"},
		{"GET with a body", map[string]any{"body": "x"}, "body"},
		{"body too long", map[string]any{"method": "POST", "body": strings.Repeat("x", service.MaxFetchBody+1)}, "body"},
		{"content type with a newline", map[string]any{"method": "POST", "body": "x", "content_type": "text/plain\r\nX-Evil: 1"}, "content_type"},
		{"url too long", map[string]any{"url": "https://example.com/" + strings.Repeat("a", 2100)}, "url"},
		{"not http", map[string]any{"url": "gopher://example.com/"}, "url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := base()
			for k, v := range tc.set {
				args[k] = v
			}
			res, m := call(t, c, "fetch_paid", args)
			e, _ := m["error"].(map[string]any)
			if !res.IsError || errCode(m) != "invalid_argument" || e["param"] != tc.param {
				t.Fatalf("%v; want invalid_argument on %s", m, tc.param)
			}
		})
	}
	if res, m := call(t, c, "fetch_paid", map[string]any{"url": "https://example.com/x", "session_key_id": "sk_nope",
		"max_amount": "1", "idempotency_key": "i"}); !res.IsError || errCode(m) != "not_found" {
		t.Fatalf("unknown key: %v", m)
	}
}
