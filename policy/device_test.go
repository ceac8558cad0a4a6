package policy_test

import (
	"testing"
	"time"

	"github.com/stipend/stipend/policy"
)

// TestDeviceBinding: a key created with a device fingerprint (stored hashed)
// pays only when the same fingerprint is presented; any other, or none, is
// refused with device_mismatch and holds nothing. The owner's approved
// payment and an unbound key need none.
func TestDeviceBinding(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		now, err := s.Now(ctx)
		if err != nil {
			t.Fatal(err)
		}
		const fp = "fp_7d1c2e9a"
		k, err := s.CreateKey(ctx, policy.NewKey{AgentID: f.agent, UserWallet: f.wallet, Token: "USDC", Decimals: 6,
			Address: wallet(), PKPPublicKey: wallet(), SealedSecret: "sealed", MaxAmount: 100 * usdc,
			ExpiresAt: now.Add(time.Hour), DeviceHash: policy.HashDevice(fp)})
		if err != nil {
			t.Fatal(err)
		}
		if !k.DeviceBound {
			t.Fatalf("created key is not bound: %+v", k)
		}
		if _, err := s.Activate(ctx, k.ID, "fundsig-"+k.ID, 100*usdc); err != nil {
			t.Fatal(err)
		}
		raw, err := s.Redis().HGetAll(ctx, s.Events().Key(f.wallet, "sk:"+k.ID)).Result()
		if err != nil {
			t.Fatal(err)
		}
		for field, v := range raw {
			if v == fp {
				t.Fatalf("the fingerprint is stored in the clear in %s", field)
			}
		}
		pay := func(mode policy.Mode, device string, approved bool) (*policy.Decision, error) {
			agent := f.agent
			if approved {
				agent = ""
			}
			return s.Decide(ctx, policy.PaymentRequest{Mode: mode, SessionKeyID: k.ID, AgentID: agent, Amount: 5 * usdc,
				Recipient: "merchant", DeviceHash: policy.HashDevice(device), Approved: approved})
		}
		for _, tc := range []struct {
			name   string
			mode   policy.Mode
			device string
			code   policy.Code // "" = allowed
		}{
			{"reserve without a fingerprint", policy.ModeReserve, "", policy.CodeDeviceMismatch},
			{"reserve with another fingerprint", policy.ModeReserve, "fp_other", policy.CodeDeviceMismatch},
			{"reserve with a near miss", policy.ModeReserve, fp + " ", policy.CodeDeviceMismatch},
			{"check with another fingerprint", policy.ModeCheck, "fp_other", policy.CodeDeviceMismatch},
			{"check without a fingerprint", policy.ModeCheck, "", ""},
			{"reserve with the fingerprint", policy.ModeReserve, fp, ""},
		} {
			d, err := pay(tc.mode, tc.device, false)
			if tc.code != "" {
				if policy.CodeOf(err) != tc.code {
					t.Fatalf("%s: got %v", tc.name, err)
				}
				continue
			}
			if err != nil || !d.Allowed {
				t.Fatalf("%s: %+v %v", tc.name, d, err)
			}
		}
		got, _, err := s.GetKey(ctx, f.agent, k.ID)
		if err != nil || got.Reserved != 5*usdc {
			t.Fatalf("only the payment with the fingerprint holds money: %+v %v", got, err)
		}
		// The owner's approval path passes the device rule and meets the next
		// one (this payment id was never awaiting approval).
		if _, err := pay(policy.ModeReserve, "", true); policy.CodeOf(err) != policy.CodeConflict {
			t.Fatalf("the owner's approved payment: %v", err)
		}
		free := f.key(10*usdc, time.Hour)
		if d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: free.ID, AgentID: f.agent,
			Amount: usdc, Recipient: "merchant", DeviceHash: policy.HashDevice("anything")}); err != nil || !d.Allowed || free.DeviceBound {
			t.Fatalf("an unbound key: %+v %v", d, err)
		}
	})
}

// FuzzValidDevice: any text is either refused with invalid_argument or is a
// fingerprint whose hash is 64 hex characters.
func FuzzValidDevice(f *testing.F) {
	for _, s := range []string{"fp_7d1c2e9a", "", " x", "a\x00b", "émoji🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := policy.ValidDevice(s); err != nil {
			if policy.CodeOf(err) != policy.CodeInvalidArgument {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if h := policy.HashDevice(s); len(h) != 64 {
			t.Fatalf("%q: hash %q", s, h)
		}
	})
}
