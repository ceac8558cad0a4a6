package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/stipend/stipend/audit"
	"github.com/stipend/stipend/policy"
)

// auditOff is the audit_file value that keeps audit entries in Redis.
const auditOff = "off"

// defaultAuditFile is where audit entries go when audit_file is not set: a
// file per Redis prefix in the state directory ($XDG_STATE_HOME/stipend, or
// ~/.local/state/stipend).
func defaultAuditFile(prefix string) (string, error) {
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

// openAuditSink opens the audit sink file as the store's audit archive: the
// one audit_file names, or by default one in the state directory. With the
// embedded store (nothing survives a restart) or audit_file "off", audit
// entries stay in Redis. A default file that cannot be opened (another
// process holds it, no state directory) leaves them in Redis with a warning;
// a configured one that cannot be opened stops the server.
func (a *app) openAuditSink(opts *policy.Options) error {
	path := a.rt.AuditFile
	if path == auditOff || path == "" && a.embedded != nil {
		return nil
	}
	explicit := path != ""
	if !explicit {
		p, err := defaultAuditFile(a.rt.RedisPrefix)
		if err != nil {
			a.log.Warn("no audit sink: audit entries stay in Redis; set audit_file", "err", err)
			return nil
		}
		path = p
	}
	sink, err := audit.OpenFile(path, 0)
	switch {
	case err != nil && explicit:
		return fmt.Errorf("config: audit_file: %w", err)
	case errors.Is(err, audit.ErrLocked):
		a.log.Warn("no audit sink: the default audit file is another process's; audit entries stay in Redis (give each server its own audit_file, or one server the sink and \"off\" to the others)",
			"file", path)
		return nil
	case err != nil:
		a.log.Warn("no audit sink: audit entries stay in Redis; set audit_file", "file", path, "err", err)
		return nil
	}
	a.log.Info("audit sink", "file", path)
	a.sink, opts.AuditArchive = sink, sink
	return nil
}

// auditLoop moves audit entries from Redis to the audit sink every sweep
// interval until ctx ends,
// once more at the end so a clean stop leaves none behind.
func (a *app) auditLoop(ctx context.Context) {
	if a.sink == nil {
		return
	}
	for {
		n, err := a.store.DrainAllAudit(context.WithoutCancel(ctx))
		switch {
		case err != nil:
			a.log.Warn("moving audit entries to the audit sink failed; they stay in Redis and the next pass retries", "err", err)
		case n > 0:
			a.log.Debug("audit entries moved to the audit sink", "entries", n, "file", a.sink.Path())
		}
		select {
		case <-ctx.Done():
			_, _ = a.store.DrainAllAudit(context.WithoutCancel(ctx))
			return
		case <-time.After(a.rt.SweepInterval):
		}
	}
}
