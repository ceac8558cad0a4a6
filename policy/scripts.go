package policy

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Every ledger rule is a Lua script; this file loads and runs them.

//go:embed scripts/*.lua
var scriptFS embed.FS

// scripts are every script of the ledger, built once from the same text in
// two forms (see lib.lua): lib, one Redis function library, and evals, one
// EVAL script each for a server without functions.
var scripts = func() *scriptSet {
	set, err := buildScripts(scriptFS)
	if err != nil {
		panic(err)
	}
	return set
}()

// scriptSet is the ledger's scripts in both forms.
type scriptSet struct {
	name  string                   // the function library's name
	lib   string                   // the function library's source, for FUNCTION LOAD
	fn    map[string]string        // script name → its function's name in lib
	evals map[string]*redis.Script // script name → the same script for EVAL
}

// buildScripts reads lib.lua and the scripts beside it.
func buildScripts(fsys embed.FS) (*scriptSet, error) {
	lib, err := fsys.ReadFile("scripts/lib.lua")
	if err != nil {
		return nil, err
	}
	sections, err := parseSections(string(lib))
	if err != nil {
		return nil, err
	}
	entries, err := fsys.ReadDir("scripts")
	if err != nil {
		return nil, err
	}
	set := &scriptSet{fn: map[string]string{}, evals: map[string]*redis.Script{}}
	var all strings.Builder
	for _, sec := range sections {
		all.WriteString(sec.text)
		all.WriteString("\n")
	}
	type script struct{ name, body string }
	var list []script
	h := sha1.New()
	h.Write([]byte(all.String()))
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".lua")
		if name == "lib" {
			continue
		}
		body, err := fsys.ReadFile("scripts/" + e.Name())
		if err != nil {
			return nil, err
		}
		src, err := assemble(sections, string(body))
		if err != nil {
			return nil, fmt.Errorf("policy: script %s: %w", name, err)
		}
		set.evals[name] = redis.NewScript(src)
		list = append(list, script{name, string(body)})
		fmt.Fprintf(h, "\x00%s\x00%s", name, body)
	}
	// The library's name carries a hash of its text: processes of two
	// versions sharing one Redis each call their own functions.
	libName := "stipend_" + hex.EncodeToString(h.Sum(nil)[:6])
	var out strings.Builder
	out.WriteString("#!lua name=" + libName + "\n")
	out.WriteString(all.String())
	for _, sc := range list {
		set.fn[sc.name] = libName + "_" + sc.name
		// The body runs inside a function: begin() gives it its call's
		// KEYS, ARGV and clock.
		fmt.Fprintf(&out, "redis.register_function('%s', function(keys, args)\nbegin(keys, args)\n%s\nend)\n",
			set.fn[sc.name], sc.body)
	}
	set.name, set.lib = libName, out.String()
	return set, nil
}

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
	// lib.lua's core declares KEYS and ARGV as its own locals (a function
	// gets them as arguments): the globals of EVAL are taken first.
	b.WriteString("local KEYS_, ARGV_ = KEYS, ARGV\n")
	for _, sec := range sections {
		if in[sec.name] {
			b.WriteString(sec.text)
			b.WriteString("\n")
		}
	}
	b.WriteString("local function main()\n")
	b.WriteString(body)
	b.WriteString("\nend\nbegin(KEYS_, ARGV_)\nreturn main()\n")
	return b.String(), nil
}

type scriptReply struct {
	OK    json.RawMessage `json:"ok"`
	Error *Error          `json:"error"`
}

// eval executes one script for a user_wallet in one round trip: FCALL of its
// function in the library, or EVALSHA (EVAL when Redis does not know the
// script yet) on a server without functions (the embedded miniredis, Redis
// before 7, or an account that may not load functions). A server without the
// library (restarted, flushed, a new cluster node) is given it, and the call,
// which did not run, is made again. Its reply is as go-redis gives it.
func (s *Store) eval(ctx context.Context, name, wallet, routeKey string, args ...any) (any, error) {
	argv := append([]any{s.prefixOf(wallet), s.skew}, args...)
	keys := []string{s.prefixOf(wallet) + routeKey}
	if s.events {
		keys = append(keys, s.prefixOf(wallet)+"events") // KEYS[2]: where emit appends (lib.lua)
	}
	if !s.noFunctions.Load() {
		res, err := s.rdb.FCall(ctx, scripts.fn[name], keys, argv...).Result()
		if isMissingFunction(err) {
			if err = s.loadLibrary(ctx); err == nil {
				res, err = s.rdb.FCall(ctx, scripts.fn[name], keys, argv...).Result()
			}
		}
		if !isWithoutFunctions(err) {
			if err != nil {
				return nil, fmt.Errorf("policy: script %s: %w", name, err)
			}
			return res, nil
		}
		s.noFunctions.Store(true)
		slog.Info("policy: this Redis runs no functions; the ledger's scripts run as EVAL scripts", "err", err)
	}
	res, err := scripts.evals[name].Run(ctx, s.rdb, keys, argv...).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: script %s: %w", name, err)
	}
	return res, nil
}

// loadLibrary loads the ledger's function library into every primary of the
// store's Redis. A library of that name already there (another process loaded
// it) is the same text: its name is its hash.
func (s *Store) loadLibrary(ctx context.Context) error {
	load := func(ctx context.Context, c redis.Cmdable) error {
		err := c.FunctionLoad(ctx, scripts.lib).Err()
		if err != nil && strings.Contains(err.Error(), "already exists") {
			return nil
		}
		return err
	}
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return load(ctx, n) })
	case *redis.Ring:
		return c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return load(ctx, n) })
	default:
		return load(ctx, s.rdb)
	}
}

// isMissingFunction tells Redis's answer to an FCALL of a function it does not have.
func isMissingFunction(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Function not found")
}

// isWithoutFunctions tells the answers of a server that runs no functions for
// this client: it does not know FCALL or FUNCTION, or the account may not use them.
func isWithoutFunctions(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "ERR unknown command") || strings.HasPrefix(msg, "NOPERM")
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
