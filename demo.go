package stipend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/internal/localnet"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/wallet"
	"github.com/stipend/stipend/web"
)

const demoAgent = "shopping-bot"

// DemoOptions are how the demo runs.
type DemoOptions struct {
	Out     io.Writer    // where the demo tells its steps
	Logger  *slog.Logger // the server's logs; nil discards them
	Keep    bool         // keep the server and chain running after the demo, until ctx ends
	Version string       // reported to the demo's MCP client
}

// Demo runs the session-key lifecycle end to end on a local chain (Node.js
// and internal/localnet's npm packages), as an agent (an MCP client over
// HTTP) and its human (the approval endpoints, signing with their wallet)
// would, against the app New builds on the embedded store; then it buys one
// answer from an x402 seller with fetch_paid. Any step that does not behave
// as expected is its error.
func Demo(ctx context.Context, o DemoOptions) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := &demo{out: o.Out, log: o.Logger, version: o.Version}
	return d.run(ctx, o.Keep)
}

// demo runs the seed's lifecycle end to end, as an agent (over MCP) and its
// human (over the approval pages) would, on a local chain.
type demo struct {
	out     io.Writer
	log     *slog.Logger
	version string
	chain   *localnet.Chain
	app     *App
	base    string
	admin   string
	mcp     *client.Client
	user    *wallet.Keypair
	shop    solana.PublicKey
	key     solana.PublicKey
	step    int
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }

func (d *demo) run(ctx context.Context, keep bool) error {
	d.printf("stipend demo: the session-key lifecycle on a local Solana chain\n\n")
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	// Devnet's USDC address, so the x402 step's seller (@x402/svm) prices in this mint.
	chain, err := localnet.Start(sctx, localnet.Options{Mint: localnet.DevnetUSDC})
	cancel()
	if err != nil {
		if errors.Is(err, localnet.ErrNotInstalled) || errors.Is(err, localnet.ErrNodeMissing) {
			return fmt.Errorf("%w\n  the demo needs Node.js 20+ and the local chain's packages: cd internal/localnet && npm ci", err)
		}
		return fmt.Errorf("start the local chain: %w", err)
	}
	defer func() { _ = chain.Close() }() // shutting down: nothing to do about a failed close
	d.chain = chain

	// The server: what serve runs, configured as a user would, on the
	// embedded store, with fresh secrets.
	secrets, err := NewSecrets("demo", demoAgent)
	if err != nil {
		return err
	}
	d.admin = secrets.AdminToken
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	d.base = "http://" + ln.Addr().String()
	cfg := DefaultConfig()
	cfg.Listen, cfg.PublicURL = ln.Addr().String(), d.base
	cfg.RPCURL, cfg.Mint, cfg.Decimals, cfg.Cluster = chain.URL, chain.Mint.String(), int(chain.Decimals), "solana:localnet"
	cfg.MasterKeys = []string{secrets.MasterKey}
	cfg.APIKeys = []APIKeyConfig{{AgentID: demoAgent, KeySHA256: secrets.APIKeySHA256}}
	cfg.AdminTokenSHA256 = secrets.AdminTokenSHA256
	cfg.X402Network, cfg.X402AllowPrivate = localnet.DevnetX402Network, true
	if d.app, err = New(ctx, cfg, Options{Listener: ln, Logger: d.log, Version: d.version}); err != nil {
		_ = ln.Close() // never served
		return err
	}
	defer d.app.Close()
	runCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- d.app.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			d.log.Error("demo server stopped", "err", err)
		}
	}()

	// The human: a wallet with 1 SOL and 500 USDC. The shop: an empty address.
	if d.user, err = wallet.NewKeypair(); err != nil {
		return err
	}
	if err := chain.Airdrop(ctx, d.user.PublicKey(), 1_000_000_000); err != nil {
		return fmt.Errorf("airdrop: %w", err)
	}
	if _, err := chain.MintTo(ctx, d.user.PublicKey(), 500_000_000); err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	shop, err := wallet.NewKeypair()
	if err != nil {
		return err
	}
	d.shop = shop.PublicKey()
	d.printf("  local chain     %s (USDC-like mint %s)\n", chain.URL, chain.Mint)
	d.printf("  stipend server  %s (MCP at /mcp, approval pages at /approve/…; embedded in-memory store)\n", d.base)
	d.printf("  user wallet     %s (1 SOL, 500 USDC)\n", d.user.PublicKey())
	d.printf("  shop            %s\n\n", d.shop)

	// The agent: an MCP client over streamable HTTP with its API key.
	if d.mcp, err = client.NewStreamableHttpClient(d.base+"/mcp",
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + secrets.APIKey})); err != nil {
		return err
	}
	defer func() { _ = d.mcp.Close() }() // shutting down: nothing to do about a failed close
	if err := d.mcp.Start(ctx); err != nil {
		return fmt.Errorf("mcp start: %w", err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "stipend-demo-agent", Version: d.version}
	ir, err := d.mcp.Initialize(ctx, init)
	if err != nil {
		return fmt.Errorf("mcp initialize: %w", err)
	}
	d.printf("  agent %q connected over MCP to %s %s\n\n", demoAgent, ir.ServerInfo.Name, ir.ServerInfo.Version)

	if err := d.lifecycle(ctx); err != nil {
		return err
	}
	if err := d.paidFetch(ctx); err != nil {
		return err
	}
	d.printf("\nstipend demo: every step behaved as expected.\n")
	if keep {
		d.printf("\nThe server keeps running at %s (admin token %s). Ctrl-C to stop.\n", d.base, d.admin)
		<-ctx.Done()
	}
	return nil
}

// lifecycle is the seed's flow: create → approve → pay → can_afford refused
// → linked session blocks → top-up → revoke and sweep.
func (d *demo) lifecycle(ctx context.Context) error {
	var created service.KeyCreated
	created.KeyView = &service.KeyView{}
	d.say("Agent calls create_session_key (100 USDC, 24 hours)")
	if err := d.tool(ctx, "create_session_key", map[string]any{"user_wallet": d.user.PublicKey().String(),
		"max_amount": "100", "expiry_hours": 24}, &created); err != nil {
		return err
	}
	if created.Status != "pending_approval" || created.ApprovalURL == "" {
		return fmt.Errorf("create_session_key: status %q, approval_url %q", created.Status, created.ApprovalURL)
	}
	d.key = solana.MustPublicKeyFromBase58(created.SessionKeyAddress)
	id := created.SessionKeyID
	d.printf("     → %s %s, address %s\n     → approval link for the human: %s\n", id, created.Status, created.SessionKeyAddress, created.ApprovalURL)

	d.say("The human opens the link and signs the funding transaction in their wallet")
	res, err := d.approve(ctx, created.ApprovalURL)
	if err != nil {
		return err
	}
	if res.Status != "active" {
		return fmt.Errorf("approval: status %q, want active", res.Status)
	}
	if err := d.balances(ctx, "400", "100", "0"); err != nil {
		return err
	}

	d.say("Agent calls pay: 29.99 USDC to the shop for a Premium widget")
	var paid service.PayResult
	if err := d.tool(ctx, "pay", map[string]any{"session_key_id": id, "recipient": d.shop.String(), "amount": "29.99",
		"description": "Premium widget", "idempotency_key": "order-1"}, &paid); err != nil {
		return err
	}
	if paid.Status != "confirmed" {
		return fmt.Errorf("pay: status %q (%s)", paid.Status, paid.Reason)
	}
	d.printf("     → confirmed: payment %s, transaction %s\n", paid.PaymentID, short(paid.TransactionSignature))
	if err := d.balances(ctx, "400", "70.01", "29.99"); err != nil {
		return err
	}

	d.say("Agent calls can_afford 80 USDC")
	var check service.DecisionView
	if err := d.tool(ctx, "can_afford", map[string]any{"session_key_id": id, "amount": "80"}, &check); err != nil {
		return err
	}
	if check.Allowed || len(check.Checks) == 0 || check.Checks[0].Code != "insufficient_funds" {
		return fmt.Errorf("can_afford 80: allowed=%v checks=%+v", check.Allowed, check.Checks)
	}
	d.printf("     → refused (%s): %s\n", check.Checks[0].Code, check.Reason)

	d.say("Operator adds a policy layer: a session of 25/transaction and 100/day, linked to the key (admin API)")
	var sess service.SessionView
	if err := d.adminCall(ctx, "POST", "/admin/sessions", web.CreateSessionRequest{AgentID: demoAgent,
		UserWallet: d.user.PublicKey().String(), DurationHours: 168, LimitsRequest: web.LimitsRequest{
			MaxPerTransaction: json.RawMessage(`"25"`), MaxPerDay: json.RawMessage(`"100"`)}}, &sess); err != nil {
		return err
	}
	var linked service.KeyView
	if err := d.adminCall(ctx, "POST", "/admin/session-keys/"+id+"/link", web.LinkRequest{SessionID: sess.SessionID}, &linked); err != nil {
		return err
	}
	if linked.LinkedSessionID != sess.SessionID {
		return fmt.Errorf("link: key is linked to %q", linked.LinkedSessionID)
	}
	d.printf("     → %s linked to %s\n", id, sess.SessionID)

	d.say("Agent calls pay: 30 USDC (the key holds 70.01, but the session allows 25 per payment)")
	refused, err := d.toolRefusal(ctx, "pay", map[string]any{"session_key_id": id, "recipient": d.shop.String(),
		"amount": "30", "description": "Deluxe widget", "idempotency_key": "order-2"})
	if err != nil {
		return err
	}
	if refused.Code != "per_transaction_limit" {
		return fmt.Errorf("pay 30: refused with %q, want per_transaction_limit", refused.Code)
	}
	d.printf("     → refused (%s): %s\n", refused.Code, refused.Message)
	if err := d.balances(ctx, "400", "70.01", "29.99"); err != nil {
		return err
	}

	d.say("Agent calls top_up_request: 50 USDC more")
	var top service.TopUpCreated
	if err := d.tool(ctx, "top_up_request", map[string]any{"session_key_id": id, "amount": "50"}, &top); err != nil {
		return err
	}
	if top.NewMaxAmount != "150.00" || top.ApprovalURL == "" {
		return fmt.Errorf("top_up_request: new_max_amount %q, approval_url %q", top.NewMaxAmount, top.ApprovalURL)
	}
	d.printf("     → new max amount %s once the human signs: %s\n", top.NewMaxAmount, top.ApprovalURL)
	d.say("The human opens the link and signs the top-up")
	if _, err := d.approve(ctx, top.ApprovalURL); err != nil {
		return err
	}
	var st service.KeyView
	if err := d.tool(ctx, "status", map[string]any{"session_key_id": id}, &st); err != nil {
		return err
	}
	if st.RemainingAmount != "120.01" || st.Status != "active" {
		return fmt.Errorf("status after top-up: %s remaining, %s", st.RemainingAmount, st.Status)
	}
	d.printf("     → status %s: max %s, spent %s, remaining %s, %d payment(s)\n", st.Status, st.MaxAmount, st.SpentAmount, st.RemainingAmount, st.TransactionCount)
	if err := d.balances(ctx, "350", "120.01", "29.99"); err != nil {
		return err
	}

	d.say("Agent calls revoke_session_key; what is left is swept back to the human")
	var rev service.Revoked
	rev.KeyView = &service.KeyView{}
	if err := d.tool(ctx, "revoke_session_key", map[string]any{"session_key_id": id}, &rev); err != nil {
		return err
	}
	if rev.Status != "revoked" || rev.SweptAmount != "120.01" {
		return fmt.Errorf("revoke: status %q, swept %q (%s)", rev.Status, rev.SweptAmount, rev.SweepError)
	}
	d.printf("     → %s, %s USDC swept back (transaction %s)\n", rev.Status, rev.SweptAmount, short(rev.SweepSignature))
	if _, err := d.app.core.Service.SweepExpired(ctx, 100); err != nil {
		return fmt.Errorf("expiry sweep: %w", err)
	}
	if err := d.balances(ctx, "470.01", "0", "29.99"); err != nil {
		return err
	}
	if _, err := d.toolRefusal(ctx, "pay", map[string]any{"session_key_id": id, "recipient": d.shop.String(),
		"amount": "1", "idempotency_key": "order-3"}); err != nil {
		return fmt.Errorf("pay after revoke: %w", err)
	}
	d.printf("     → a payment after revocation is refused\n")

	d.say("Audit: the user's hash-chained log verifies")
	n, err := d.app.core.Service.VerifyAudit(ctx, d.user.PublicKey().String())
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	d.printf("     → %d entries, chain intact\n", n)
	return nil
}

func (d *demo) say(what string) {
	d.step++
	d.printf("%2d. %s\n", d.step, what)
}

// tool calls an MCP tool and decodes its structured result into out; a tool error fails.
func (d *demo) tool(ctx context.Context, name string, args map[string]any, out any) error {
	res, err := d.callTool(ctx, name, args)
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("%s: %s", name, resultText(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return fmt.Errorf("%s: structured content: %w", name, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: decode structured content: %w", name, err)
	}
	return nil
}

// toolRefusal calls a tool that must refuse, and returns the refusal.
func (d *demo) toolRefusal(ctx context.Context, name string, args map[string]any) (*service.Error, error) {
	res, err := d.callTool(ctx, name, args)
	if err != nil {
		return nil, err
	}
	if !res.IsError {
		return nil, fmt.Errorf("%s: succeeded (%s), want a refusal", name, resultText(res))
	}
	var body struct {
		Error service.Error `json:"error"`
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &body); err != nil || body.Error.Code == "" {
		return nil, fmt.Errorf("%s: refusal without a code: %s", name, resultText(res))
	}
	return &body.Error, nil
}

func (d *demo) callTool(ctx context.Context, name string, args map[string]any) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := d.mcp.CallTool(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, " ")
}

// approve does what the approval page does in the human's browser: read
// the request, sign it with the user's wallet, post the signature.
func (d *demo) approve(ctx context.Context, link string) (*service.ApprovalResult, error) {
	var v service.ApprovalView
	if err := d.httpJSON(ctx, "GET", link, "", nil, &v); err != nil {
		return nil, fmt.Errorf("open approval link: %w", err)
	}
	if v.Status != "pending" {
		return nil, fmt.Errorf("approval link is %s", v.Status)
	}
	d.printf("     → the page says: %s", v.Summary.Title)
	if v.Summary.Amount != nil {
		d.printf(", %s %s", v.Summary.Amount, v.Summary.Token)
	}
	d.printf("\n")
	var sub service.Submission
	switch v.Sign {
	case "transaction":
		signed, err := d.user.SignTransaction(v.Transaction)
		if err != nil {
			return nil, fmt.Errorf("sign the approval: %w", err)
		}
		sub.SignedTransaction = signed
	case "message":
		sub.Signature = d.user.SignMessage([]byte(v.Message)).String()
	default:
		return nil, fmt.Errorf("approval asks to sign %q", v.Sign)
	}
	var res service.ApprovalResult
	if err := d.httpJSON(ctx, "POST", link, "", sub, &res); err != nil {
		return nil, fmt.Errorf("submit approval: %w", err)
	}
	d.printf("     → %s\n", res.Status)
	return &res, nil
}

// adminCall calls the admin API as the operator.
func (d *demo) adminCall(ctx context.Context, method, path string, body, out any) error {
	return d.httpJSON(ctx, method, d.base+path, d.admin, body, out)
}

func (d *demo) httpJSON(ctx context.Context, method, url, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // the body is read (or dropped) already: its close has nothing to tell
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	return json.Unmarshal(raw, out)
}

// balances prints and checks the chain's balances of user, key and shop.
func (d *demo) balances(ctx context.Context, user, key, shop string) error {
	got := make([]string, 3)
	for i, owner := range []solana.PublicKey{d.user.PublicKey(), d.key, d.shop} {
		b, err := d.app.core.Chain.TokenBalance(ctx, owner)
		if err != nil {
			return fmt.Errorf("read balance: %w", err)
		}
		got[i] = service.Amount(b).Format(int32(d.chain.Decimals))
	}
	d.printf("     on chain: user %s | session key %s | shop %s USDC\n", got[0], got[1], got[2])
	for i, want := range []string{user, key, shop} {
		w, err := d.app.core.Service.ParseAmountText(want)
		if want == "0" {
			w, err = 0, nil
		}
		if err != nil {
			return err
		}
		if got[i] != w.Format(int32(d.chain.Decimals)) {
			return fmt.Errorf("balance of %s is %s USDC, want %s", []string{"user", "session key", "shop"}[i], got[i], want)
		}
	}
	return nil
}

func short(s string) string {
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-8:]
	}
	return s
}

// paidFetch is the demo's x402 step: a seller that answers 402 (Express with
// @x402/express and the @x402/svm facilitator, on the local chain), and the
// agent buying one answer with fetch_paid from a fresh 1 USDC key.
func (d *demo) paidFetch(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	seller, err := localnet.StartSeller(sctx, d.chain.URL, nil)
	cancel()
	if errors.Is(err, localnet.ErrX402NotInstalled) {
		d.printf("\n(x402 step skipped: %v)\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = seller.Close() }() // shutting down: nothing to do about a failed close
	d.printf("\n  x402 seller     %s (GET /weather for 0.01 USDC, paid to %s)\n", seller.URL, seller.PayTo)

	d.say("Agent calls create_session_key (1 USDC) for paid web requests; the human approves")
	var created service.KeyCreated
	created.KeyView = &service.KeyView{}
	if err := d.tool(ctx, "create_session_key", map[string]any{"user_wallet": d.user.PublicKey().String(),
		"max_amount": "1", "expiry_hours": 1}, &created); err != nil {
		return err
	}
	if _, err := d.approve(ctx, created.ApprovalURL); err != nil {
		return err
	}

	d.say("Agent calls fetch_paid: GET " + seller.URL + "/weather, paying at most 0.05 USDC")
	var got service.FetchResult
	start := time.Now()
	if err := d.tool(ctx, "fetch_paid", map[string]any{"url": seller.URL + "/weather", "session_key_id": created.SessionKeyID,
		"max_amount": "0.05", "idempotency_key": "weather-1"}, &got); err != nil {
		return err
	}
	took := time.Since(start)
	if got.Status != "paid" || got.HTTPStatus != 200 {
		return fmt.Errorf("fetch_paid: status %q, HTTP %d (%s)", got.Status, got.HTTPStatus, got.Reason)
	}
	d.printf("     → the server answered 402 with an x402 offer of %s USDC; the key signed it, the facilitator settled it\n", got.Amount)
	d.printf("     → HTTP %d %s: %s\n", got.HTTPStatus, got.ContentType, got.Body)
	d.printf("     → paid: payment %s, transaction %s, in %s\n", got.PaymentID, short(got.TransactionSignature), took.Round(time.Millisecond))
	bal, err := d.app.core.Chain.TokenBalance(ctx, seller.PayTo)
	if err != nil {
		return err
	}
	keyBal, err := d.app.core.Chain.TokenBalance(ctx, solana.MustPublicKeyFromBase58(created.SessionKeyAddress))
	if err != nil {
		return err
	}
	if bal != 10_000 || keyBal != 990_000 {
		return fmt.Errorf("after fetch_paid: seller holds %d, key %d base units", bal, keyBal)
	}
	d.printf("     → on chain: seller 0.01 USDC, key 0.99 USDC (remaining %s in the ledger)\n", got.RemainingAmount)
	return nil
}
