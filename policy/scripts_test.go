package policy

import (
	"regexp"
	"strings"
	"testing"
)

var (
	luaDefs    = regexp.MustCompile(`(?m)^local (?:function )?([A-Za-z_][\w, ]*?)\s*(?:=|\()`)
	luaIdent   = regexp.MustCompile(`[A-Za-z_]\w*`)
	luaComment = regexp.MustCompile(`--[^\n]*`)
	luaString  = regexp.MustCompile(`'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"`)
)

// luaNames returns the identifiers of Lua code outside strings and comments.
func luaNames(code string) map[string]bool {
	code = luaString.ReplaceAllString(code, "''")
	code = luaComment.ReplaceAllString(code, "")
	out := map[string]bool{}
	for _, id := range luaIdent.FindAllString(code, -1) {
		out[id] = true
	}
	return out
}

// TestScriptSections: every script names the lib.lua sections it uses, and
// neither a script nor a section uses a name that its sections leave out (a
// missing section would otherwise surface only when that line runs).
func TestScriptSections(t *testing.T) {
	lib, err := scriptFS.ReadFile("scripts/lib.lua")
	if err != nil {
		t.Fatal(err)
	}
	sections, err := parseSections(string(lib))
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{} // a name lib.lua defines → its section
	for _, sec := range sections {
		for _, m := range luaDefs.FindAllStringSubmatch(sec.text, -1) {
			for _, n := range strings.Split(m[1], ",") {
				owner[strings.TrimSpace(n)] = sec.name
			}
		}
	}
	if len(owner) < 20 {
		t.Fatalf("found only %d names in lib.lua: %v", len(owner), owner)
	}
	check := func(what, code string, in map[string]bool) {
		for n := range luaNames(code) {
			if sec, ok := owner[n]; ok && !in[sec] {
				t.Errorf("%s uses %s of section %s, which it does not include", what, n, sec)
			}
		}
	}
	for _, sec := range sections { // a section uses only itself and what it needs
		in := map[string]bool{sec.name: true}
		for _, n := range sec.needs {
			in[n] = true
		}
		for changed := true; changed; {
			changed = false
			for _, s := range sections {
				if in[s.name] {
					for _, n := range s.needs {
						if !in[n] {
							in[n], changed = true, true
						}
					}
				}
			}
		}
		check("section "+sec.name, sec.text, in)
	}
	entries, err := scriptFS.ReadDir("scripts")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "lib.lua" {
			continue
		}
		body, err := scriptFS.ReadFile("scripts/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		src, err := assemble(sections, string(body))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		in := map[string]bool{}
		for _, sec := range sections {
			if strings.Contains(src, sec.text) {
				in[sec.name] = true
			}
		}
		check(e.Name(), string(body), in)
	}
}
