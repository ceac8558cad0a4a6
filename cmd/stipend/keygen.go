package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/stipend/stipend"
)

func keygenCmd(args []string, e env) int {
	fs := newFlagSet("keygen", e)
	kid := fs.String("kid", "k1", "id of the new master key")
	agent := fs.String("agent-id", "my-agent", "agent id the API key is for")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseArgs(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	s, err := stipend.NewSecrets(*kid, *agent)
	if err != nil {
		fmt.Fprintln(e.stderr, "stipend keygen:", err)
		return exitFail
	}
	if *asJSON {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			fmt.Fprintln(e.stderr, "stipend keygen:", err)
			return exitFail
		}
		fmt.Fprintln(e.stdout, string(b))
		return exitOK
	}
	fmt.Fprintf(e.stdout, `# Secrets for stipend. Keep them out of version control.

# Master key: seals the session keys' secrets. Losing it loses the funds on live keys.
master_keys: ["%s"]            # env STIPEND_MASTER_KEYS
master_key_current: %s

# API key of agent %q: give the key to the agent (Authorization: Bearer <key>); the server keeps the hash.
#   api key: %s
api_keys:                      # env STIPEND_API_KEYS=%s:%s
  - agent_id: %s
    key_sha256: %s

# Admin token: for the CLI (--admin-token or STIPEND_ADMIN_TOKEN); the server keeps the hash.
#   admin token: %s
admin_token_sha256: %s         # env STIPEND_ADMIN_TOKEN_SHA256
`, s.MasterKey, *kid, s.AgentID, s.APIKey, s.AgentID, s.APIKeySHA256, s.AgentID, s.APIKeySHA256, s.AdminToken, s.AdminTokenSHA256)
	return exitOK
}
