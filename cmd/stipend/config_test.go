package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/testenv"
)

const testMint = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"

func masterKey(t testing.TB, kid string) string { return testenv.MasterKey(t, kid) }

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stipend.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadWith parses flags and loads the configuration with env.
func loadWith(t *testing.T, env map[string]string, args ...string) (stipend.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := newConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cf.load(func(k string) string { return env[k] })
}

func TestConfigPrecedence(t *testing.T) {
	mk := masterKey(t, "k1")
	file := writeFile(t, `
listen: 127.0.0.1:9000
token: FILE
rpc_url: http://file:8899
mint: `+testMint+`
risk_threshold: 10
approval_ttl: 10m
master_keys: ["`+mk+`"]
api_keys:
  - agent_id: from-file
    key_sha256: `+strings.Repeat("ab", 32)+`
webhooks:
  - name: ops
    url: https://hooks.example.com/x
    secret: s3cret
    timeout: 3s
    retry_window: 24h
    slots: 16
`)
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c stipend.Config)
	}{
		{"defaults", nil, nil, func(t *testing.T, c stipend.Config) {
			if c.Listen != "127.0.0.1:8080" || c.Token != "USDC" || c.Decimals != 6 || c.Commitment != "confirmed" ||
				c.ApprovalTTL != 30*time.Minute || c.SweepInterval != 30*time.Second || c.RedisURL != "" {
				t.Fatalf("%+v", c)
			}
		}},
		{"file", map[string]string{"STIPEND_CONFIG": file}, nil, func(t *testing.T, c stipend.Config) {
			if c.Listen != "127.0.0.1:9000" || c.Token != "FILE" || c.RiskThreshold != 10 || c.ApprovalTTL != 10*time.Minute ||
				len(c.APIKeys) != 1 || c.APIKeys[0].AgentID != "from-file" || len(c.Webhooks) != 1 || c.Decimals != 6 {
				t.Fatalf("%+v", c)
			}
			if w := c.Webhooks[0]; w.Timeout != 3*time.Second || w.RetryWindow != 24*time.Hour || w.Slots != 16 {
				t.Fatalf("webhook settings %+v", w)
			}
		}},
		{"env over file", map[string]string{"STIPEND_CONFIG": file, "STIPEND_TOKEN": "ENV", "STIPEND_RISK_THRESHOLD": "20",
			"STIPEND_API_KEYS": "a:" + strings.Repeat("cd", 32) + ", b:" + strings.Repeat("ef", 32)}, nil, func(t *testing.T, c stipend.Config) {
			if c.Token != "ENV" || c.RiskThreshold != 20 || c.Listen != "127.0.0.1:9000" || len(c.APIKeys) != 2 || c.APIKeys[1].AgentID != "b" {
				t.Fatalf("%+v", c)
			}
		}},
		{"flags over env", map[string]string{"STIPEND_CONFIG": file, "STIPEND_TOKEN": "ENV", "STIPEND_LISTEN": "127.0.0.1:7000"},
			[]string{"--token", "FLAG", "--approval-ttl", "5m"}, func(t *testing.T, c stipend.Config) {
				if c.Token != "FLAG" || c.Listen != "127.0.0.1:7000" || c.ApprovalTTL != 5*time.Minute || c.RPCURL != "http://file:8899" {
					t.Fatalf("%+v", c)
				}
			}},
		{"config flag over env file", map[string]string{"STIPEND_CONFIG": "/does/not/exist"}, []string{"--config", file}, func(t *testing.T, c stipend.Config) {
			if c.Token != "FILE" {
				t.Fatalf("%+v", c)
			}
		}},
		{"env list", map[string]string{"STIPEND_MASTER_KEYS": mk + " , " + masterKey(t, "k2"), "STIPEND_MASTER_KEY_CURRENT": "k2"}, nil, func(t *testing.T, c stipend.Config) {
			if len(c.MasterKeys) != 2 || c.MasterKeyCurrent != "k2" {
				t.Fatalf("%+v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadWith(t, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// TestConfigCheck: each bad setting is reported by name before anything runs.
func TestConfigCheck(t *testing.T) {
	mk := masterKey(t, "k1")
	good := map[string]string{"STIPEND_RPC_URL": "http://127.0.0.1:8899", "STIPEND_MINT": testMint, "STIPEND_MASTER_KEYS": mk}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	rt, err := loadAndCheck(t, good)
	if err != nil {
		t.Fatalf("good config: %v", err)
	}
	if rt.Sealer == nil || rt.Redis != nil || rt.PublicURL != "http://127.0.0.1:8080" || rt.AdminToken != nil {
		t.Fatalf("good config: %+v", rt)
	}

	if !rt.TokenProgram.Equals(solana.TokenProgramID) {
		t.Fatalf("default token program: %s", rt.TokenProgram)
	}
	if rt, err := loadAndCheck(t, with("STIPEND_TOKEN_PROGRAM", "token-2022")); err != nil || !rt.TokenProgram.Equals(solana.Token2022ProgramID) {
		t.Fatalf("token-2022: %v %v", rt, err)
	}
	rt, err = loadAndCheck(t, with("STIPEND_REDIS_URL", "redis://127.0.0.1:7000?addr=127.0.0.1:7001", "STIPEND_REDIS_CLUSTER", "true",
		"STIPEND_PUBLIC_URL", "https://pay.example.com/", "STIPEND_ADMIN_TOKEN_SHA256", strings.Repeat("0a", 32)))
	if err != nil || rt.RedisCluster == nil || len(rt.RedisCluster.Addrs) != 2 || rt.Redis != nil ||
		rt.PublicURL != "https://pay.example.com" || rt.AdminToken == nil {
		t.Fatalf("cluster config: %+v %v", rt, err)
	}

	cases := []struct {
		name string
		env  map[string]string
		key  string // the setting the error must name
	}{
		{"no master key", with("STIPEND_MASTER_KEYS", ""), "master_keys"},
		{"master key not base64", with("STIPEND_MASTER_KEYS", "k1:not base64!"), "master_keys"},
		{"master key short", with("STIPEND_MASTER_KEYS", "k1:AAAA"), "master_keys"},
		{"master key no kid", with("STIPEND_MASTER_KEYS", "AAAA"), "master_keys"},
		{"two keys, no current", with("STIPEND_MASTER_KEYS", mk+","+masterKey(t, "k2")), "master_key_current"},
		{"unknown current", with("STIPEND_MASTER_KEY_CURRENT", "k9"), "master_key_current"},
		{"no rpc", with("STIPEND_RPC_URL", ""), "rpc_url"},
		{"rpc not url", with("STIPEND_RPC_URL", "localhost:8899"), "rpc_url"},
		{"no mint", with("STIPEND_MINT", ""), "mint"},
		{"mint not base58", with("STIPEND_MINT", "0OIl"), "mint"},
		{"listen", with("STIPEND_LISTEN", "8080"), "listen"},
		{"public url", with("STIPEND_PUBLIC_URL", "pay.example.com"), "public_url"},
		{"redis url", with("STIPEND_REDIS_URL", "http://127.0.0.1:6379"), "redis_url"},
		{"cluster without url", with("STIPEND_REDIS_CLUSTER", "true"), "redis_cluster"},
		{"redis prefix", with("STIPEND_REDIS_PREFIX", "a{b}"), "redis_prefix"},
		{"commitment", with("STIPEND_COMMITMENT", "final"), "commitment"},
		{"decimals", with("STIPEND_DECIMALS", "40"), "decimals"},
		{"decimals not a number", with("STIPEND_DECIMALS", "six"), "decimals"},
		{"token program", with("STIPEND_TOKEN_PROGRAM", "token-2023"), "token_program"},
		{"cluster", with("STIPEND_CLUSTER", "mainnet"), "cluster"},
		{"fee payer", with("STIPEND_FEE_PAYER", "not-a-key"), "fee_payer"},
		{"api key entry", with("STIPEND_API_KEYS", "agentonly"), "api_keys"},
		{"api key hash", with("STIPEND_API_KEYS", "bot:abc"), "api_keys"},
		{"api key twice", with("STIPEND_API_KEYS", "a:"+strings.Repeat("ab", 32)+",b:"+strings.Repeat("ab", 32)), "api_keys"},
		{"admin hash", with("STIPEND_ADMIN_TOKEN_SHA256", "plain-token"), "admin_token_sha256"},
		{"stdio agent", with("STIPEND_STDIO_AGENT_ID", "has space"), "stdio_agent_id"},
		{"approval ttl", with("STIPEND_APPROVAL_TTL", "5s"), "approval_ttl"},
		{"approval ttl not a duration", with("STIPEND_APPROVAL_TTL", "30"), "approval_ttl"},
		{"max expiry", with("STIPEND_MAX_EXPIRY", "1m"), "max_expiry"},
		{"risk", with("STIPEND_RISK_THRESHOLD", "101"), "risk_threshold"},
		{"sweep", with("STIPEND_SWEEP_INTERVAL", "0s"), "sweep_interval"},
		{"pay wait", with("STIPEND_PAY_WAIT", "0s"), "pay_wait"},
		{"reconcile", with("STIPEND_RECONCILE_INTERVAL", "1s"), "reconcile_interval"},
		{"recovery grace", with("STIPEND_RECOVERY_GRACE", "2h"), "recovery_grace"},
		{"secret grace", with("STIPEND_SECRET_GRACE", "-1h"), "secret_grace"},
		{"shutdown", with("STIPEND_SHUTDOWN_TIMEOUT", "1h"), "shutdown_timeout"},
		{"log level", with("STIPEND_LOG_LEVEL", "loud"), "log_level"},
		{"log format", with("STIPEND_LOG_FORMAT", "xml"), "log_format"},
		{"allow host", with("STIPEND_ALLOW_NON_LOCAL_HOST", "maybe"), "allow_non_local_host"},
		{"wildcard origin", with("STIPEND_ALLOWED_ORIGINS", "*"), "allowed_origins"},
		{"origin with a path", with("STIPEND_ALLOWED_ORIGINS", "https://app.example/x"), "allowed_origins"},
		{"origin without scheme", with("STIPEND_ALLOWED_ORIGINS", "app.example"), "allowed_origins"},
		{"no streams", with("STIPEND_MAX_STREAMS_PER_AGENT", "0"), "max_streams_per_agent"},
		{"session ttl", with("STIPEND_MCP_SESSION_TTL", "1s"), "mcp_session_ttl"},
		{"x402 network", with("STIPEND_X402_NETWORK", "solana:localnet"), "x402_network"},
		{"x402 network not solana", with("STIPEND_X402_NETWORK", "eip155:8453"), "x402_network"},
		{"x402 allow private", with("STIPEND_X402_ALLOW_PRIVATE", "maybe"), "x402_allow_private"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadAndCheck(t, tc.env)
			t.Log(err)
			if err == nil || !strings.HasPrefix(err.Error(), "config: "+tc.key+" ") && !strings.HasPrefix(err.Error(), "config: "+tc.key+":") {
				t.Fatalf("error %v; want it to name %s", err, tc.key)
			}
			if strings.Contains(err.Error(), strings.SplitN(mk, ":", 2)[1]) {
				t.Fatalf("error leaks the master key: %v", err)
			}
		})
	}

	// Bad files and webhooks.
	for _, tc := range []struct{ name, body, key string }{
		{"unknown key", "listen: 127.0.0.1:1\nlisten_addr: x\n", "file"},
		{"bad yaml", "listen: [\n", "file"},
		{"bad duration", "approval_ttl: soon\n", "file"},
		{"webhook no name", "webhooks:\n  - url: https://x.example\n    secret: s\n", "webhooks"},
		{"webhook bad url", "webhooks:\n  - name: a\n    url: ftp://x\n    secret: s\n", "webhooks"},
		{"webhook no secret", "webhooks:\n  - name: a\n    url: https://x.example\n", "webhooks"},
		{"webhook timeout", "webhooks:\n  - {name: a, url: 'https://x.example', secret: s, timeout: 1h}\n", "webhooks"},
		{"webhook window", "webhooks:\n  - {name: a, url: 'https://x.example', secret: s, retry_window: 10s}\n", "webhooks"},
		{"webhook slots", "webhooks:\n  - {name: a, url: 'https://x.example', secret: s, slots: -1}\n", "webhooks"},
		{"webhook twice", "webhooks:\n  - {name: a, url: 'https://x.example', secret: s}\n  - {name: a, url: 'https://y.example', secret: s}\n", "webhooks"},
	} {
		t.Run("file/"+tc.name, func(t *testing.T) {
			_, err := loadAndCheck(t, with("STIPEND_CONFIG", writeFile(t, tc.body)))
			if err == nil || !strings.HasPrefix(err.Error(), "config: "+tc.key) {
				t.Fatalf("error %v; want it to name %s", err, tc.key)
			}
		})
	}
	if _, err := loadAndCheck(t, with("STIPEND_CONFIG", "/does/not/exist.yaml")); err == nil || !strings.HasPrefix(err.Error(), "config: file") {
		t.Fatalf("missing file: %v", err)
	}
}

func loadAndCheck(t *testing.T, env map[string]string) (*stipend.Runtime, error) {
	t.Helper()
	c, err := loadWith(t, env)
	if err != nil {
		return nil, err
	}
	return c.Check()
}

// TestExampleConfig: the example file holds only known keys and, with a real
// master key, is a valid configuration.
func TestExampleConfig(t *testing.T) {
	rt, err := loadAndCheck(t, map[string]string{"STIPEND_CONFIG": "../../configs/stipend.example.yaml",
		"STIPEND_MASTER_KEYS": masterKey(t, "k1")})
	if err != nil {
		t.Fatal(err)
	}
	if rt.PublicURL != "https://pay.example.com" || rt.Redis == nil || rt.StdioAgentID != "claude-desktop" || len(rt.APIKeys) != 1 {
		t.Fatalf("%+v", rt)
	}
}
