package policy

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Every ledger rule is a Lua script; this file loads and runs them.

//go:embed scripts/*.lua
var scriptFS embed.FS

// scripts are compiled once: lib.lua followed by each script's own body.
var scripts = func() map[string]*redis.Script {
	lib, err := scriptFS.ReadFile("scripts/lib.lua")
	if err != nil {
		panic(err)
	}
	entries, err := scriptFS.ReadDir("scripts")
	if err != nil {
		panic(err)
	}
	out := map[string]*redis.Script{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".lua")
		if name == "lib" {
			continue
		}
		body, err := scriptFS.ReadFile("scripts/" + e.Name())
		if err != nil {
			panic(err)
		}
		out[name] = redis.NewScript(string(lib) + "\n" + string(body))
	}
	return out
}()

type scriptReply struct {
	OK    json.RawMessage `json:"ok"`
	Error *Error          `json:"error"`
}

// run executes one script for a user_wallet: one round trip (EVALSHA, or EVAL
// when Redis does not know the script yet) and decodes its reply.
func (s *Store) run(ctx context.Context, name, wallet, routeKey string, args ...any) (json.RawMessage, error) {
	argv := append([]any{s.prefixOf(wallet), s.skew}, args...)
	keys := []string{s.prefixOf(wallet) + routeKey}
	if s.events {
		keys = append(keys, s.prefixOf(wallet)+"events") // KEYS[2]: where emit appends (lib.lua)
	}
	res, err := scripts[name].Run(ctx, s.rdb, keys, argv...).Text()
	if err != nil {
		return nil, fmt.Errorf("policy: script %s: %w", name, err)
	}
	var rep scriptReply
	dec := json.NewDecoder(strings.NewReader(res))
	dec.UseNumber()
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("policy: script %s: bad reply: %w", name, err)
	}
	if rep.Error != nil {
		return nil, rep.Error
	}
	return rep.OK, nil
}

// runReply runs one script and decodes its "ok" answer straight into R, the
// script's typed reply (replies.go): the one decode path of the key, session,
// approval and sweep scripts.
func runReply[R any](ctx context.Context, s *Store, name, wallet, routeKey string, args ...any) (*R, error) {
	raw, err := s.run(ctx, name, wallet, routeKey, args...)
	if err != nil {
		return nil, err
	}
	var out R
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("policy: script %s: bad reply: %w", name, err)
	}
	return &out, nil
}
