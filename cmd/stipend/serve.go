package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/stipend/stipend"
)

func serveCmd(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("serve", e)
	httpAddr := fs.String("http", "", "serve MCP over HTTP (streamable HTTP on /mcp, SSE on /sse) on this address instead of stdio, e.g. :8080")
	cf := newConfigFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: stipend serve [--http ADDR] [--config FILE] [flags]\n\n"+
			"Without --http, MCP runs over stdin/stdout (for Claude Desktop and other MCP hosts) and the approval\n"+
			"pages, admin API and metrics are served on --listen. Flags win over STIPEND_* env, env over the file.\n\n")
		fs.PrintDefaults()
	}
	if pos, err := parseArgs(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	} else if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "stipend serve: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	cfg, err := cf.load(e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	stdio := *httpAddr == ""
	if !stdio {
		cfg.Listen = *httpAddr
	}
	a, err := stipend.New(ctx, cfg, stipend.Options{Stdio: stdio, Stdin: e.stdin, Stdout: e.stdout, LogOutput: e.stderr, Version: version})
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	defer a.Close()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(e.stderr, "stipend stopped:", err)
		return exitFail
	}
	return exitOK
}
