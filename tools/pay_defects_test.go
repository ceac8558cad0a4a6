package tools_test

import (
	"strings"
	"testing"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/tools"
)

// TestPayReplayDeviceAndGasless: a replayed pay names what is left on the
// key (it read "…).  USDC left on the key." before); auto_detect_gasless
// reports whether the fee payer paid (it did nothing before); a key bound to
// a device pays only with that device's fingerprint, refused with
// device_mismatch otherwise.
func TestPayReplayDeviceAndGasless(t *testing.T) {
	for _, gasless := range []bool{false, true} {
		st := testenv.NewStack(t, testenv.StackOptions{FeePayer: gasless})
		c := connect(t, tools.NewServer(st.Service, tools.Options{DefaultAgent: "agent-a"}), nil)
		user := st.NewUser(t, 100_000_000)
		res, m := call(t, c, "create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "100",
			"device_fingerprint": "fp_7d1c2e9a"})
		if res.IsError {
			t.Fatal(text(res))
		}
		id := m["session_key_id"].(string)
		approve(t, st, user, m["approval_url"].(string), m["approval_transaction"].(string))
		if _, m := call(t, c, "status", map[string]any{"session_key_id": id}); m["device_bound"] != true {
			t.Fatalf("status of a bound key: %v", m)
		}
		shop := newAddress(t)
		args := map[string]any{"session_key_id": id, "recipient": shop, "amount": "29.99", "idempotency_key": "o-1"}
		res, m = call(t, c, "pay", args)
		if !res.IsError || errCode(m) != "device_mismatch" {
			t.Fatalf("pay without the device fingerprint: %s %v", text(res), m)
		}
		args["device_fingerprint"] = "fp_other"
		if res, m = call(t, c, "pay", args); !res.IsError || errCode(m) != "device_mismatch" {
			t.Fatalf("pay with another device fingerprint: %s %v", text(res), m)
		}
		args["device_fingerprint"] = "fp_7d1c2e9a"
		res, m = call(t, c, "pay", args)
		if res.IsError || m["status"] != "confirmed" || m["gasless"] != nil {
			t.Fatalf("pay: %s %v", text(res), m)
		}
		res, m = call(t, c, "pay", args)
		if res.IsError || m["duplicate"] != true || m["remaining_amount"] != "70.01" ||
			!strings.Contains(text(res), "70.01 USDC left on the key") || strings.Contains(text(res), ".  ") {
			t.Fatalf("replayed pay: %q %v", text(res), m)
		}
		args["auto_detect_gasless"] = true
		res, m = call(t, c, "pay", args)
		if res.IsError || m["gasless"] != gasless {
			t.Fatalf("auto_detect_gasless with fee payer %v: %s %v", gasless, text(res), m)
		}
	}
}
