package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/stipend/stipend/service"
)

// reconcileCmd is `stipend reconcile`: every key whose token balance on
// chain and ledger disagree, both figures, and what the reconciler is doing
// about it; exit 1 when anything disagrees.
func reconcileCmd(ctx context.Context, args []string, e env) int {
	const name = "reconcile"
	fs := newFlagSet(name, e)
	cf := addClientFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: stipend reconcile [--json]\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) > 0 {
		return finish(e, name, usageErr("unexpected argument %q", pos[0]))
	}
	cl, err := cf.client(e)
	if err != nil {
		return finish(e, name, err)
	}
	var disagree bool
	err = call(ctx, cl, e, *cf.json, "GET", "/admin/reconcile", nil, func(r *service.ReconcileReport) {
		disagree = !r.Agree
		if *cf.json {
			return
		}
		fmt.Fprintf(e.stdout, "%d keys checked: chain %s, ledger %s\n", r.Checked, r.ChainTotal, r.LedgerTotal)
		if r.Agree {
			fmt.Fprintln(e.stdout, "Chain and ledger agree on every key.")
			return
		}
		fmt.Fprintln(e.stdout)
		t := newTable(e.stdout)
		t.row("SESSION KEY", "STATUS", "CHAIN", "LEDGER", "ACTION")
		for _, k := range r.Keys {
			t.row(k.SessionKeyID, k.Status, k.ChainAmount, k.LedgerAmount, k.Action)
		}
		t.flush()
	})
	if err == nil && disagree {
		err = &apiError{Code: "disagree", Message: "chain and ledger disagree on some keys (see above); the reconciler is working on them"}
	}
	return finish(e, name, err)
}
