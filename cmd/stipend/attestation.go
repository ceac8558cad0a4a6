package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/stipend/stipend/service"
)

// attestationCmd verifies a session key's attestation offline: the JSON of
// the key (`stipend session-keys status sk_… --json`, the create answer, or
// status over MCP) from a file or stdin; no server is asked.
func attestationCmd(args []string, e env) int {
	const usage = "usage: stipend attestation verify [FILE|-]   (the key's JSON, e.g. from `stipend session-keys status sk_… --json`)"
	if len(args) == 0 || args[0] != "verify" || len(args) > 2 {
		fmt.Fprintln(e.stderr, usage)
		return exitUsage
	}
	var r io.Reader = e.stdin
	if len(args) == 2 && args[1] != "-" {
		f, err := os.Open(args[1])
		if err != nil {
			fmt.Fprintf(e.stderr, "stipend attestation verify: %v\n", err)
			return exitUsage
		}
		defer func() { _ = f.Close() }() // a file only read: its close has nothing to tell
		r = f
	}
	var v service.KeyView
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	if err := dec.Decode(&v); err != nil {
		fmt.Fprintf(e.stderr, "stipend attestation verify: invalid_argument: the input is not a session key's JSON: %v\n", err)
		return exitFail
	}
	if err := service.VerifyKeyAttestation(&v); err != nil {
		fmt.Fprintf(e.stderr, "stipend attestation verify: %v\n", err)
		return exitFail
	}
	t := newTable(e.stdout)
	t.kv("Attestation", "valid: signed by the session key "+v.SessionKeyAddress)
	t.kv("Session key", v.SessionKeyID)
	t.kv("Agent", v.AgentID)
	t.kv("User wallet", v.UserWallet)
	t.kv("Mint", v.Mint)
	t.kv("Max amount", v.MaxAmount+" "+v.Token)
	t.kv("Expires", v.ExpiresAt)
	if v.LinkedSessionID != "" {
		t.kv("Linked session", v.LinkedSessionID)
	}
	t.flush()
	return exitOK
}
