package tools_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stipend/stipend/prompts"
	"github.com/stipend/stipend/tools"
)

// TestToolSnapshots keeps the tool surface under review: the definition of
// every tool and prompt is compared with its snapshot in testdata/.
// UPDATE_TOOLSNAPS=1 rewrites the snapshots.
func TestToolSnapshots(t *testing.T) {
	update := os.Getenv("UPDATE_TOOLSNAPS") == "1"
	check := func(name string, v any) {
		t.Helper()
		got, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		path := filepath.Join("testdata", name+".snap.json")
		if update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: no snapshot (run with UPDATE_TOOLSNAPS=1): %v", name, err)
		}
		if string(want) != string(got) {
			t.Errorf("%s changed; review and run with UPDATE_TOOLSNAPS=1:\n--- want\n%s\n--- got\n%s", name, want, got)
		}
	}
	names := map[string]bool{}
	for _, tl := range tools.Tools(nil) {
		names[tl.Def.Name] = true
		check("tool_"+tl.Def.Name, tl.Def)
	}
	for _, want := range []string{"create_session_key", "can_afford", "pay", "status", "top_up_request", "list_session_keys", "revoke_session_key", "fetch_paid"} {
		if !names[want] {
			t.Errorf("tool %s is missing", want)
		}
	}
	for _, p := range prompts.All() {
		check("prompt_"+p.Def.Name, p.Def)
	}
}
