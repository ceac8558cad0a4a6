package service

import (
	"encoding/json"
	"testing"
)

// TestResultJSON: a link's result is JSON as stored; a reason stored as plain
// text (a link cancelled by an older server) becomes {"reason": …}.
func TestResultJSON(t *testing.T) {
	for _, c := range []struct{ stored, want string }{
		{"", ""},
		{`{"status":"active"}`, `{"status":"active"}`},
		{`{"status":"cancelled","reason":"not now"}`, `{"status":"cancelled","reason":"not now"}`},
		{"rejected by the owner", `{"reason":"rejected by the owner"}`},
		{`"quoted" <b>`, `{"reason":"\"quoted\" \u003cb\u003e"}`},
	} {
		if got := string(resultJSON(json.RawMessage(c.stored))); got != c.want {
			t.Errorf("resultJSON(%q) = %s, want %s", c.stored, got, c.want)
		}
	}
}
