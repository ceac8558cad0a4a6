package core

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stipend/stipend/audit"
)

// AuditOff is the audit_file value that keeps audit entries in Redis.
const AuditOff = "off"

// DefaultAuditFile is where audit entries go when audit_file is not set: a
// file per Redis prefix in the state directory ($XDG_STATE_HOME/stipend, or
// ~/.local/state/stipend).
func DefaultAuditFile(prefix string) (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("config: audit_file: no state directory for the default: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "stipend", "audit-"+prefix+".jsonl"), nil
}

// openAuditSink opens the audit sink file the store archives to: the one
// audit_file names, or by default one in the state directory. With the
// embedded store (nothing survives a restart) or audit_file "off", audit
// entries stay in Redis (nil sink). A default file that cannot be opened
// (another process holds it, no state directory) leaves them in Redis with a
// warning; a configured one that cannot be opened is an error.
func openAuditSink(cfg Config, embedded bool) (*audit.FileSink, error) {
	path := cfg.AuditFile
	if path == AuditOff || path == "" && embedded {
		return nil, nil
	}
	explicit := path != ""
	if !explicit {
		p, err := DefaultAuditFile(cfg.RedisPrefix)
		if err != nil {
			cfg.Logger.Warn("no audit sink: audit entries stay in Redis; set audit_file", "err", err)
			return nil, nil
		}
		path = p
	}
	sink, err := audit.OpenFile(path, 0)
	switch {
	case err != nil && explicit:
		return nil, fmt.Errorf("config: audit_file: %w", err)
	case errors.Is(err, audit.ErrLocked):
		cfg.Logger.Warn("no audit sink: the default audit file is another process's; audit entries stay in Redis (give each server its own audit_file, or one server the sink and \"off\" to the others)",
			"file", path)
		return nil, nil
	case err != nil:
		cfg.Logger.Warn("no audit sink: audit entries stay in Redis; set audit_file", "file", path, "err", err)
		return nil, nil
	}
	cfg.Logger.Info("audit sink", "file", path)
	return sink, nil
}
