package service_test

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
)

// TestApprovalTokensNotInRedis: approval links are bearer capabilities, so
// Redis keeps only their hash. After links of every kind were made, used,
// cancelled and left pending, no Redis key name and no stored value under the
// store's prefix holds a token, and every link still opens by its token.
func TestApprovalTokensNotInRedis(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	svc := st.Service
	user := st.NewUser(t, 500*usdc)
	w := user.Address().String()

	sess, err := svc.CreateSession(ctx, service.CreateSessionInput{AgentID: "bot", UserWallet: w,
		Limits: policy.Limits{PerTransaction: 50 * usdc}, RequireApprovalAbove: 10 * usdc})
	if err != nil {
		t.Fatal(err)
	}
	c, err := svc.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: "bot", UserWallet: w, MaxAmount: 100 * usdc, ExpiryHours: 24, SessionID: sess.SessionID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SubmitApproval(ctx, c.ApprovalToken, service.Submission{SignedTransaction: user.SignTransaction(t, c.ApprovalTransaction)}); err != nil {
		t.Fatal(err)
	}
	pay, err := svc.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: c.SessionKeyID, Recipient: recipient(t).String(), Amount: 20 * usdc, Description: "over the threshold"})
	if err != nil || pay.ApprovalURL == "" {
		t.Fatalf("pay over the threshold: %+v %v", pay, err)
	}
	payToken := pay.ApprovalURL[strings.LastIndex(pay.ApprovalURL, "/")+1:]
	if _, err := svc.SubmitApproval(ctx, payToken, service.Submission{Signature: user.SignMessage(mustApproval(t, svc, payToken).Message)}); err != nil {
		t.Fatal(err)
	}
	top, err := svc.TopUpRequest(ctx, "bot", c.SessionKeyID, 10*usdc)
	if err != nil {
		t.Fatal(err)
	}
	unlink, err := svc.RequestUnlink(ctx, "bot", c.SessionKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RejectApproval(ctx, unlink.ApprovalToken, "no"); err != nil {
		t.Fatal(err)
	}
	limits, err := svc.RequestLimits(ctx, "bot", sess.SessionID, policy.Limits{PerTransaction: 60 * usdc}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tokens := []string{c.ApprovalToken, payToken, top.ApprovalToken, unlink.ApprovalToken, limits.ApprovalToken}
	for _, tok := range tokens {
		if !strings.HasPrefix(tok, "ap_") {
			t.Fatalf("not a token: %q", tok)
		}
		if _, err := svc.Approval(ctx, tok); err != nil {
			t.Fatalf("link %s… does not open: %v", tok[:8], err)
		}
	}

	rdb := st.Store.Redis()
	keys := 0
	iter := rdb.Scan(ctx, 0, st.Store.Events().SharedKey("*"), 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		keys++
		text := k + "\n" + dump(t, rdb, k)
		for _, tok := range tokens {
			if strings.Contains(text, tok) || strings.Contains(text, strings.TrimPrefix(tok, "ap_")) {
				t.Errorf("Redis key %q holds an approval token in clear", k)
			}
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if keys < 10 {
		t.Fatalf("scanned only %d keys under %s; the scan looked in the wrong place", keys, st.Store.Events().SharedKey("*"))
	}
	// What is kept is the hash: the record is found under it.
	if n, err := rdb.Exists(ctx, st.Store.Events().Key(w, "appr:"+policy.TokenID(c.ApprovalToken))).Result(); err != nil || n != 1 {
		t.Fatalf("approval record under the token's hash: %d %v", n, err)
	}
	// The hash itself opens nothing.
	if _, err := svc.Approval(ctx, policy.TokenID(c.ApprovalToken)); policy.CodeOf(err) != policy.CodeNotFound {
		t.Fatalf("opening a link by its stored hash: %v; want not_found", err)
	}
}

func mustApproval(t *testing.T, svc *service.Service, token string) *service.ApprovalView {
	t.Helper()
	v, err := svc.Approval(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// dump returns every value a Redis key holds, as text.
func dump(t *testing.T, rdb redis.UniversalClient, key string) string {
	t.Helper()
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	switch typ {
	case "string":
		b.WriteString(rdb.Get(ctx, key).Val())
	case "hash":
		for k, v := range rdb.HGetAll(ctx, key).Val() {
			b.WriteString(k + "=" + v + "\n")
		}
	case "set":
		b.WriteString(strings.Join(rdb.SMembers(ctx, key).Val(), "\n"))
	case "zset":
		b.WriteString(strings.Join(rdb.ZRange(ctx, key, 0, -1).Val(), "\n"))
	case "list":
		b.WriteString(strings.Join(rdb.LRange(ctx, key, 0, -1).Val(), "\n"))
	case "stream":
		for _, m := range rdb.XRange(ctx, key, "-", "+").Val() {
			for k, v := range m.Values {
				b.WriteString(k + "=" + toString(v) + "\n")
			}
		}
	default:
		t.Fatalf("key %s of unexpected type %s", key, typ)
	}
	return b.String()
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
