package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/stipend/stipend"
)

// doctorCmd checks a configuration against its cluster and its store, and
// says what to fix: exit 0 when nothing failed (warnings allowed), 1 otherwise.
func doctorCmd(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("doctor", e)
	cf := newConfigFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: stipend doctor [--config FILE] [flags]\n\n"+
			"Checks the configuration serve would run with against its cluster and store: the RPC endpoints\n"+
			"answer and serve the configured cluster, the mint exists with the configured decimals and token\n"+
			"program, the fee payer has SOL, Redis answers. Takes the same settings as serve.\n\n")
		fs.PrintDefaults()
	}
	if pos, err := parseArgs(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	} else if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "stipend doctor: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	cfg, err := cf.load(e.getenv)
	if stipend.Doctor(ctx, e.stdout, cfg, err) > 0 {
		return exitFail
	}
	return exitOK
}
