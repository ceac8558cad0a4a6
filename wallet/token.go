package wallet

import (
	"fmt"

	solana "github.com/gagliardetto/solana-go"
)

// ForToken returns a Chain for another mint on the same cluster: it shares
// this Chain's RPC providers, fee payer, confirmation and PubSub, and builds
// every transaction with mint, its decimals and its token program (SPL Token
// when zero, or Token-2022). A server offering several tokens holds one per token.
func (c *Chain) ForToken(mint solana.PublicKey, decimals uint8, program solana.PublicKey) (*Chain, error) {
	if mint.IsZero() {
		return nil, fmt.Errorf("%w: Mint is empty", ErrConfig)
	}
	switch {
	case program.IsZero():
		program = solana.TokenProgramID
	case program.Equals(solana.TokenProgramID), program.Equals(solana.Token2022ProgramID):
	default:
		return nil, fmt.Errorf("%w: token program %s is neither SPL Token nor Token-2022", ErrConfig, program)
	}
	cfg := c.cfg
	cfg.Mint, cfg.Decimals, cfg.TokenProgram = mint, decimals, program
	out := &Chain{cfg: cfg, rpc: c.rpc, log: c.log.With("mint", mint.String()), pubsub: c.pubsub}
	out.statuses = c.statuses // one batch of status lookups for every token
	return out, nil
}

// Decimals returns the mint's decimals.
func (c *Chain) Decimals() uint8 { return c.cfg.Decimals }
