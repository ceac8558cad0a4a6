package core

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stipend/stipend/audit"
)

// TestAuditSinkDefault: the audit sink is on by default (a file per Redis
// prefix in the state directory), off with "off" or the embedded store; a
// default file another process holds leaves the entries in Redis, a
// configured one is an error.
func TestAuditSinkDefault(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	def := filepath.Join(state, "stipend", "audit-stipendx.jsonl")
	held := filepath.Join(t.TempDir(), "held.jsonl")
	holder, err := audit.OpenFile(held, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Close() })
	for _, tc := range []struct {
		name     string
		file     string
		embedded bool
		hold     bool // the default file is another's
		want     string
		fails    bool
	}{
		{"default", "", false, false, def, false},
		{"configured", filepath.Join(state, "mine.jsonl"), false, false, filepath.Join(state, "mine.jsonl"), false},
		{"off", AuditOff, false, false, "", false},
		{"embedded store", "", true, false, "", false},
		{"default held by another process", "", false, true, "", false},
		{"configured, held by another process", held, false, false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.hold {
				other, err := audit.OpenFile(def, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = other.Close() }()
			}
			cfg := Config{AuditFile: tc.file, RedisPrefix: "stipendx", Logger: slog.New(slog.DiscardHandler)}
			sink, err := openAuditSink(cfg, tc.embedded)
			if tc.fails != (err != nil) {
				t.Fatalf("err = %v; want failure %v", err, tc.fails)
			}
			if tc.fails && !errors.Is(err, audit.ErrLocked) {
				t.Fatalf("err = %v; want ErrLocked", err)
			}
			got := ""
			if sink != nil {
				got = sink.Path()
				if err := sink.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if got != tc.want {
				t.Fatalf("sink %q; want %q", got, tc.want)
			}
		})
	}
}
