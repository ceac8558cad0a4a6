package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// adminClient calls a running server's admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

// apiError is an error answer of the admin API.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param"`
	Extra   json.RawMessage
}

func (e *apiError) Error() string {
	msg := e.Code + ": " + e.Message
	if e.Param != "" {
		msg += " (" + e.Param + ")"
	}
	return msg
}

// clientFlags are the flags every operator command takes.
type clientFlags struct {
	server, token *string
	json          *bool
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		server: fs.String("server", "", "admin API of a running stipend (env STIPEND_SERVER; default http://127.0.0.1:8080)"),
		token:  fs.String("admin-token", "", "admin token (env STIPEND_ADMIN_TOKEN)"),
		json:   fs.Bool("json", false, "print the API's JSON"),
	}
}

func (cf clientFlags) client(e env) (*adminClient, error) {
	base := *cf.server
	if base == "" {
		base = e.getenv("STIPEND_SERVER")
	}
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErr("--server %q is not an http(s) URL", base)
	}
	tok := *cf.token
	if tok == "" {
		tok = e.getenv("STIPEND_ADMIN_TOKEN")
	}
	if tok == "" {
		return nil, usageErr("the admin token is required: --admin-token or STIPEND_ADMIN_TOKEN")
	}
	return &adminClient{base: strings.TrimRight(base, "/"), token: tok, http: &http.Client{Timeout: 3 * time.Minute}}, nil
}

// do sends a request and decodes a 2xx answer into out (raw JSON kept in *json.RawMessage).
func (c *adminClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach stipend at %s: %w", c.base, err)
	}
	defer func() { _ = resp.Body.Close() }() // the body is read (or dropped) already: its close has nothing to tell
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error *apiError `json:"error"`
		}
		if json.Unmarshal(raw, &eb) == nil && eb.Error != nil {
			eb.Error.Status, eb.Error.Extra = resp.StatusCode, raw
			return eb.Error
		}
		return &apiError{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Message: strings.TrimSpace(string(raw))}
	}
	if out == nil {
		return nil
	}
	if rm, ok := out.(*json.RawMessage); ok {
		*rm = raw
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// finish reports a command's outcome and returns its exit code.
func finish(e env, name string, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if errors.Is(err, errUsage) {
		fmt.Fprintf(e.stderr, "stipend %s: %s\n", name, strings.TrimPrefix(err.Error(), "usage: "))
		return exitUsage
	}
	var ae *apiError
	if errors.As(err, &ae) {
		fmt.Fprintf(e.stderr, "stipend %s: %s\n", name, ae.Error())
		return exitFail
	}
	fmt.Fprintf(e.stderr, "stipend %s: %v\n", name, err)
	return exitFail
}

// printJSON writes raw JSON indented.
func printJSON(w io.Writer, raw []byte) {
	var buf bytes.Buffer
	// The operator's terminal: a write that fails there has no one left to tell.
	if json.Indent(&buf, raw, "", "  ") != nil {
		_, _ = w.Write(raw)
		return
	}
	buf.WriteByte('\n')
	_, _ = w.Write(buf.Bytes())
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer) *table { return &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)} }

func (t *table) row(cols ...any) {
	for i, c := range cols {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		s := fmt.Sprint(c)
		if s == "" {
			s = "-"
		}
		fmt.Fprint(t.tw, s)
	}
	fmt.Fprintln(t.tw)
}

// kv writes label/value rows, skipping empty values.
func (t *table) kv(label string, value any) {
	s := fmt.Sprint(value)
	if s == "" || s == "<nil>" {
		return
	}
	fmt.Fprintf(t.tw, "%s:\t%s\n", label, s)
}

func (t *table) flush() { _ = t.tw.Flush() }

// command is one operator subcommand.
type command struct {
	name  string
	usage string
	// run parses its flags (registered on fs before parse) and calls the API.
	setup func(fs *flag.FlagSet) func(ctx context.Context, c *adminClient, pos []string, e env, asJSON bool) error
}

// dispatch runs the subcommand named by args[0] of a command group.
func dispatch(ctx context.Context, group string, cmds []command, args []string, e env) int {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage:\n")
		for _, c := range cmds {
			fmt.Fprintf(w, "  stipend %s %s\n", group, c.usage)
		}
		fmt.Fprintf(w, "Common flags: --server URL (STIPEND_SERVER), --admin-token T (STIPEND_ADMIN_TOKEN), --json\n")
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			usage(e.stderr)
			return exitUsage
		}
		usage(e.stdout)
		return exitOK
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		name := group + " " + c.name
		fs := newFlagSet(name, e)
		cf := addClientFlags(fs)
		fn := c.setup(fs)
		fs.Usage = func() {
			fmt.Fprintf(e.stderr, "Usage: stipend %s %s\n\n", group, c.usage)
			fs.PrintDefaults()
		}
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitUsage
		}
		cl, err := cf.client(e)
		if err != nil {
			return finish(e, name, err)
		}
		return finish(e, name, fn(ctx, cl, pos, e, *cf.json))
	}
	fmt.Fprintf(e.stderr, "stipend %s: unknown command %q\n", group, args[0])
	usage(e.stderr)
	return exitUsage
}

// one returns the only positional argument, checking its prefix.
func one(pos []string, what, prefix string) (string, error) {
	if len(pos) != 1 {
		return "", usageErr("want exactly one %s (%s…)", what, prefix)
	}
	if !strings.HasPrefix(pos[0], prefix) {
		return "", usageErr("%q is not a %s (%s…)", pos[0], what, prefix)
	}
	return pos[0], nil
}

// amountArg turns a --flag amount into JSON: a string, so no float is involved.
func amountArg(v string) json.RawMessage {
	if v == "" {
		return nil
	}
	b, _ := json.Marshal(v)
	return b
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string { return strings.Join(*m, ",") }

// Set adds a value (commas also separate values).
func (m *multi) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*m = append(*m, p)
		}
	}
	return nil
}
