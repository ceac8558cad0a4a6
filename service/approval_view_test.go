package service_test

import (
	"encoding/json"
	"testing"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/service"
)

// TestTokenAmount: an amount is written as decimal text only when shown,
// compares by value whatever its decimals, and reads back exactly.
func TestTokenAmount(t *testing.T) {
	cases := []struct {
		a    service.TokenAmount
		text string
	}{
		{service.TokenAmount{Units: 100_000_000, Decimals: 6}, "100.00"},
		{service.TokenAmount{Units: 1, Decimals: 6}, "0.000001"},
		{service.TokenAmount{Units: 0, Decimals: 6}, "0.00"},
		{service.TokenAmount{Units: 1_500_000_000, Decimals: 9}, "1.50"},
		{service.TokenAmount{Units: 7, Decimals: 0}, "7.00"},
	}
	for _, c := range cases {
		if got := c.a.String(); got != c.text {
			t.Errorf("%+v.String() = %q, want %q", c.a, got, c.text)
		}
		b, err := json.Marshal(c.a)
		if err != nil || string(b) != `"`+c.text+`"` {
			t.Errorf("json.Marshal(%+v) = %s %v", c.a, b, err)
		}
		var back service.TokenAmount
		if err := json.Unmarshal(b, &back); err != nil || back.Cmp(c.a) != 0 || back.String() != c.text {
			t.Errorf("%s reads back as %+v (%v)", b, back, err)
		}
	}
	for _, bad := range []string{`""`, `"1e3"`, `"-1"`, `".5"`, `"5."`, `"99999999999999999999"`, `"9007199254740992"`} {
		var a service.TokenAmount
		if err := json.Unmarshal([]byte(bad), &a); err == nil {
			t.Errorf("%s read as %+v", bad, a)
		}
	}
	cmp := []struct {
		a, b service.TokenAmount
		want int
	}{
		{service.TokenAmount{Units: 100_000_000, Decimals: 6}, service.TokenAmount{Units: 10_000, Decimals: 2}, 0},
		{service.TokenAmount{Units: 9_500_000, Decimals: 6}, service.TokenAmount{Units: 10, Decimals: 0}, -1},
		{service.TokenAmount{Units: 10_050_000, Decimals: 6}, service.TokenAmount{Units: 1_005, Decimals: 3}, 1},
	}
	for _, c := range cmp {
		if got := c.a.Cmp(c.b); got != c.want {
			t.Errorf("%v.Cmp(%v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestApprovalViewTyped: a limits change shows the session's limits and the
// new ones as amounts in base units (none: nil), and a link the owner
// declined carries its reason as JSON.
func TestApprovalViewTyped(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	svc := st.Service
	user := st.NewUser(t, 0)
	sess, err := svc.CreateSession(ctx, service.CreateSessionInput{AgentID: "bot", UserWallet: user.Address().String(),
		Limits: service.Limits{PerTransaction: 25 * usdc, PerDay: 100 * usdc}, RequireApprovalAbove: 10 * usdc})
	if err != nil {
		t.Fatal(err)
	}
	link, err := svc.RequestLimits(ctx, "bot", sess.SessionID, service.Limits{PerTransaction: 30 * usdc, PerWeek: 500 * usdc}, 0)
	if err != nil {
		t.Fatal(err)
	}
	v, err := svc.Approval(ctx, link.ApprovalToken)
	if err != nil {
		t.Fatal(err)
	}
	units := func(a *service.TokenAmount) int64 {
		if a == nil {
			return -1
		}
		return int64(a.Units)
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"limits.max_per_transaction", units(v.Summary.Limits.MaxPerTransaction), 25 * usdc},
		{"limits.max_per_day", units(v.Summary.Limits.MaxPerDay), 100 * usdc},
		{"limits.max_per_week", units(v.Summary.Limits.MaxPerWeek), -1},
		{"limits.require_approval_above", units(v.Summary.Limits.RequireApprovalAbove), 10 * usdc},
		{"new_limits.max_per_transaction", units(v.Summary.NewLimits.MaxPerTransaction), 30 * usdc},
		{"new_limits.max_per_day", units(v.Summary.NewLimits.MaxPerDay), -1},
		{"new_limits.max_per_week", units(v.Summary.NewLimits.MaxPerWeek), 500 * usdc},
		{"new_limits.require_approval_above", units(v.Summary.NewLimits.RequireApprovalAbove), -1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d units, want %d", c.name, c.got, c.want)
		}
	}
	if v.ExpiresAt.IsZero() || v.ExpiresAt.Location().String() != "UTC" {
		t.Errorf("expires_at %v", v.ExpiresAt)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Summary struct {
			NewLimits map[string]string `json:"new_limits"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Summary.NewLimits["max_per_week"] != "500.00" || len(m.Summary.NewLimits) != 2 {
		t.Errorf("new_limits in JSON: %s (%v)", b, err)
	}

	if err := svc.RejectApproval(ctx, link.ApprovalToken, "not now"); err != nil {
		t.Fatal(err)
	}
	if v, err = svc.Approval(ctx, link.ApprovalToken); err != nil {
		t.Fatal(err)
	}
	var res map[string]string
	if v.Status != "cancelled" || json.Unmarshal(v.Result, &res) != nil || res["reason"] != "not now" {
		t.Errorf("declined link: %s %s", v.Status, v.Result)
	}
}
