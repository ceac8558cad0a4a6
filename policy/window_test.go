package policy_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stipend/stipend/policy"
)

// paid is one payment of the window test's history: when it was reserved and
// how much still counts (zero once released).
type paid struct {
	at     int64 // ms, the ledger's clock at the reservation
	amount policy.Amount
}

// oracle is the rolling-window rule computed the slow way, from the payments
// themselves: a payment counts in window (length, bucket) at time now while
// its bucket has not wholly left the window.
type oracle struct{ pays []paid }

type windowRule struct {
	name           string
	length, bucket int64 // ms
}

var windowRules = []windowRule{
	{"day", 24 * 3600_000, 15 * 60_000},
	{"week", 7 * 24 * 3600_000, 2 * 3600_000},
	{"month", 30 * 24 * 3600_000, 8 * 3600_000},
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// used is the sum of the payments counted in window w at now, and when the
// oldest counted one leaves (zero if none).
func (o *oracle) used(w windowRule, now int64) (policy.Amount, time.Time) {
	var sum policy.Amount
	var oldest int64 = -1
	bmin := floorDiv(now-w.length, w.bucket)
	for _, p := range o.pays {
		b := floorDiv(p.at, w.bucket)
		if b >= bmin && p.amount > 0 {
			sum += p.amount
			if oldest < 0 || b < oldest {
				oldest = b
			}
		}
	}
	if oldest < 0 {
		return sum, time.Time{}
	}
	return sum, time.UnixMilli((oldest+1)*w.bucket + w.length)
}

// TestWindowTotalsMatchHistory: payments spread over 35 days (some released),
// then checks at many clock points, including long pauses with no payment at
// all; at every point the running totals the scripts keep (retiring only the
// buckets that left each window since the last write) equal the sums computed
// here from the payments, and so do max_affordable_now and the failing
// window's used and resets_at.
func TestWindowTotalsMatchHistory(t *testing.T) {
	limits := policy.Limits{PerDay: 60 * usdc, PerWeek: 250 * usdc, PerMonth: 700 * usdc}
	backends(t, func(t *testing.T, s *policy.Store) {
		rng := rand.New(rand.NewPCG(14, 14))
		f := newFixture(t, s)
		const keyMax = 100_000 * usdc
		start := s.WithClockSkew(-36 * 24 * time.Hour)
		now0, _ := start.Now(ctx)
		k := f.key(keyMax, 60*24*time.Hour)
		sess, err := start.CreateSession(ctx, policy.NewSession{AgentID: f.agent, UserWallet: f.wallet,
			Limits: limits, ExpiresAt: now0.Add(120 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Link(ctx, f.agent, k.ID, sess.ID); err != nil {
			t.Fatal(err)
		}
		var o oracle
		var spent policy.Amount

		verify := func(at *policy.Store, where string) {
			t.Helper()
			got, err := at.GetSession(ctx, f.agent, sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			d := f.check(at, k.ID, 1)
			now := d.Now.UnixMilli()
			want := map[string]policy.Amount{}
			resets := map[string]time.Time{}
			for _, w := range windowRules {
				want[w.name], resets[w.name] = o.used(w, now)
			}
			if got.UsedDay != want["day"] || got.UsedWeek != want["week"] || got.UsedMonth != want["month"] {
				t.Fatalf("%s: used day/week/month = %d/%d/%d; the payments sum to %d/%d/%d", where,
					got.UsedDay, got.UsedWeek, got.UsedMonth, want["day"], want["week"], want["month"])
			}
			if !got.ResetsDay.Equal(resets["day"]) || !got.ResetsMonth.Equal(resets["month"]) {
				t.Fatalf("%s: resets day %v month %v; want %v %v", where, got.ResetsDay, got.ResetsMonth, resets["day"], resets["month"])
			}
			maxNow := min(keyMax-spent, limits.PerDay-want["day"], limits.PerWeek-want["week"], limits.PerMonth-want["month"])
			if d.MaxAffordableNow != max(maxNow, 0) {
				t.Fatalf("%s: max_affordable_now = %d; want %d", where, d.MaxAffordableNow, maxNow)
			}
			// One base unit over what the day window leaves fails on the day
			// window, with the used amount and reset time of the payments.
			over := f.check(at, k.ID, limits.PerDay-want["day"]+1)
			var day *policy.Check
			for i := range over.Checks {
				if over.Checks[i].Code == policy.CodeDailyLimit {
					day = &over.Checks[i]
				}
			}
			if over.Allowed || day == nil || day.Used != want["day"] || !day.ResetsAt.Equal(resets["day"]) {
				t.Fatalf("%s: over the day window: %+v; want used %d resets %v", where, over, want["day"], resets["day"])
			}
		}

		// 35 days of payments, 1 to 20 hours apart, checked as they go.
		// The first payment stays reserved and is released two days later,
		// after its day bucket left the window (and was retired) but while
		// it still counts in the week and the month.
		skew := -35 * 24 * time.Hour
		first, firstID := -1, ""
		for skew < 0 {
			if first >= 0 && skew > -33*24*time.Hour {
				if _, err := s.WithClockSkew(skew).Release(ctx, f.wallet, firstID, "late"); err != nil {
					t.Fatal(err)
				}
				spent -= o.pays[first].amount
				o.pays[first].amount = 0
				first = -1
				verify(s.WithClockSkew(skew), "after a late release")
			}
			at := s.WithClockSkew(skew)
			amount := policy.Amount(1+rng.IntN(5)) * usdc
			d := f.reserve(at, k.ID, amount)
			if d.Outcome != policy.OutcomeReserved {
				t.Fatalf("history payment refused at %v: %+v", skew, d)
			}
			if firstID == "" {
				first, firstID = 0, d.Payment.ID
				spent += amount
			} else if rng.IntN(6) == 0 {
				if _, err := at.Release(ctx, f.wallet, d.Payment.ID, "test"); err != nil {
					t.Fatal(err)
				}
				amount = 0
			} else {
				spent += amount
			}
			o.pays = append(o.pays, paid{at: d.Now.UnixMilli(), amount: amount})
			skew += time.Duration(1+rng.IntN(20)) * time.Hour
			if rng.IntN(3) == 0 {
				verify(s.WithClockSkew(skew-time.Duration(rng.IntN(3600))*time.Second), "during the history")
			}
		}
		// Checks only, every 3 h 7 min for 32 days: windows empty out with no write.
		for skew = 0; skew < 32*24*time.Hour; skew += 3*time.Hour + 7*time.Minute {
			verify(s.WithClockSkew(skew), "checks only")
		}
		// A payment after a pause longer than every window, then more checks.
		at := s.WithClockSkew(skew)
		d := f.reserve(at, k.ID, 3*usdc)
		if d.Outcome != policy.OutcomeReserved {
			t.Fatalf("payment after the pause refused: %+v", d)
		}
		spent += 3 * usdc
		o.pays = append(o.pays, paid{at: d.Now.UnixMilli(), amount: 3 * usdc})
		for i := range 20 {
			verify(s.WithClockSkew(skew+time.Duration(i)*97*time.Minute), "after the pause")
		}
	})
}

// TestWindowsWithoutTotals: a session written before it kept its window
// totals in its own hash (buckets only, or totals in the window hash) is
// summed once from its buckets, and the totals go on from there.
func TestWindowsWithoutTotals(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k, sess := f.linked(1000*usdc, policy.Limits{PerDay: 100 * usdc})
		f.pay(s.WithClockSkew(-26*time.Hour), k.ID, 30*usdc) // left the day, still in the week
		f.pay(s, k.ID, 20*usdc)
		f.pay(s, k.ID, 5*usdc)
		sk := s.Events().Key(f.wallet, "as:"+sess.ID)
		wk := sk + ":w"
		if err := s.Redis().HDel(ctx, sk, "w", "wb", "wc").Err(); err != nil {
			t.Fatal(err)
		}
		// The earlier layout's totals, wrong on purpose: they are not read.
		if err := s.Redis().HSet(ctx, wk, "day:t", 999*usdc, "day:lo", 1, "day:hi", 1).Err(); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSession(ctx, f.agent, sess.ID)
		if err != nil || got.UsedDay != 25*usdc || got.UsedWeek != 55*usdc || got.UsedMonth != 55*usdc {
			t.Fatalf("usage from buckets alone: %+v %v", got, err)
		}
		if d := f.check(s, k.ID, 75*usdc+1); d.Allowed || d.MaxAffordableNow != 75*usdc {
			t.Fatalf("check from buckets alone: %+v", d)
		}
		f.pay(s, k.ID, 10*usdc)
		if n, _ := s.Redis().HExists(ctx, sk, "w").Result(); !n {
			t.Fatal("the session's window totals were not written")
		}
		if n, _ := s.Redis().HExists(ctx, wk, "day:t").Result(); n {
			t.Fatal("the earlier layout's totals are still there")
		}
		got, _ = s.GetSession(ctx, f.agent, sess.ID)
		if got.UsedDay != 35*usdc || got.UsedWeek != 65*usdc {
			t.Fatalf("usage after the totals were written: %+v", got)
		}
		if d := f.check(s.WithClockSkew(24*time.Hour+15*time.Minute), k.ID, 100*usdc); !d.Allowed {
			t.Fatalf("a day later the day window still counts: %+v", d)
		}
	})
}

// TestWindowHashTTL: a session's window hash gets its time to live when it is
// written first and again when a new month bucket (8 h) starts, not on every
// payment; renewed so, it outlives every bucket that still counts.
func TestWindowHashTTL(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k, sess := f.linked(1000*usdc, policy.Limits{PerDay: 100 * usdc})
		wk := s.Events().Key(f.wallet, "as:"+sess.ID+":w")
		month := 30*24*time.Hour + 2*8*time.Hour
		ttl := func() time.Duration {
			t.Helper()
			d, err := s.Redis().PTTL(ctx, wk).Result()
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		f.pay(s, k.ID, usdc)
		if d := ttl(); d < month-time.Minute || d > month {
			t.Fatalf("a new window hash lives %v, want %v", d, month)
		}
		if err := s.Redis().PExpire(ctx, wk, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		f.pay(s, k.ID, usdc) // the same month bucket: the TTL stays
		if d := ttl(); d > time.Hour {
			t.Fatalf("a payment in the same month bucket renewed the TTL: %v", d)
		}
		f.pay(s.WithClockSkew(8*time.Hour+time.Minute), k.ID, usdc) // a new month bucket
		if d := ttl(); d < month-time.Minute {
			t.Fatalf("a new month bucket did not renew the TTL: %v", d)
		}
	})
}

// TestWindowsSameBucket: reservations in the day's newest bucket (which read
// and write only the session's totals and newest buckets) and in a new one
// count in every window, and a release gives back to the bucket it took.
func TestWindowsSameBucket(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k, sess := f.linked(1000*usdc, policy.Limits{PerDay: 100 * usdc, PerWeek: 300 * usdc})
		f.pay(s, k.ID, 10*usdc)
		held := f.reserve(s, k.ID, 20*usdc) // same bucket
		f.pay(s, k.ID, 5*usdc)
		later := s.WithClockSkew(20 * time.Minute) // the next day bucket
		f.pay(later, k.ID, 7*usdc)
		f.pay(later, k.ID, 3*usdc)
		used := func(at *policy.Store) (policy.Amount, policy.Amount) {
			t.Helper()
			got, err := at.GetSession(ctx, f.agent, sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.UsedDay, got.UsedWeek
		}
		if d, w := used(later); d != 45*usdc || w != 45*usdc {
			t.Fatalf("used %d/%d, want 45/45 USDC", d, w)
		}
		if _, err := s.Release(ctx, f.wallet, held.Payment.ID, "never sent"); err != nil {
			t.Fatal(err)
		}
		if d, w := used(later); d != 25*usdc || w != 25*usdc {
			t.Fatalf("after the release used %d/%d, want 25/25 USDC", d, w)
		}
		// A day after the first bucket, only the later one counts in the day.
		if d, w := used(s.WithClockSkew(24*time.Hour + 16*time.Minute)); d != 10*usdc || w != 25*usdc {
			t.Fatalf("a day later used %d/%d, want 10/25 USDC", d, w)
		}
		if d := f.check(s.WithClockSkew(24*time.Hour+16*time.Minute), k.ID, 90*usdc); !d.Allowed || d.MaxAffordableNow != 90*usdc {
			t.Fatalf("a day later: %+v", d)
		}
	})
}
