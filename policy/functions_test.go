package policy_test

import (
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
