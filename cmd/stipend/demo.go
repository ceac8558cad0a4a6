package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/stipend/stipend"
)

func demoCmd(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("demo", e)
	keep := fs.Bool("keep", false, "keep the server and chain running after the demo, until Ctrl-C")
	verbose := fs.Bool("v", false, "show the server's logs")
	if pos, err := parseArgs(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	} else if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "stipend demo: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if err := stipend.Demo(ctx, stipend.DemoOptions{Out: e.stdout, Logger: logger, Keep: *keep, Version: version}); err != nil {
		fmt.Fprintf(e.stderr, "\nstipend demo: FAILED: %v\n", err)
		return exitFail
	}
	return exitOK
}
