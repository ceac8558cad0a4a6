package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend/audit"
	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
)

var ctx = context.Background()

// prefixes holds the key prefix of each test's store, by test name.
var prefixes sync.Map

const usdc = 1_000_000

func wallet() string { return testenv.FakeWallet() }

// backends runs fn on the real Redis and on the embedded miniredis.
func backends(t *testing.T, fn func(t *testing.T, s *policy.Store, sink *audit.FileSink, path string)) {
	for _, name := range []string{"redis", "miniredis"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit", "stipend-audit.jsonl")
			sink, err := audit.OpenFile(path, 4096) // small: several rotations
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sink.Close() })
			// A prefix of its own: DrainAllAudit drains every wallet under it,
			// and other packages' tests share this Redis.
			opts := policy.Options{Prefix: "stipendaudittest" + policy.NewID("")[:10], AuditArchive: sink}
			prefixes.Store(t.Name(), opts.Prefix)
			if name == "redis" {
				fn(t, policy.New(testenv.Redis(t), opts), sink, path)
				return
			}
			e, err := policy.NewEmbedded()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.Close() })
			fn(t, policy.New(e.Client, opts), sink, path)
		})
	}
}

// history writes a user_wallet's audit entries: a key, payments, a refusal.
func history(t *testing.T, s *policy.Store, w string, payments int) {
	t.Helper()
	now, _ := s.Now(ctx)
	k, err := s.CreateKey(ctx, policy.NewKey{AgentID: "agent", UserWallet: w, Token: "USDC", Decimals: 6,
		Address: "addr", MaxAmount: 1000 * usdc, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Activate(ctx, k.ID, "fund", 1000*usdc); err != nil {
		t.Fatal(err)
	}
	for range payments {
		d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: "agent",
			Amount: usdc, Recipient: "shop", Signature: "sig"})
		if err != nil || d.Outcome != policy.OutcomeReserved {
			t.Fatalf("reserve: %v %+v", err, d)
		}
		if _, err := s.Commit(ctx, w, d.Payment.ID); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: "agent",
		Amount: 5000 * usdc, Recipient: "shop"}); err != nil || d.Outcome != policy.OutcomeRefused {
		t.Fatalf("refusal: %v %+v", err, d)
	}
}

func inRedis(t *testing.T, s *policy.Store, w string) int64 {
	t.Helper()
	n, err := s.Redis().LLen(ctx, s.Events().Key(w, "audit")).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDrainKeepsTheChain: entries move to the file sink (rotating) and leave
// Redis; the chain verifies across the sink and Redis, before and after more
// entries, after the sink is reopened, and after a drain that wrote the sink
// but stopped before trimming Redis.
func TestDrainKeepsTheChain(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store, sink *audit.FileSink, path string) {
		a, b := wallet(), wallet()
		history(t, s, a, 10)
		history(t, s, b, 3)
		before, err := s.Audit(ctx, a)
		if err != nil || len(before) < 20 {
			t.Fatalf("audit before drain: %d entries, %v", len(before), err)
		}
		moved, err := s.DrainAudit(ctx, a, 7)
		if err != nil || moved != 7 {
			t.Fatalf("drain 7: %d, %v", moved, err)
		}
		if n, err := s.VerifyAudit(ctx, a); err != nil || n != len(before) {
			t.Fatalf("verify after a partial drain: %d, %v", n, err)
		}
		if _, err := s.DrainAllAudit(ctx); err != nil {
			t.Fatal(err)
		}
		if inRedis(t, s, a) != 0 || inRedis(t, s, b) != 0 {
			t.Fatalf("entries still in Redis after the drain: %d, %d", inRedis(t, s, a), inRedis(t, s, b))
		}
		after, err := s.Audit(ctx, a)
		if err != nil || len(after) != len(before) || after[len(after)-1].Hash != before[len(before)-1].Hash {
			t.Fatalf("audit after drain: %d entries (want %d), %v", len(after), len(before), err)
		}
		rotated, _ := filepath.Glob(path + ".*")
		if len(rotated) == 0 {
			t.Fatal("the sink never rotated")
		}
		// More history, a sink reopened (a restart), more drains.
		history(t, s, a, 2)
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		reopened, err := audit.OpenFile(path, 4096)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = reopened.Close() })
		pfx, _ := prefixes.Load(t.Name())
		s2 := policy.New(s.Redis(), policy.Options{Prefix: pfx.(string), AuditArchive: reopened})
		if _, err := s2.DrainAudit(ctx, a, 3); err != nil {
			t.Fatal(err)
		}
		// A drain that wrote the sink and stopped before Redis let go: the
		// entries are in both; they count once.
		raws, err := s2.Redis().LRange(ctx, s2.Events().Key(a, "audit"), 0, 1).Result()
		if err != nil || len(raws) != 2 {
			t.Fatalf("oldest entries in Redis: %v %v", raws, err)
		}
		if err := reopened.Archive(ctx, a, []policy.AuditEntry{policy.ParseAuditEntry(raws[0]), policy.ParseAuditEntry(raws[1])}); err != nil {
			t.Fatal(err)
		}
		if _, err := s2.DrainAllAudit(ctx); err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{a, b} {
			n, err := s2.VerifyAudit(ctx, w)
			if err != nil {
				t.Fatalf("verify %s: %v", w, err)
			}
			all, _ := s2.Audit(ctx, w)
			if n != len(all) || all[n-1].Seq != int64(n) {
				t.Fatalf("verify counted %d of %d entries", n, len(all))
			}
		}
	})
}

// TestSinkTampering: editing or removing a line of the sink, or losing the
// sink, breaks the verification.
func TestSinkTampering(t *testing.T) {
	tamper := []struct {
		name string
		do   func(t *testing.T, path string)
		why  string
	}{
		{"edit an entry", func(t *testing.T, path string) {
			rewrite(t, path, func(lines []string) []string {
				lines[1] = strings.Replace(lines[1], `\"ts\":\"`, `\"ts\":\"9`, 1)
				return lines
			})
		}, "line 3: a line before it was edited"},
		{"remove a line", func(t *testing.T, path string) {
			rewrite(t, path, func(lines []string) []string { return append(lines[:1], lines[2:]...) })
		}, "line 2"},
		{"remove the last line", func(t *testing.T, path string) {
			rewrite(t, path, func(lines []string) []string { return lines[:len(lines)-1] })
		}, ""},
		{"lose the sink", func(t *testing.T, path string) {
			files, _ := filepath.Glob(path + "*")
			for _, f := range files {
				_ = os.Remove(f)
			}
		}, "left Redis for the audit sink"},
	}
	for _, tc := range tamper {
		t.Run(tc.name, func(t *testing.T) {
			backends(t, func(t *testing.T, s *policy.Store, sink *audit.FileSink, path string) {
				w := wallet()
				history(t, s, w, 4)
				if _, err := s.DrainAudit(ctx, w, 1000); err != nil {
					t.Fatal(err)
				}
				history(t, s, w, 1) // some entries stay in Redis
				if _, err := s.VerifyAudit(ctx, w); err != nil {
					t.Fatalf("intact: %v", err)
				}
				tc.do(t, path)
				_, err := s.VerifyAudit(ctx, w)
				var br *policy.AuditBreak
				if !errors.As(err, &br) || !strings.Contains(br.Error(), tc.why) {
					t.Fatalf("tampered sink verified or misnamed: %v (want %q)", err, tc.why)
				}
			})
		})
	}
}

// rewrite edits the newest non-empty file of the sink (the current one, else
// the last rotated one) line by line.
func rewrite(t *testing.T, path string, edit func([]string) []string) {
	t.Helper()
	files, _ := filepath.Glob(path + ".*")
	files = append(files, path)
	for i := len(files) - 1; i >= 0; i-- {
		b, err := os.ReadFile(files[i])
		if err != nil || len(b) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) < 3 {
			continue
		}
		if err := os.WriteFile(files[i], []byte(strings.Join(edit(lines), "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("no sink file with three lines")
}

// TestOneWriterPerSink: a sink file open in one place cannot be opened for
// writing again until it is closed (one process writes one sink); the lock
// file is not taken for a rotated file.
func TestOneWriterPerSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	first, err := audit.OpenFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenFile(path, 0); !errors.Is(err, audit.ErrLocked) {
		t.Fatalf("second writer: %v; want ErrLocked", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := audit.OpenFile(path, 0)
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	rotated, err := filepath.Glob(path + ".*")
	if err != nil || len(rotated) != 0 {
		t.Fatalf("files taken for rotated ones: %v %v", rotated, err)
	}
}
