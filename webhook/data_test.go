package webhook_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	gschema "github.com/google/jsonschema-go/jsonschema"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/webhook"
)

// TestEventSchemasSnapshot: each event type's data object has a JSON Schema,
// snapshotted under testdata/ (UPDATE_EVENTSNAPS=1 rewrites them).
func TestEventSchemasSnapshot(t *testing.T) {
	update := os.Getenv("UPDATE_EVENTSNAPS") == "1"
	for event := range webhook.EventTypes {
		s, _ := webhook.Schema(event)
		got, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "event_"+event+".schema.json")
		if update {
			if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: no snapshot (run with UPDATE_EVENTSNAPS=1): %v", event, err)
		}
		if string(want) != string(got)+"\n" {
			t.Errorf("%s: the schema changed; review and run with UPDATE_EVENTSNAPS=1:\n%s", event, got)
		}
	}
}

var (
	decimalRE = regexp.MustCompile(`^[0-9]+\.[0-9]{2,}$`)
	amountKey = map[string]bool{"max_amount": true, "new_max_amount": true, "amount": true, "remaining_amount": true,
		"max_per_transaction": true, "max_per_day": true, "max_per_week": true, "max_per_month": true, "require_approval_above": true}
)

// TestEventDataFromLedger: the events the Lua scripts record, on a real
// Redis, become data objects in the API's dialect (decimal strings, RFC
// 3339, the views' field names) that validate against their schema.
func TestEventDataFromLedger(t *testing.T) {
	s := policy.New(testenv.Redis(t), policy.Options{})
	const usdc = 1_000_000
	w := wallet()
	now, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	sess, err := s.CreateSession(ctx, policy.NewSession{AgentID: "bot", UserWallet: w, Limits: policy.Limits{PerDay: 100 * usdc}, ExpiresAt: now.Add(time.Hour)})
	must(sess, err)
	k, err := s.CreateKey(ctx, policy.NewKey{AgentID: "bot", UserWallet: w, Token: "USDC", Decimals: 6, Address: wallet(),
		PKPPublicKey: wallet(), SealedSecret: "sealed", MaxAmount: 100 * usdc, ExpiresAt: now.Add(time.Hour)})
	must(k, err)
	must(s.Activate(ctx, k.ID, "fundsig", 100*usdc))
	must(s.Link(ctx, "bot", k.ID, sess.ID))
	must(s.TopUp(ctx, k.ID, 50*usdc, "topsig"))
	must(s.SetLimitsBy(ctx, policy.ByOperatorForced, sess.ID, policy.Limits{PerTransaction: 25 * usdc, PerDay: 200 * usdc}, 10*usdc))
	must(s.UnlinkBy(ctx, policy.ByOwner, k.ID))
	d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: "bot", Amount: 29_990_000,
		Recipient: wallet(), Signature: "paysig"})
	must(d, err)
	must(s.Commit(ctx, w, d.Payment.ID))
	must(s.Revoke(ctx, "bot", k.ID, "done"))

	msgs, err := s.Redis().XRange(ctx, s.Events().Stream(w), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, m := range msgs {
		event, raw := m.Values["event"].(string), m.Values["data"].(string)
		seen = append(seen, event)
		v, err := webhook.View(event, []byte(raw), 6)
		if err != nil {
			t.Fatalf("%s: %v (%s)", event, err, raw)
		}
		sc, ok := webhook.Schema(event)
		if !ok {
			t.Fatalf("%s: the ledger records an event type without a data object", event)
		}
		sj, _ := json.Marshal(sc)
		var gs gschema.Schema
		if err := json.Unmarshal(sj, &gs); err != nil {
			t.Fatal(err)
		}
		rs, err := gs.Resolve(nil)
		if err != nil {
			t.Fatalf("%s: schema: %v", event, err)
		}
		var inst map[string]any
		if err := json.Unmarshal(v, &inst); err != nil {
			t.Fatal(err)
		}
		if err := rs.Validate(inst); err != nil {
			t.Errorf("%s: %s does not validate: %v", event, v, err)
		}
		for name, val := range inst {
			str, _ := val.(string)
			if amountKey[name] && !decimalRE.MatchString(str) {
				t.Errorf("%s: %s = %v is not a decimal string", event, name, val)
			}
		}
		if _, err := time.Parse(time.RFC3339, inst["occurred_at"].(string)); err != nil {
			t.Errorf("%s: occurred_at: %v", event, err)
		}
		switch event {
		case "session_key.topped_up":
			if inst["amount"] != "50.00" || inst["new_max_amount"] != "150.00" || inst["transaction_signature"] != "topsig" {
				t.Errorf("topped_up: %s", v)
			}
		case "session.limits_changed":
			if inst["max_per_transaction"] != "25.00" || inst["require_approval_above"] != "10.00" || inst["by"] != "operator_forced" || inst["max_per_week"] != nil {
				t.Errorf("limits_changed: %s", v)
			}
		case "payment.confirmed":
			if inst["amount"] != "29.99" {
				t.Errorf("payment.confirmed: %s", v)
			}
		case "session_key.created":
			if _, err := time.Parse(time.RFC3339, inst["expires_at"].(string)); err != nil {
				t.Errorf("created: expires_at %v", inst["expires_at"])
			}
		}
	}
	for _, want := range []string{"session.created", "session_key.created", "session_key.activated", "session_key.linked",
		"session_key.topped_up", "session.limits_changed", "session_key.unlinked", "payment.confirmed", "session_key.revoked"} {
		if !slices.Contains(seen, want) {
			t.Errorf("no %s in %v", want, seen)
		}
	}
	if _, err := webhook.View("session_key.created", []byte(`{"session_key_id":"sk_1","max_amount":"12.5"}`), 6); err == nil {
		t.Error("an amount that is not base units passed")
	}
	if _, err := webhook.View("session_key.created", []byte(`{"session_key_id":"sk_1","surprise":"x"}`), 6); err == nil {
		t.Error("a field the data object lacks passed")
	}
}
