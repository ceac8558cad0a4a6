package policy_test

import (
	"testing"
	"time"

	"github.com/stipend/stipend/policy"
)

// TestSessionOfOneToken: a session's limits are in one token (its mint), so
// link.lua refuses a key of another mint with token_mismatch and changes
// nothing; a key of the session's mint links; a session without a mint (made
// before several tokens) takes any key.
func TestSessionOfOneToken(t *testing.T) {
	const usdcMint, pyusdMint = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "2b1kV6DkPAnxd5ixfnxCpjxmKwqjjaYmCZfHsFu24GXo"
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		now, err := s.Now(ctx)
		if err != nil {
			t.Fatal(err)
		}
		newKey := func(token, mint string, decimals int32) *policy.SessionKey {
			k, err := s.CreateKey(ctx, policy.NewKey{AgentID: f.agent, UserWallet: f.wallet, Token: token, Mint: mint,
				Decimals: decimals, Address: wallet(), PKPPublicKey: wallet(), SealedSecret: "sealed", MaxAmount: 10,
				ExpiresAt: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		newSession := func(mint string) *policy.Session {
			sess, err := s.CreateSession(ctx, policy.NewSession{AgentID: f.agent, UserWallet: f.wallet,
				Limits: policy.Limits{PerDay: 5}, ExpiresAt: now.Add(time.Hour), Mint: mint})
			if err != nil {
				t.Fatal(err)
			}
			return sess
		}
		usdcSess, anySess := newSession(usdcMint), newSession("")
		if usdcSess.Mint != usdcMint || anySess.Mint != "" {
			t.Fatalf("session mints %q, %q", usdcSess.Mint, anySess.Mint)
		}
		tests := []struct {
			name    string
			key     *policy.SessionKey
			session *policy.Session
			want    policy.Code
		}{
			{"key of another token", newKey("PYUSD", pyusdMint, 6), usdcSess, policy.CodeTokenMismatch},
			{"key of the session's token", newKey("USDC", usdcMint, 6), usdcSess, ""},
			{"session of any token", newKey("PYUSD", pyusdMint, 6), anySess, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				k, err := s.Link(ctx, f.agent, tc.key.ID, tc.session.ID)
				if got := policy.CodeOf(err); got != tc.want {
					t.Fatalf("link: code %q (%v), want %q", got, err, tc.want)
				}
				after, _, err := s.GetKey(ctx, f.agent, tc.key.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := tc.session.ID
				if tc.want != "" {
					want = ""
				} else if k.LinkedSessionID != want {
					t.Fatalf("linked to %q", k.LinkedSessionID)
				}
				if after.LinkedSessionID != want {
					t.Fatalf("stored link %q, want %q", after.LinkedSessionID, want)
				}
			})
		}
	})
}
