package stipend

import (
	"strings"
	"testing"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/testenv"
)

// TestTokensList checks the tokens list: SPL Token and Token-2022 mints
// alike, the first the default, and each bad entry refused naming it.
func TestTokensList(t *testing.T) {
	const usdc, pyusd = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "2b1kV6DkPAnxd5ixfnxCpjxmKwqjjaYmCZfHsFu24GXo"
	six, nineteen := 6, 19
	base := func() Config {
		c := DefaultConfig()
		c.RPCURL, c.MasterKeys = "http://127.0.0.1:8899", []string{testenv.MasterKey(t, "k1")}
		return c
	}
	tests := []struct {
		name    string
		tokens  []TokenConfig
		mint    string
		wantErr string
	}{
		{"usdc and pyusd", []TokenConfig{{Symbol: "USDC", Mint: usdc, Decimals: &six}, {Symbol: "PYUSD", Mint: pyusd, Decimals: &six, TokenProgram: "token-2022"}}, "", ""},
		{"duplicate symbol", []TokenConfig{{Symbol: "USDC", Mint: usdc, Decimals: &six}, {Symbol: "usdc", Mint: pyusd, Decimals: &six}}, "", "tokens[1].symbol"},
		{"duplicate mint", []TokenConfig{{Symbol: "USDC", Mint: usdc, Decimals: &six}, {Symbol: "PYUSD", Mint: usdc, Decimals: &six}}, "", "tokens[1].mint"},
		{"bad mint", []TokenConfig{{Symbol: "USDC", Mint: "not-a-mint", Decimals: &six}}, "", "tokens[0].mint"},
		{"bad decimals", []TokenConfig{{Symbol: "USDC", Mint: usdc, Decimals: &nineteen}}, "", "tokens[0].decimals"},
		{"missing decimals", []TokenConfig{{Symbol: "USDC", Mint: usdc}}, "", "tokens[0].decimals"},
		{"bad program", []TokenConfig{{Symbol: "USDC", Mint: usdc, Decimals: &six, TokenProgram: "token-2023"}}, "", "tokens[0].token_program"},
		{"empty symbol", []TokenConfig{{Mint: usdc, Decimals: &six}}, "", "tokens[0].symbol"},
		{"list and mint", []TokenConfig{{Symbol: "USDC", Mint: usdc, Decimals: &six}}, usdc, "config: tokens:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			c.Tokens, c.Mint = tc.tokens, tc.mint
			rt, err := c.Check()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rt.Tokens) != 2 || rt.Token != "USDC" || rt.Mint.String() != usdc ||
				!rt.Tokens[1].TokenProgram.Equals(solana.Token2022ProgramID) || !rt.Tokens[0].TokenProgram.Equals(solana.TokenProgramID) {
				t.Fatalf("runtime tokens %+v, default %s %s", rt.Tokens, rt.Token, rt.Mint)
			}
		})
	}
	// The single-token settings are still one token.
	c := base()
	c.Mint, c.TokenProgram = pyusd, "token-2022"
	rt, err := c.Check()
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Tokens) != 1 || rt.Tokens[0].Mint.String() != pyusd || rt.Tokens[0].Symbol != "USDC" || rt.Tokens[0].Decimals != 6 ||
		!rt.Tokens[0].TokenProgram.Equals(solana.Token2022ProgramID) {
		t.Fatalf("single token %+v", rt.Tokens)
	}
}
