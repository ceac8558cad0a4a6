package wallet

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"

	solana "github.com/gagliardetto/solana-go"
)

// Keypair is an ed25519 Solana keypair whose secret never leaves it in
// printable form: every way of printing, logging or marshalling it shows only
// the public key. The secret sits behind a pointer so that even reflection-based
// printing of a struct holding a Keypair in an unexported field shows an address,
// not the key bytes.
type Keypair struct {
	pub solana.PublicKey
	sec *secretKey
}

type secretKey struct {
	priv solana.PrivateKey // 64 bytes: seed || public key
}

// NewKeypair returns a fresh random keypair.
func NewKeypair() (*Keypair, error) {
	priv, err := solana.NewRandomPrivateKey()
	if err != nil {
		return nil, fmt.Errorf("wallet: generate keypair: %w", err)
	}
	return newKeypair(priv), nil
}

// KeypairFromPrivateKey wraps an existing 64-byte Solana private key (for
// example a fee payer loaded from configuration). The slice is copied.
func KeypairFromPrivateKey(priv solana.PrivateKey) (*Keypair, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key must be %d bytes", ErrKeypair, ed25519.PrivateKeySize)
	}
	// The last 32 bytes must be the public key of the seed.
	derived := ed25519.NewKeyFromSeed(priv[:ed25519.SeedSize])
	if !ed25519.PrivateKey(derived).Equal(ed25519.PrivateKey(priv)) {
		return nil, fmt.Errorf("%w: private key is inconsistent with its public half", ErrKeypair)
	}
	return newKeypair(solana.PrivateKey(derived)), nil
}

// KeypairFromBase58 parses a base58 Solana private key, as printed by
// solana-keygen and most wallets. Errors never echo the input.
func KeypairFromBase58(s string) (*Keypair, error) {
	priv, err := solana.PrivateKeyFromBase58(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not a base58 private key", ErrKeypair)
	}
	return KeypairFromPrivateKey(priv)
}

func keypairFromSeed(seed []byte) *Keypair {
	return newKeypair(solana.PrivateKey(ed25519.NewKeyFromSeed(seed)))
}

func newKeypair(priv solana.PrivateKey) *Keypair {
	p := make(solana.PrivateKey, len(priv))
	copy(p, priv)
	return &Keypair{pub: p.PublicKey(), sec: &secretKey{priv: p}}
}

// PublicKey returns the keypair's public key, which is also its Solana address
// and its identity public key.
func (k *Keypair) PublicKey() solana.PublicKey { return k.pub }

// sign signs message with the secret key.
func (k *Keypair) sign(message []byte) solana.Signature {
	var sig solana.Signature
	copy(sig[:], ed25519.Sign(ed25519.PrivateKey(k.sec.priv), message))
	return sig
}

// seed returns the 32-byte ed25519 seed; only sealing uses it.
func (k *Keypair) seed() []byte { return k.sec.priv[:ed25519.SeedSize] }

// getter returns a private-key getter for solana.Transaction.Sign that knows
// this keypair only.
func (k *Keypair) getter() func(solana.PublicKey) *solana.PrivateKey {
	return func(p solana.PublicKey) *solana.PrivateKey {
		if p.Equals(k.pub) {
			return &k.sec.priv
		}
		return nil
	}
}

// String returns "Keypair(<public key>)".
func (k Keypair) String() string { return "Keypair(" + k.pub.String() + ")" }

// GoString returns the same as String, so %#v shows no secret.
func (k Keypair) GoString() string { return k.String() }

// Format prints the public key only, whatever the verb or flags.
func (k Keypair) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// MarshalJSON encodes the keypair as {"public_key":"<base58>"}.
func (k Keypair) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		PublicKey string `json:"public_key"`
	}{k.pub.String()})
}

// MarshalText encodes the keypair as its base58 public key, so text encoders
// (and map keys) show no secret either.
func (k Keypair) MarshalText() ([]byte, error) { return []byte(k.pub.String()), nil }

// LogValue logs the keypair as its public key.
func (k Keypair) LogValue() slog.Value {
	return slog.GroupValue(slog.String("public_key", k.pub.String()))
}

var (
	_ fmt.Stringer   = Keypair{}
	_ fmt.GoStringer = Keypair{}
	_ fmt.Formatter  = Keypair{}
	_ json.Marshaler = Keypair{}
	_ slog.LogValuer = Keypair{}
)
