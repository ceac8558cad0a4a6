package policy_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/policy"
)

// The tests of the compact record layouts (issue 14): each record reads back
// the same as before, and records written in an earlier layout are still read.

// payRecord returns a payment's record as stored.
func payRecord(t *testing.T, s *policy.Store, wallet, pid string) string {
	t.Helper()
	v, err := s.Redis().Get(ctx, s.Events().Key(wallet, "pay:"+pid[4:20])).Result()
	if err != nil {
		t.Fatalf("record of %s: %v", pid, err)
	}
	return v
}

func compact(v string) bool { return v != "" && v[0] > 128 }

// TestPaymentRecordEdges: payments at the edges of the compact record (long
// and unusual free text, the largest amount, no idempotency key, a session
// payment, a time going back) read back exactly through every reader; the
// one the compact record cannot hold (updated before created) is written in
// the text layout and reads back the same.
func TestPaymentRecordEdges(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		for _, tc := range []struct {
			name, desc, idem string
			amount           policy.Amount
			session          bool          // a session payment (it waits for the owner's approval)
			settleSkew       time.Duration // the settling clock's skew
			text             bool          // settled in the text layout
		}{
			{"long description", strings.Repeat("é", 200), "long", usdc, false, 0, false},
			{"control bytes", "a\x00b\x01c\x7f:7:", "\x00", usdc, false, 0, false},
			{"largest amount", "", "max", policy.MaxAmount, false, 0, false},
			{"no idempotency key", "x", "", 1, false, 0, false},
			{"session payment", "s", "sess", 2 * usdc, true, 0, false},
			{"clock went back", "back", "back", usdc, false, -time.Hour, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, s)
				req := policy.PaymentRequest{Mode: policy.ModeReserve, AgentID: f.agent, Amount: tc.amount,
					Recipient: "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM", Description: tc.desc, IdempotencyKey: tc.idem,
					Signature: "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW"}
				if tc.session {
					req.SessionID = f.session(policy.Limits{}, 0).ID
				} else {
					req.SessionKeyID = f.key(policy.MaxAmount, time.Hour).ID
				}
				d, err := s.Decide(ctx, req)
				if err != nil || d.Payment == nil {
					t.Fatalf("decide: %v %+v", err, d)
				}
				p := d.Payment
				if p.Amount != tc.amount || p.Description != tc.desc || p.IdempotencyKey != tc.idem || p.AgentID != f.agent {
					t.Fatalf("decided payment: %+v", p)
				}
				if v := payRecord(t, s, f.wallet, p.ID); !compact(v) {
					t.Fatalf("a new payment's record is not compact: %q", v)
				}
				got, err := s.GetPayment(ctx, f.wallet, p.ID)
				if err != nil || *got != *p {
					t.Fatalf("GetPayment = %+v %v; want %+v", got, err, p)
				}
				if tc.idem != "" {
					rep, err := s.Decide(ctx, req)
					if err != nil || !rep.Duplicate || *rep.Payment != *p {
						t.Fatalf("replay: %v %+v; want %+v", err, rep.Payment, p)
					}
				}
				settler := s.WithClockSkew(tc.settleSkew)
				var settled *policy.Payment
				if tc.session {
					settled, err = settler.Release(ctx, f.wallet, p.ID, "the owner rejected it")
				} else {
					settled, err = settler.Commit(ctx, f.wallet, p.ID)
				}
				if err != nil {
					t.Fatal(err)
				}
				if v := payRecord(t, s, f.wallet, p.ID); compact(v) == tc.text {
					t.Fatalf("settled record %q: compact %v; want %v", v, compact(v), !tc.text)
				}
				if tc.text && !settled.UpdatedAt.Before(settled.CreatedAt) {
					t.Fatalf("settled %v, created %v: the clock did not go back", settled.UpdatedAt, settled.CreatedAt)
				}
				settled.KeyRemaining = 0
				after, err := s.GetPayment(ctx, f.wallet, p.ID)
				if err != nil || *after != *settled {
					t.Fatalf("after settling GetPayment = %+v %v; want %+v", after, err, settled)
				}
				if tc.idem != "" && !tc.session {
					rep, err := s.Decide(ctx, req)
					if err != nil || !rep.Duplicate || rep.Payment.UpdatedAt != settled.UpdatedAt || rep.Outcome != policy.OutcomeConfirmed {
						t.Fatalf("replay after settling: %v %+v", err, rep)
					}
					byKey, err := s.PaymentByIdempotencyKey(ctx, req.SessionKeyID, tc.idem)
					if err != nil || byKey == nil || *byKey != *settled {
						t.Fatalf("by idempotency key: %+v %v; want %+v", byKey, err, settled)
					}
				}
			})
		}
	})
}

// TestPaymentOfTextLayout: a payment written in the text layout (each field
// '<length>:<bytes>', the compact record's predecessor) is still found,
// replayed, committed or released exactly once, and becomes compact when
// written.
func TestPaymentOfTextLayout(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		for _, settle := range []string{"commit", "release"} {
			t.Run(settle, func(t *testing.T) {
				f := newFixture(t, s)
				k := f.key(10*usdc, time.Hour)
				now, err := s.Now(ctx)
				if err != nil {
					t.Fatal(err)
				}
				idem := "text-" + settle
				pid := policy.NewPaymentID(k.ID, "", idem)
				req := policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent, Amount: 2 * usdc,
					Recipient: "merchant", Description: "a:1:b", IdempotencyKey: idem}
				// What the earlier pay_put wrote for a reservation of 2 USDC.
				field := func(v string) string { return strconv.Itoa(len(v)) + ":" + v }
				ms := strconv.FormatInt(now.UnixMilli(), 10)
				rec := field("r") + field(pid[20:]) + field(k.ID) + field("") + field(f.agent) + field("2000000") +
					field("merchant") + field("oldsig") + field(ms) + field("0") + field(idem) + field("a:1:b") + field("") +
					field("oldhash")
				key := func(name string) string { return s.Events().Key(f.wallet, name) }
				rdb := s.Redis()
				if err := rdb.Set(ctx, key("pay:"+pid[4:20]), rec, 0).Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.HIncrBy(ctx, key("sk:"+k.ID), "reserved", 2*usdc).Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.ZAdd(ctx, key("inflight"), redis.Z{Score: float64(now.UnixMilli()), Member: pid}).Err(); err != nil {
					t.Fatal(err)
				}
				want := policy.Payment{ID: pid, SessionKeyID: k.ID, AgentID: f.agent, UserWallet: f.wallet, Amount: 2 * usdc,
					Recipient: "merchant", Description: "a:1:b", Status: policy.PaymentReserved, Signature: "oldsig",
					Blockhash: "oldhash", IdempotencyKey: idem, CreatedAt: time.UnixMilli(now.UnixMilli()).UTC(),
					UpdatedAt: time.UnixMilli(now.UnixMilli()).UTC()}
				if p, err := s.GetPayment(ctx, f.wallet, pid); err != nil || *p != want {
					t.Fatalf("text record: %+v %v; want %+v", p, err, want)
				}
				if inflight, err := s.InFlight(ctx); err != nil || !hasPayment(inflight, pid) {
					t.Fatalf("in flight: %v %v", inflight, err)
				}
				rep, err := s.Decide(ctx, req)
				if err != nil || !rep.Duplicate || *rep.Payment != want {
					t.Fatalf("replay of a text record: %v %+v", err, rep.Payment)
				}
				var p *policy.Payment
				p, err = settlePayment(s, f.wallet, pid, settle)
				if err != nil || p.Duplicate || p.AgentID != f.agent || p.Signature != "oldsig" || p.Description != "a:1:b" {
					t.Fatalf("%s: %+v %v", settle, p, err)
				}
				if v := payRecord(t, s, f.wallet, pid); !compact(v) {
					t.Fatalf("the settled record is not compact: %q", v)
				}
				p.KeyRemaining = 0
				if again, err := s.GetPayment(ctx, f.wallet, pid); err != nil || *again != *p {
					t.Fatalf("after %s: %+v %v; want %+v", settle, again, err, p)
				}
				f.settledOnce(s, k.ID, pid, settle, 2*usdc)
				other := req
				other.Amount++
				if _, err := s.Decide(ctx, other); !errors.Is(err, policy.ErrConflict) {
					t.Fatalf("same key, other amount: %v", err)
				}
			})
		}
	})
}

// memArchive is an audit sink in memory.
type memArchive struct {
	mu      sync.Mutex
	entries map[string][]policy.AuditEntry
}

func (a *memArchive) Archive(_ context.Context, w string, es []policy.AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries[w] = append(a.entries[w], es...)
	return nil
}

func (a *memArchive) Archived(_ context.Context, w string) ([]policy.AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]policy.AuditEntry(nil), a.entries[w]...), nil
}

// TestAuditHeadOfEarlierLayout: an audit head written as a hash (seq, hash,
// and the base_seq and base_hash of a drain) still verifies, takes the next
// entry and the next drain, and becomes a string when next written; a head
// that does not match still breaks the verification.
func TestAuditHeadOfEarlierLayout(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		for _, drained := range []bool{false, true} {
			t.Run("drained "+strconv.FormatBool(drained), func(t *testing.T) {
				arch := &memArchive{entries: map[string][]policy.AuditEntry{}}
				s := policy.New(s.Redis(), policy.Options{AuditArchive: arch})
				f := newFixture(t, s)
				k := f.key(100*usdc, time.Hour)
				f.pay(s, k.ID, usdc)
				if drained {
					if _, err := s.DrainAudit(ctx, f.wallet, 1000); err != nil {
						t.Fatal(err)
					}
				}
				n, err := s.VerifyAudit(ctx, f.wallet)
				if err != nil {
					t.Fatal(err)
				}
				entries, err := s.Audit(ctx, f.wallet)
				if err != nil || len(entries) != n {
					t.Fatalf("audit: %d entries, %v", len(entries), err)
				}
				head := s.Events().Key(f.wallet, "audit:head")
				rdb := s.Redis()
				if typ := rdb.Type(ctx, head).Val(); typ != "string" {
					t.Fatalf("head is a %s", typ)
				}
				// The head as the earlier audit() and audit_trim.lua wrote it:
				// the last entry, and the last one drained (if any).
				writeHash := func(last policy.AuditEntry, hash string, base *policy.AuditEntry) {
					t.Helper()
					vals := []any{"seq", strconv.FormatInt(last.Seq, 10), "hash", hash}
					if base != nil {
						vals = append(vals, "base_seq", strconv.FormatInt(base.Seq, 10), "base_hash", base.Hash)
					}
					if err := rdb.Del(ctx, head).Err(); err != nil {
						t.Fatal(err)
					}
					if err := rdb.HSet(ctx, head, vals...).Err(); err != nil {
						t.Fatal(err)
					}
				}
				last := entries[n-1]
				var base *policy.AuditEntry
				if drained {
					base = &last
				}
				writeHash(last, strings.Repeat("0", 40), base)
				var br *policy.AuditBreak
				if _, err := s.VerifyAudit(ctx, f.wallet); !errors.As(err, &br) {
					t.Fatalf("a hash head of another hash verified: %v", err)
				}
				writeHash(last, last.Hash, base)
				if got, err := s.VerifyAudit(ctx, f.wallet); err != nil || got != n {
					t.Fatalf("verify with a hash head: %d %v", got, err)
				}
				f.pay(s, k.ID, usdc) // the next entries go on from the hash head
				if typ := rdb.Type(ctx, head).Val(); typ != "string" {
					t.Fatalf("head is still a %s after a write", typ)
				}
				got, err := s.VerifyAudit(ctx, f.wallet)
				if err != nil || got <= n {
					t.Fatalf("verify after the next entries: %d (before %d) %v", got, n, err)
				}
				// A drain's trim takes a hash head too.
				entries, _ = s.Audit(ctx, f.wallet)
				writeHash(entries[got-1], entries[got-1].Hash, base)
				if moved, err := s.DrainAudit(ctx, f.wallet, 1000); err != nil || moved == 0 {
					t.Fatalf("drain with a hash head: %d %v", moved, err)
				}
				if typ := rdb.Type(ctx, head).Val(); typ != "string" {
					t.Fatalf("head is still a %s after a drain", typ)
				}
				if again, err := s.VerifyAudit(ctx, f.wallet); err != nil || again != got {
					t.Fatalf("verify after the drain: %d (want %d) %v", again, got, err)
				}
				writeHash(last, last.Hash, base) // a hash head behind the log
				if _, err := s.VerifyAudit(ctx, f.wallet); !errors.As(err, &br) {
					t.Fatalf("a stale hash head verified: %v", err)
				}
			})
		}
	})
}

// TestIndexOfEarlierLayout: a session key and a session indexed before the
// id buckets (each id its own string, an agent's keys a set) are still
// found, listed once, and their ids cannot be taken again.
func TestIndexOfEarlierLayout(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k, sess := f.linked(10*usdc, policy.Limits{})
		kept := f.key(10*usdc, time.Hour) // indexed in both layouts at once: listed once
		rdb := s.Redis()
		for _, id := range []string{k.ID, sess.ID, kept.ID} {
			bucket, earlier := s.IndexKeys(id)
			if id != kept.ID {
				if err := rdb.HDel(ctx, bucket, id).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if err := rdb.Set(ctx, earlier, f.wallet, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		agentHash, agentSet := s.AgentIndexKeys(f.agent)
		if err := rdb.HDel(ctx, agentHash, k.ID).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.SAdd(ctx, agentSet, k.ID, kept.ID).Err(); err != nil {
			t.Fatal(err)
		}
		fresh := policy.New(rdb, policy.Options{}) // nothing cached
		if got, _, err := fresh.GetKey(ctx, f.agent, k.ID); err != nil || got.LinkedSessionID != sess.ID {
			t.Fatalf("key indexed before: %+v %v", got, err)
		}
		if got, err := fresh.GetSession(ctx, f.agent, sess.ID); err != nil || got.ID != sess.ID {
			t.Fatalf("session indexed before: %+v %v", got, err)
		}
		if d := f.check(fresh, k.ID, usdc); !d.Allowed {
			t.Fatalf("check on a key indexed before: %+v", d)
		}
		keys, err := fresh.ListKeys(ctx, f.agent)
		if err != nil || len(keys) != 2 {
			t.Fatalf("ListKeys: %d keys %v", len(keys), err)
		}
		now, _ := fresh.Now(ctx)
		if _, err := fresh.CreateKey(ctx, policy.NewKey{ID: k.ID, AgentID: f.agent, UserWallet: wallet(), Token: "USDC",
			Decimals: 6, Address: "addr", MaxAmount: usdc, ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, policy.ErrConflict) {
			t.Fatalf("a key id indexed before taken again: %v", err)
		}
		if bucket, _ := fresh.IndexKeys(k.ID); rdb.HExists(ctx, bucket, k.ID).Val() {
			t.Fatal("the refused id was left in its bucket")
		}
		if _, _, err := fresh.GetKey(ctx, "", policy.NewID("sk_")); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("an unknown key: %v", err)
		}
	})
}

// TestRecordsHoldNoEmptyFields: a key's and a session's records hold no
// empty field (the sealed secret's aside) and no limit of 0, and read back
// as created.
func TestRecordsHoldNoEmptyFields(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		now, _ := s.Now(ctx)
		k, err := s.CreateKey(ctx, policy.NewKey{AgentID: f.agent, UserWallet: f.wallet, Token: "USDC", Decimals: 6,
			Address: "addr", MaxAmount: usdc, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := s.CreateSession(ctx, policy.NewSession{AgentID: f.agent, UserWallet: f.wallet,
			Limits: policy.Limits{PerDay: usdc}, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string][]string{"sk:" + k.ID: {"sealed_key"}, "as:" + sess.ID: {"per_day"}} {
			h, err := s.Redis().HGetAll(ctx, s.Events().Key(f.wallet, name)).Result()
			if err != nil {
				t.Fatal(err)
			}
			for field, v := range h {
				if (v == "" && field != "sealed_key") || (v == "0" && strings.HasPrefix(field, "per_")) {
					t.Errorf("%s holds %s = %q", name, field, v)
				}
			}
			for _, field := range want {
				if _, ok := h[field]; !ok {
					t.Errorf("%s lacks %s: %v", name, field, h)
				}
			}
		}
		got, _, err := s.GetKey(ctx, f.agent, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		k.PaymentsLastHour, k.RefusalsLastHour = got.PaymentsLastHour, got.RefusalsLastHour
		if *got != *k {
			t.Fatalf("GetKey = %+v; want %+v", got, k)
		}
		gs, err := s.GetSession(ctx, f.agent, sess.ID)
		if err != nil || gs.Limits != sess.Limits || gs.RequireApprovalAbove != 0 || gs.Mint != "" || gs.AgentID != f.agent {
			t.Fatalf("GetSession = %+v %v; want %+v", gs, err, sess)
		}
		if sealed, err := s.SealedSecret(ctx, k.ID); err != nil || sealed != "" {
			t.Fatalf("sealed secret: %q %v", sealed, err)
		}
	})
}
