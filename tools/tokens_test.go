package tools_test

import (
	"encoding/json"
	"strings"
	"testing"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
	"github.com/stipend/stipend/wallet"
	"github.com/stipend/stipend/webhook"
)

// TestSeveralTokens: one server offers USDC (SPL Token, 6 decimals, the
// chain's first mint) and EURT (a Token-2022 mint of 2 decimals made on the
// same local chain). Through an MCP client, a key of each is created, funded,
// paid from, topped up, revoked and swept; every balance is read back from
// the chain per mint, and the reconciler agrees for both. An unknown token is
// refused naming the offered ones, amounts follow each token's decimals, and
// a session of one token refuses a key of the other.
func TestSeveralTokens(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	m, err := st.Local.CreateMint(ctx, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	eurt, err := st.Chain.ForToken(m.Mint, m.Decimals, m.TokenProgram)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(st.Store, st.Chain, st.Sealer, service.Config{PublicURL: "http://127.0.0.1:0",
		Tokens: []service.Token{{Symbol: "USDC", Chain: st.Chain}, {Symbol: "EURT", Chain: eurt}}}, nil)
	c := connect(t, tools.NewServer(svc, tools.Options{DefaultAgent: "agent-a"}), nil)
	user := st.NewUser(t, 500_000_000)                                                // 500 USDC
	if _, err := st.Local.MintToOf(ctx, m.Mint, user.Address(), 50_000); err != nil { // 500 EURT
		t.Fatal(err)
	}
	sign := func(url, wire string) {
		t.Helper()
		token := url[strings.LastIndex(url, "/")+1:]
		if _, err := svc.SubmitApproval(ctx, token, service.Submission{SignedTransaction: user.SignTransaction(t, wire)}); err != nil {
			t.Fatalf("approve: %v", err)
		}
	}
	balance := func(c *wallet.Chain, owner solana.PublicKey) uint64 {
		t.Helper()
		b, err := c.TokenBalance(ctx, owner)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	type token struct {
		symbol  string
		chain   *wallet.Chain
		program solana.PublicKey
		unit    uint64 // base units of 1 token
		tooFine string // an amount with more decimals than the token has
	}
	toks := []token{
		{"USDC", st.Chain, solana.TokenProgramID, 1_000_000, "0.0000001"},
		{"EURT", eurt, solana.Token2022ProgramID, 100, "0.005"},
	}
	keys := map[string]string{}
	for _, tk := range toks {
		t.Run(tk.symbol, func(t *testing.T) {
			res, got := call(t, c, "create_session_key", map[string]any{"user_wallet": user.Address().String(),
				"max_amount": "100", "token": strings.ToLower(tk.symbol)})
			if res.IsError || got["token"] != tk.symbol || got["status"] != "pending_approval" {
				t.Fatalf("create_session_key: %s %v", text(res), got)
			}
			id := got["session_key_id"].(string)
			keys[tk.symbol] = id
			addr := solana.MustPublicKeyFromBase58(got["session_key_address"].(string))
			sign(got["approval_url"].(string), got["approval_transaction"].(string))
			if b := balance(tk.chain, addr); b != 100*tk.unit {
				t.Fatalf("funded key holds %d base units of %s", b, tk.symbol)
			}
			ata, err := tk.chain.TokenAccount(addr)
			if err != nil {
				t.Fatal(err)
			}
			acc, err := st.Local.Client().GetAccountInfo(ctx, ata)
			if err != nil || !acc.Value.Owner.Equals(tk.program) {
				t.Fatalf("the key's token account is not owned by %s: %v", tk.program, err)
			}
			res, got = call(t, c, "status", map[string]any{"session_key_id": id})
			if res.IsError || got["status"] != "active" || got["remaining_amount"] != "100.00" || got["mint"] != tk.chain.Mint().String() {
				t.Fatalf("status: %s %v", text(res), got)
			}
			shop := newAddress(t)
			res, got = call(t, c, "pay", map[string]any{"session_key_id": id, "recipient": shop, "amount": tk.tooFine})
			if !res.IsError || errCode(got) != "invalid_argument" {
				t.Fatalf("pay of %s %s: %s %v", tk.tooFine, tk.symbol, text(res), got)
			}
			res, got = call(t, c, "pay", map[string]any{"session_key_id": id, "recipient": shop, "amount": "29.99", "idempotency_key": "p-" + tk.symbol})
			if res.IsError || got["status"] != "confirmed" || got["remaining_amount"] != "70.01" || !strings.Contains(text(res), tk.symbol) {
				t.Fatalf("pay: %s %v", text(res), got)
			}
			shopKey := solana.MustPublicKeyFromBase58(shop)
			if b := balance(tk.chain, shopKey); b != 2999*tk.unit/100 {
				t.Fatalf("recipient holds %d base units of %s", b, tk.symbol)
			}
			for _, other := range toks {
				if other.symbol != tk.symbol && balance(other.chain, shopKey) != 0 {
					t.Fatalf("a payment in %s moved %s", tk.symbol, other.symbol)
				}
			}
			res, got = call(t, c, "pay", map[string]any{"session_key_id": id, "recipient": shop, "amount": "80"})
			if !res.IsError || errCode(got) != "insufficient_funds" || !strings.Contains(text(res), "70.01 "+tk.symbol) {
				t.Fatalf("refused pay: %s %v", text(res), got)
			}
			res, got = call(t, c, "top_up_request", map[string]any{"session_key_id": id, "amount": "50"})
			if res.IsError || got["new_max_amount"] != "150.00" || !strings.Contains(text(res), tk.symbol) {
				t.Fatalf("top_up_request: %s %v", text(res), got)
			}
			sign(got["approval_url"].(string), got["approval_transaction"].(string))
			if b := balance(tk.chain, addr); b != 12001*tk.unit/100 {
				t.Fatalf("topped-up key holds %d base units of %s", b, tk.symbol)
			}
		})
	}

	// Webhooks write each event's amounts in its key's token: the ledger's
	// payment.confirmed events, read from its stream, through webhook.View.
	entries, err := st.Store.Redis().XRange(ctx, st.Store.Events().Stream(user.Address().String()), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	confirmed := map[string]string{}
	for _, e := range entries {
		if e.Values["event"] != "payment.confirmed" {
			continue
		}
		data := []byte(e.Values["data"].(string))
		v, err := webhook.View("payment.confirmed", data, svc.EventDecimals(ctx, data))
		if err != nil {
			t.Fatal(err)
		}
		var view struct {
			SessionKeyID string `json:"session_key_id"`
			Amount       string `json:"amount"`
		}
		if err := json.Unmarshal(v, &view); err != nil {
			t.Fatal(err)
		}
		confirmed[view.SessionKeyID] = view.Amount
	}
	if confirmed[keys["USDC"]] != "29.99" || confirmed[keys["EURT"]] != "29.99" {
		t.Fatalf("payment.confirmed amounts by key: %v (keys %v)", confirmed, keys)
	}

	rep, err := svc.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Agree || len(rep.Tokens) != 2 || rep.Tokens[0].Token != "USDC" || rep.Tokens[1].Token != "EURT" ||
		rep.Tokens[0].ChainTotal != "120.01" || rep.Tokens[1].ChainTotal != "120.01" ||
		rep.Tokens[0].LedgerTotal != rep.Tokens[0].ChainTotal || rep.Tokens[1].LedgerTotal != rep.Tokens[1].ChainTotal {
		t.Fatalf("reconciliation: %+v", rep)
	}

	// An unknown token is refused, naming the offered ones; nothing is created.
	res, got := call(t, c, "create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "1", "token": "SOL"})
	if !res.IsError || errCode(got) != "invalid_argument" || !strings.Contains(text(res), "USDC, EURT") {
		t.Fatalf("unknown token: %s %v", text(res), got)
	}
	res, got = call(t, c, "create_session", map[string]any{"user_wallet": user.Address().String(), "max_per_day": "1", "token": "DOGE"})
	if !res.IsError || errCode(got) != "invalid_argument" || !strings.Contains(text(res), "USDC, EURT") {
		t.Fatalf("session of an unknown token: %s %v", text(res), got)
	}

	// A session's limits are in one token: a key of another is refused.
	res, got = call(t, c, "create_session", map[string]any{"user_wallet": user.Address().String(), "max_per_day": "10", "token": "EURT"})
	if res.IsError || got["token"] != "EURT" || got["max_per_day"] != "10.00" {
		t.Fatalf("create_session: %s %v", text(res), got)
	}
	sess := got["session_id"].(string)
	res, got = call(t, c, "link_session", map[string]any{"session_key_id": keys["USDC"], "session_id": sess})
	if !res.IsError || errCode(got) != "token_mismatch" {
		t.Fatalf("link of a USDC key to an EURT session: %s %v", text(res), got)
	}
	res, got = call(t, c, "create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "1", "session_id": sess})
	if !res.IsError || errCode(got) != "token_mismatch" {
		t.Fatalf("a USDC key created into an EURT session: %s %v", text(res), got)
	}
	res, got = call(t, c, "link_session", map[string]any{"session_key_id": keys["EURT"], "session_id": sess})
	if res.IsError {
		t.Fatalf("link of an EURT key to its session: %s %v", text(res), got)
	}
	res, got = call(t, c, "pay", map[string]any{"session_key_id": keys["EURT"], "recipient": newAddress(t), "amount": "11"})
	if !res.IsError || errCode(got) != "daily_limit" || !strings.Contains(text(res), "EURT") {
		t.Fatalf("pay over the EURT session's daily limit: %s %v", text(res), got)
	}

	// Revoke and sweep each key back to the owner, per mint.
	before := map[string]uint64{"USDC": balance(st.Chain, user.Address()), "EURT": balance(eurt, user.Address())}
	for _, tk := range toks {
		res, got := call(t, c, "revoke_session_key", map[string]any{"session_key_id": keys[tk.symbol]})
		if res.IsError || got["status"] != "revoked" || got["swept_amount"] != "120.01" {
			t.Fatalf("revoke %s: %s %v", tk.symbol, text(res), got)
		}
		if b := balance(tk.chain, user.Address()); b != before[tk.symbol]+12001*tk.unit/100 {
			t.Fatalf("owner holds %d base units of %s after the sweep (before %d)", b, tk.symbol, before[tk.symbol])
		}
	}
	rep, err = svc.Reconcile(ctx)
	if err != nil || !rep.Agree || rep.Tokens[0].ChainTotal != "0.00" || rep.Tokens[1].ChainTotal != "0.00" {
		t.Fatalf("reconciliation after the sweeps: %+v %v", rep, err)
	}
}
