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

// scripts are compiled once: each script's body after the sections of
// lib.lua it names in its "--- uses:" line (and the sections those need).
var scripts = func() map[string]*redis.Script {
	lib, err := scriptFS.ReadFile("scripts/lib.lua")
	if err != nil {
		panic(err)
	}
	sections, err := parseSections(string(lib))
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
		src, err := assemble(sections, string(body))
		if err != nil {
			panic(fmt.Sprintf("policy: script %s: %v", name, err))
		}
		out[name] = redis.NewScript(src)
	}
	return out
}()

// libSection is one section of lib.lua: its text and the sections it needs.
type libSection struct {
	name  string
	needs []string
	text  string
}

// parseSections cuts lib.lua at its "--- section NAME (needs A B)" lines; the
// text before the first section is its header comment and is dropped.
func parseSections(lib string) ([]libSection, error) {
	var out []libSection
	known := map[string]bool{}
	for _, part := range strings.Split(lib, "\n--- section ")[1:] {
		head, text, _ := strings.Cut(part, "\n")
		name, needs, _ := strings.Cut(head, " ")
		sec := libSection{name: name, text: text}
		if needs != "" {
			list, ok := strings.CutPrefix(needs, "(needs ")
			list, ok2 := strings.CutSuffix(list, ")")
			if !ok || !ok2 {
				return nil, fmt.Errorf("policy: lib.lua: bad section line %q", head)
			}
			sec.needs = strings.Fields(list)
		}
		for _, n := range sec.needs {
			if !known[n] {
				return nil, fmt.Errorf("policy: lib.lua: section %s needs %s, which is not before it", name, n)
			}
		}
		known[name] = true
		out = append(out, sec)
	}
	return out, nil
}

// uses returns the sections named by a script's "--- uses:" line.
func uses(body string) ([]string, error) {
	for _, line := range strings.Split(body, "\n") {
		if list, ok := strings.CutPrefix(line, "--- uses:"); ok {
			return strings.Fields(list), nil
		}
	}
	return nil, fmt.Errorf("no \"--- uses:\" line")
}

// assemble puts in front of a script's body the sections it uses and those
// they need, in lib.lua's order.
func assemble(sections []libSection, body string) (string, error) {
	want, err := uses(body)
	if err != nil {
		return "", err
	}
	byName := map[string]libSection{}
	for _, sec := range sections {
		byName[sec.name] = sec
	}
	in := map[string]bool{}
	var add func(string) error
	add = func(name string) error {
		sec, ok := byName[name]
		if !ok {
			return fmt.Errorf("uses unknown section %q", name)
		}
		if in[name] {
			return nil
		}
		in[name] = true
		for _, n := range sec.needs {
			if err := add(n); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range want {
		if err := add(n); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	for _, sec := range sections {
		if in[sec.name] {
			b.WriteString(sec.text)
			b.WriteString("\n")
		}
	}
	b.WriteString(body)
	return b.String(), nil
}

type scriptReply struct {
	OK    json.RawMessage `json:"ok"`
	Error *Error          `json:"error"`
}

// eval executes one script for a user_wallet: one round trip (EVALSHA, or
// EVAL when Redis does not know the script yet), its reply as go-redis gives it.
func (s *Store) eval(ctx context.Context, name, wallet, routeKey string, args ...any) (any, error) {
	argv := append([]any{s.prefixOf(wallet), s.skew}, args...)
	keys := []string{s.prefixOf(wallet) + routeKey}
	if s.events {
		keys = append(keys, s.prefixOf(wallet)+"events") // KEYS[2]: where emit appends (lib.lua)
	}
	res, err := scripts[name].Run(ctx, s.rdb, keys, argv...).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: script %s: %w", name, err)
	}
	return res, nil
}

// run executes one script that answers JSON and decodes its reply.
func (s *Store) run(ctx context.Context, name, wallet, routeKey string, args ...any) (json.RawMessage, error) {
	res, err := s.eval(ctx, name, wallet, routeKey, args...)
	if err != nil {
		return nil, err
	}
	text, ok := res.(string)
	if !ok {
		return nil, fmt.Errorf("policy: script %s: reply is %T, not text", name, res)
	}
	return decodeReply(name, text)
}

// decodeReply decodes a script's JSON answer: what is under "ok", or the
// *Error under "error".
func decodeReply(name, text string) (json.RawMessage, error) {
	var rep scriptReply
	dec := json.NewDecoder(strings.NewReader(text))
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
