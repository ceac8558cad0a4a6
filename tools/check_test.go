package tools_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/tools"
)

// TestGuardStdio: on stdio too, an unknown (or another agent's) resource
// answers -32002 and a prompt without its required argument -32602; every
// other message reaches the server.
func TestGuardStdio(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	k := st.Fund(t, "agent-b", st.NewUser(t, 100_000_000), 10_000_000, "")
	in := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"stipend://session-keys/sk_nope"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"stipend://session-keys/` + k.SessionKeyID + `"}}`,
		`{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"request_funding","arguments":{"budget":"5"}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"name":"request_funding","arguments":{"user_wallet":"x"}}}`,
	}, "\n") + "\n"
	var out bytes.Buffer
	r, w := tools.GuardStdio(ctx, st.Service, "agent-a", strings.NewReader(in), &out)
	passed, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	_ = w
	if got := strings.Count(string(passed), "\n"); got != 2 || !strings.Contains(string(passed), `"id":4`) || !strings.Contains(string(passed), `"id":5`) {
		t.Fatalf("passed to the server: %s", passed)
	}
	want := map[float64]int{1: -32002, 2: -32002, 3: -32602}
	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		var m struct {
			ID    float64 `json:"id"`
			Error struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || want[m.ID] != m.Error.Code {
			t.Errorf("answer %s", sc.Bytes())
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d answers: %s", n, out.String())
	}
}

// TestGuardStdioCancelled: on stdio, the response to a cancelled request is not sent.
func TestGuardStdioCancelled(t *testing.T) {
	var out bytes.Buffer
	r, w := tools.GuardStdio(ctx, nil, "agent-a", strings.NewReader(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}`+"\n"), &out)
	if _, err := io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`{"jsonrpc":"2.0","id":7,"result":{}}`, `{"jsonrpc":"2.0","id":8,"result":{}}`, `{"jsonrpc":"2.0","id":7,"result":{"again":true}}`} {
		_, _ = w.Write([]byte(line + "\n"))
	}
	if got := out.String(); strings.Contains(got, `"id":7,"result":{}`) || !strings.Contains(got, `"id":8`) || !strings.Contains(got, `"again"`) {
		t.Fatalf("written: %s", got)
	}
}
