package wallet

import (
	"context"
	"time"

	solana "github.com/gagliardetto/solana-go"
)

// Getter exposes a keypair's signer to the external chain tests (they play
// the user's wallet with a Keypair).
func (k *Keypair) Getter() func(solana.PublicKey) *solana.PrivateKey { return k.getter() }

// SignBytes exposes signing to the external chain tests.
func (k *Keypair) SignBytes(message []byte) solana.Signature { return k.sign(message) }

// TokenBalanceExists exposes whether an owner's token account exists.
func (c *Chain) TokenBalanceExists(ctx context.Context, owner solana.PublicKey) (uint64, bool, error) {
	return c.tokenBalance(ctx, owner)
}

// ChainWithTimeout returns a copy of c with another ConfirmTimeout, for the external tests.
func ChainWithTimeout(c *Chain, d time.Duration) *Chain {
	short := *c
	short.cfg.ConfirmTimeout = d
	return &short
}
