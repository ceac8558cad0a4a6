package policy_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
)

// TestFunctionLibraryReloaded: a Redis that lost the ledger's function library
// (restarted without persistence, FUNCTION FLUSH, a new node) is given it again
// by the next call, which then runs once.
func TestFunctionLibraryReloaded(t *testing.T) {
	rdb := testenv.Redis(t)
	s := policy.New(rdb, policy.Options{})
	f := newFixture(t, s)
	k, _ := f.linked(100*usdc, policy.Limits{PerDay: 50 * usdc})
	f.pay(s, k.ID, 10*usdc)
	libs, err := rdb.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: policy.LibraryName()}).Result()
	if err != nil || len(libs) != 1 {
		t.Fatalf("library %s not loaded: %v %v", policy.LibraryName(), libs, err)
	}
	if err := rdb.Do(ctx, "FUNCTION", "DELETE", policy.LibraryName()).Err(); err != nil {
		t.Fatal(err)
	}
	if d := f.pay(s, k.ID, 5*usdc); d.Outcome != policy.OutcomeReserved {
		t.Fatalf("after reload: %+v", d)
	}
	got, _, err := s.GetKey(ctx, "", k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Spent != 15*usdc {
		t.Fatalf("spent %d after reload, want %d (the call ran once)", got.Spent, 15*usdc)
	}
}

// TestEvalFormAgrees: the EVAL form of the scripts (for a server without
// functions) decides as the function library does, on the same real Redis.
func TestEvalFormAgrees(t *testing.T) {
	rdb := testenv.Redis(t)
	for _, eval := range []bool{false, true} {
		s := policy.New(rdb, policy.Options{})
		if eval {
			policy.RunAsEval(s)
		}
		f := newFixture(t, s)
		k, _ := f.linked(100*usdc, policy.Limits{PerTransaction: 30 * usdc, PerDay: 50 * usdc})
		f.pay(s, k.ID, 30*usdc)
		d := f.check(s, k.ID, 30*usdc)
		if d.Allowed || strings.Join(codeStrings(d), ",") != "daily_limit" || d.MaxAffordableNow != 20*usdc {
			t.Fatalf("eval=%v: check %+v", eval, d)
		}
		if d.Checks[0].ResetsAt.IsZero() || d.Checks[0].ResetsAt.Before(time.Now()) {
			t.Fatalf("eval=%v: resets_at %v", eval, d.Checks[0].ResetsAt)
		}
	}
}

func codeStrings(d *policy.Decision) []string {
	var out []string
	for _, c := range d.Checks {
		out = append(out, string(c.Code))
	}
	return out
}

// TestNewPaymentAnswer: a decision that creates a payment answers only what
// the request does not say; the payment the store returns is the one it wrote,
// for a reservation (key and linked session) and an approval request (a
// session alone), with and without an idempotency key.
func TestNewPaymentAnswer(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k, sess := f.linked(100*usdc, policy.Limits{PerDay: 50 * usdc})
		own := f.session(policy.Limits{}, 0)
		for _, r := range []policy.PaymentRequest{
			{SessionKeyID: k.ID, AgentID: f.agent, Amount: 3 * usdc, Recipient: "shop", Signature: "sig1", Blockhash: "bh1",
				Description: "one"},
			{SessionKeyID: k.ID, Amount: 4 * usdc, Recipient: "shop", Signature: "sig2", IdempotencyKey: "order-9"},
			{SessionID: own.ID, AgentID: f.agent, Amount: 5 * usdc, Recipient: "shop", Description: "owner pays"},
		} {
			r.Mode = policy.ModeReserve
			d, err := s.Decide(ctx, r)
			if err != nil || d.Payment == nil {
				t.Fatalf("decide %+v: %v %+v", r, err, d)
			}
			stored, err := s.GetPayment(ctx, f.wallet, d.Payment.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, want := *d.Payment, *stored
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("answered %+v\nstored   %+v", got, want)
			}
			if r.SessionKeyID != "" && got.SessionID != sess.ID {
				t.Fatalf("session %q, want the linked %q", got.SessionID, sess.ID)
			}
		}
	})
}

// TestDecideRefusesAmountText: an amount that is not an integer of base units
// written in full is refused by the script itself, whoever calls it.
func TestDecideRefusesAmountText(t *testing.T) {
	rdb := testenv.Redis(t)
	s := policy.New(rdb, policy.Options{WithoutEvents: true})
	f := newFixture(t, s)
	k := f.key(100*usdc, time.Hour)
	prefix := "stipend:{" + f.wallet + "}:"
	for _, amount := range []string{"1e6", "0x10", " 5", "05", "-1", "0", "9007199254740992", "1.5", ""} {
		res, err := rdb.FCall(ctx, policy.LibraryName()+"_decide", []string{prefix + "sk:" + k.ID}, prefix, 0,
			"check", "sk", k.ID, f.agent, amount, "shop").Result()
		text, _ := res.(string)
		if err != nil || !strings.Contains(text, `"invalid_argument"`) {
			t.Errorf("amount %q: %v %v", amount, res, err)
		}
	}
}

// TestWithoutFunctionPermission: an account that may not load or call
// functions (Redis ACL) runs the ledger's scripts as EVAL scripts, and the
// same decisions come out.
func TestWithoutFunctionPermission(t *testing.T) {
	admin := testenv.Redis(t)
	user := "stipend-test-" + strings.ToLower(wallet()[:10])
	for _, rules := range [][]string{
		{"-fcall", "-function"}, // neither
		{"-function"},           // may call, may not load
	} {
		args := []any{"ACL", "SETUSER", user, "reset", "on", ">pw", "~*", "&*", "+@all"}
		for _, r := range rules {
			args = append(args, r)
		}
		if err := admin.Do(ctx, args...).Err(); err != nil {
			t.Skipf("this Redis takes no ACL rules: %v", err)
		}
		t.Cleanup(func() { _ = admin.Do(ctx, "ACL", "DELUSER", user).Err() })
		rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(), Username: user, Password: "pw"})
		t.Cleanup(func() { _ = rdb.Close() })
		if err := admin.Do(ctx, "FUNCTION", "DELETE", policy.LibraryName()).Err(); err != nil &&
			!strings.Contains(err.Error(), "not found") {
			t.Fatal(err)
		}
		s := policy.New(rdb, policy.Options{})
		f := newFixture(t, s)
		k, _ := f.linked(100*usdc, policy.Limits{PerDay: 40 * usdc})
		f.pay(s, k.ID, 30*usdc)
		if d := f.check(s, k.ID, 10*usdc+1); d.Allowed || d.MaxAffordableNow != 10*usdc {
			t.Fatalf("%v: %+v", rules, d)
		}
		if policy.RunsFunctions(s) {
			t.Fatalf("%v: the store still calls functions", rules)
		}
	}
	if s := policy.New(admin, policy.Options{}); !policy.RunsFunctions(s) || newFixture(t, s).key(usdc, time.Hour) == nil ||
		!policy.RunsFunctions(s) {
		t.Fatal("an account with every permission does not run the function library")
	}
}
