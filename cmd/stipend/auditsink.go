package main

import (
	"context"
	"fmt"
	"time"

	"github.com/stipend/stipend/audit"
	"github.com/stipend/stipend/policy"
)

// openAuditSink opens the audit sink file (audit_file), if configured, as the
// store's audit archive.
func (a *app) openAuditSink(opts *policy.Options) error {
	if a.rt.AuditFile == "" {
		return nil
	}
	sink, err := audit.OpenFile(a.rt.AuditFile, 0)
	if err != nil {
		return fmt.Errorf("config: audit_file: %w", err)
	}
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
