// Command stipend runs the stipend MCP server, which gives LLM agents
// pre-funded, capped Solana USDC wallets (session keys), and is the
// operator's CLI against a running server's admin API.
//
//	stipend serve [--http ADDR] [--config FILE] [flags]   run the server (stdio MCP by default)
//	stipend demo                                          the whole lifecycle on a local chain
//	stipend keygen                                        new master key, API key, admin token
//	stipend doctor [--config FILE]                        check a configuration against its cluster
//	stipend session-keys create|status|top-up|revoke|list|can-afford
//	stipend sessions create|show|link|unlink|limits
//	stipend pay --session-key sk_… --recipient … --amount …
//	stipend audit verify|show
//	stipend webhooks status|test|dead|retry
//
// Exit codes: 0 ok, 1 refused or failed (the error code and message on
// stderr), 2 usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// env is what a command reads from its process: arguments aside.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

const usageText = `stipend: capped, human-approved Solana USDC wallets for LLM agents, over MCP.

Usage:
  stipend serve [--http ADDR] [--config FILE] [flags]   run the server (MCP over stdio by default;
                                                        --http serves MCP over HTTP instead)
  stipend demo                                          run the whole lifecycle on a local chain
  stipend keygen [--agent-id ID] [--kid KID]            make a master key, an API key, an admin token
  stipend doctor [--config FILE] [flags]                check a configuration against its cluster and Redis

  stipend session-keys create --agent-id ID --wallet W --max-amount 100 [--expiry-hours 24] [--session sess_…]
  stipend session-keys status sk_…
  stipend session-keys top-up sk_… --amount 50
  stipend session-keys revoke sk_… [--reason TEXT]
  stipend session-keys list [--agent-id ID]
  stipend session-keys can-afford sk_… --amount 80 [--recipient ADDR]
  stipend sessions create --agent-id ID --wallet W [--max-per-transaction N] [--max-per-day N]
                          [--max-per-week N] [--max-per-month N] [--require-approval-above N]
                          [--duration-hours 168] [--allow ADDR]...
  stipend sessions show sess_…
  stipend sessions link sk_… sess_…
  stipend sessions unlink sk_… [--force]                (an approval link for the owner; --force: at once, audited)
  stipend sessions limits sess_… [--max-per-day N] ... [--force]  (an approval link for the owner)
  stipend pay --agent-id ID --session-key sk_… --recipient ADDR --amount N [--description T] [--idempotency-key K]
  stipend audit verify [--wallet W | sk_…]
  stipend audit show (--wallet W | sk_…)
  stipend webhooks status | test ENDPOINT | dead [--limit N] | retry DEAD_ID
  stipend reconcile                                      keys whose chain and ledger disagree (exit 1 if any)
  stipend attestation verify [FILE|-]                   check a key's attestation offline (its --json status)
  stipend version

The operator commands call a running server's admin API:
  --server URL        (env STIPEND_SERVER, default http://127.0.0.1:8080)
  --admin-token TOKEN (env STIPEND_ADMIN_TOKEN)
  --json              print the API's JSON instead of a table

Run "stipend serve -h" for the server's settings. Exit codes: 0 ok, 1 refused or failed, 2 usage.
`

// run runs one command line and returns its exit code.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usageText)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serveCmd(ctx, rest, e)
	case "demo":
		return demoCmd(ctx, rest, e)
	case "keygen":
		return keygenCmd(rest, e)
	case "doctor":
		return doctorCmd(ctx, rest, e)
	case "session-keys", "session-key", "keys":
		return sessionKeysCmd(ctx, rest, e)
	case "sessions", "session":
		return sessionsCmd(ctx, rest, e)
	case "pay":
		return payCmd(ctx, rest, e)
	case "audit":
		return auditCmd(ctx, rest, e)
	case "webhooks", "webhook":
		return webhooksCmd(ctx, rest, e)
	case "reconcile":
		return reconcileCmd(ctx, rest, e)
	case "attestation":
		return attestationCmd(rest, e)
	case "version", "--version":
		fmt.Fprintln(e.stdout, "stipend", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usageText)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "stipend: unknown command %q\n\n%s", cmd, usageText)
	return exitUsage
}

// errUsage marks a command line that is wrong (exit code 2).
var errUsage = errors.New("usage")

// usageErr is a usage error with its message.
func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// newFlagSet returns a flag set whose errors and usage go to stderr.
func newFlagSet(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}
