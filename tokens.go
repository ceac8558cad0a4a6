package stipend

import (
	"fmt"
	"strings"

	solana "github.com/gagliardetto/solana-go"
)

// TokenConfig is one token of the configuration's tokens list.
type TokenConfig struct {
	Symbol       string `yaml:"symbol"`
	Mint         string `yaml:"mint"`
	Decimals     *int   `yaml:"decimals"`
	TokenProgram string `yaml:"token_program"`
}

// RuntimeToken is one checked token: a key created with its symbol holds it.
type RuntimeToken struct {
	Symbol       string
	Mint         solana.PublicKey
	Decimals     int
	TokenProgram solana.PublicKey
}

// tokenProgram parses a token_program setting: spl-token (the default),
// token-2022, or either program's address.
func tokenProgram(s string) (solana.PublicKey, error) {
	switch s {
	case "", "spl-token", solana.TokenProgramID.String():
		return solana.TokenProgramID, nil
	case "token-2022", solana.Token2022ProgramID.String():
		return solana.Token2022ProgramID, nil
	}
	return solana.PublicKey{}, fmt.Errorf("%q: want spl-token or token-2022", s)
}

// checkTokens checks the tokens list into rt.Tokens; the first is the
// default, and also fills rt's single-token settings (mint, decimals, token,
// token_program) so that what reads those sees it. The list and the single
// mint setting are exclusive.
func checkTokens(c Config, rt *Runtime, bad func(key, format string, args ...any) error) error {
	if c.Mint != "" || c.TokenProgram != "" {
		return bad("tokens", "give either tokens or mint/token_program, not both")
	}
	seenSym, seenMint := map[string]bool{}, map[solana.PublicKey]bool{}
	for i, t := range c.Tokens {
		at := func(field string) string { return fmt.Sprintf("tokens[%d].%s", i, field) }
		if t.Symbol == "" || len(t.Symbol) > 16 || strings.ContainsAny(t.Symbol, " \t\n,") {
			return bad(at("symbol"), "%q: want a symbol of 1 to 16 characters without spaces or commas", t.Symbol)
		}
		if seenSym[strings.ToUpper(t.Symbol)] {
			return bad(at("symbol"), "%s is listed twice", t.Symbol)
		}
		seenSym[strings.ToUpper(t.Symbol)] = true
		m, err := solana.PublicKeyFromBase58(t.Mint)
		if err != nil || t.Mint == "" {
			return bad(at("mint"), "%q is not a base58 Solana address", t.Mint)
		}
		if seenMint[m] {
			return bad(at("mint"), "%s is listed twice", t.Mint)
		}
		seenMint[m] = true
		if t.Decimals == nil {
			return bad(at("decimals"), "required (USDC and PYUSD: 6)")
		}
		if *t.Decimals < 0 || *t.Decimals > 18 {
			return bad(at("decimals"), "%d: want 0 to 18", *t.Decimals)
		}
		p, err := tokenProgram(t.TokenProgram)
		if err != nil {
			return bad(at("token_program"), "%v", err)
		}
		rt.Tokens = append(rt.Tokens, RuntimeToken{Symbol: t.Symbol, Mint: m, Decimals: *t.Decimals, TokenProgram: p})
	}
	first := rt.Tokens[0]
	rt.Mint, rt.Decimals, rt.Token, rt.TokenProgram = first.Mint, first.Decimals, first.Symbol, first.TokenProgram
	return nil
}
