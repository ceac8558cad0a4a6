package wallet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	solana "github.com/gagliardetto/solana-go"
)

// MasterKeySize is the size in bytes of a sealing master key (AES-256).
const MasterKeySize = 32

// sealVersion is the first field of every sealed string.
const sealVersion = "v1"

// sealAAD is the domain prefix of the additional data bound into every seal.
const sealAAD = "stipend-sealed-key/v1"

// maxKeyIDLen bounds a master key id.
const maxKeyIDLen = 64

var b64 = base64.RawURLEncoding

// Sealer seals session keypairs at rest with AES-256-GCM under a set of master
// keys named by key id. Sealing always uses the current key id; opening works
// with any configured id, so master keys can be rotated by adding a new current
// key and keeping the old ones until every sealed key has been resealed.
//
// A sealed string reads "v1.<kid>.<nonce>.<ciphertext>" (nonce and ciphertext
// in unpadded base64url). The plaintext is the 32-byte ed25519 seed; the
// additional data is "stipend-sealed-key/v1", the key id and the 32-byte public
// key, so a sealed key opens only for the public key it was sealed for.
// A Sealer is safe for concurrent use.
type Sealer struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewSealer returns a Sealer over keys (key id → 32-byte master key) that seals
// with the key named current.
func NewSealer(current string, keys map[string][]byte) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no master keys", ErrMasterKey)
	}
	s := &Sealer{current: current, aeads: make(map[string]cipher.AEAD, len(keys))}
	for kid, key := range keys {
		if err := validKeyID(kid); err != nil {
			return nil, err
		}
		if len(key) != MasterKeySize {
			return nil, fmt.Errorf("%w: key %q is %d bytes, want %d", ErrMasterKey, kid, len(key), MasterKeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrMasterKey, kid, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrMasterKey, kid, err)
		}
		s.aeads[kid] = aead
	}
	if _, ok := s.aeads[current]; !ok {
		return nil, fmt.Errorf("%w: current key id %q is not among the keys", ErrMasterKey, current)
	}
	return s, nil
}

// ParseSealer builds a Sealer from configuration strings "kid:base64key"
// (standard or URL base64, padded or not), sealing with the key named current.
// Errors never echo key material.
func ParseSealer(current string, specs []string) (*Sealer, error) {
	keys := make(map[string][]byte, len(specs))
	for i, spec := range specs {
		kid, key, err := ParseMasterKey(spec)
		if err != nil {
			return nil, fmt.Errorf("master key #%d: %w", i+1, err)
		}
		if _, dup := keys[kid]; dup {
			return nil, fmt.Errorf("%w: duplicate key id %q", ErrMasterKey, kid)
		}
		keys[kid] = key
	}
	return NewSealer(current, keys)
}

// ParseMasterKey parses one "kid:base64key" string into its key id and its
// 32-byte key. Errors never echo the key.
func ParseMasterKey(spec string) (kid string, key []byte, err error) {
	kid, enc, ok := strings.Cut(strings.TrimSpace(spec), ":")
	if !ok {
		return "", nil, fmt.Errorf("%w: want kid:base64key", ErrMasterKey)
	}
	if err := validKeyID(kid); err != nil {
		return "", nil, err
	}
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, derr := e.DecodeString(enc); derr == nil {
			if len(k) != MasterKeySize {
				return "", nil, fmt.Errorf("%w: key %q is %d bytes, want %d", ErrMasterKey, kid, len(k), MasterKeySize)
			}
			return kid, k, nil
		}
	}
	return "", nil, fmt.Errorf("%w: key %q is not base64", ErrMasterKey, kid)
}

// GenerateMasterKey returns a new random master key as "kid:base64key", the
// form ParseMasterKey and ParseSealer read.
func GenerateMasterKey(kid string) (string, error) {
	if err := validKeyID(kid); err != nil {
		return "", err
	}
	key := make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("wallet: generate master key: %w", err)
	}
	return kid + ":" + base64.StdEncoding.EncodeToString(key), nil
}

// validKeyID accepts 1–64 characters of [A-Za-z0-9_-].
func validKeyID(kid string) error {
	if kid == "" || len(kid) > maxKeyIDLen {
		return fmt.Errorf("%w: key id must be 1 to %d characters", ErrMasterKey, maxKeyIDLen)
	}
	for _, c := range kid {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: key id %q may hold only letters, digits, '_' and '-'", ErrMasterKey, kid)
		}
	}
	return nil
}

// CurrentKeyID returns the key id new seals use.
func (s *Sealer) CurrentKeyID() string { return s.current }

// KeyIDs returns the configured key ids, sorted.
func (s *Sealer) KeyIDs() []string {
	ids := make([]string, 0, len(s.aeads))
	for id := range s.aeads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Seal encrypts kp under the current master key.
func (s *Sealer) Seal(kp *Keypair) (string, error) {
	if kp == nil || kp.sec == nil {
		return "", fmt.Errorf("%w: nil keypair", ErrKeypair)
	}
	aead := s.aeads[s.current]
	if aead == nil {
		return "", fmt.Errorf("%w: sealer has no current key (use NewSealer)", ErrMasterKey)
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("wallet: seal nonce: %w", err)
	}
	ct := aead.Seal(nil, nonce, kp.seed(), sealAdditionalData(s.current, kp.pub))
	return strings.Join([]string{sealVersion, s.current, b64.EncodeToString(nonce), b64.EncodeToString(ct)}, "."), nil
}

// SealedKeyID returns the master key id a sealed string names, so callers can
// find keys still sealed under a retired id. It does not authenticate anything.
func SealedKeyID(sealed string) (string, error) {
	parts := strings.Split(sealed, ".")
	if len(parts) != 4 || parts[0] != sealVersion {
		return "", fmt.Errorf("%w: not a %s sealed key", ErrSealedKey, sealVersion)
	}
	if err := validKeyID(parts[1]); err != nil {
		return "", fmt.Errorf("%w: bad key id", ErrSealedKey)
	}
	return parts[1], nil
}

// Open decrypts a sealed keypair and checks that it is the keypair of want.
// Every failure wraps ErrSealedKey (an unknown key id also wraps
// ErrUnknownKeyID); no error ever contains key material.
func (s *Sealer) Open(sealed string, want solana.PublicKey) (*Keypair, error) {
	kid, err := SealedKeyID(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := s.aeads[kid]
	if !ok {
		return nil, fmt.Errorf("%w: %w %q", ErrSealedKey, ErrUnknownKeyID, kid)
	}
	parts := strings.Split(sealed, ".")
	nonce, err := b64.DecodeString(parts[2])
	if err != nil || len(nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: bad nonce", ErrSealedKey)
	}
	ct, err := b64.DecodeString(parts[3])
	if err != nil || len(ct) != ed25519.SeedSize+aead.Overhead() {
		return nil, fmt.Errorf("%w: bad ciphertext length", ErrSealedKey)
	}
	seed, err := aead.Open(nil, nonce, ct, sealAdditionalData(kid, want))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (wrong master key, wrong public key or tampered)", ErrSealedKey)
	}
	kp := keypairFromSeed(seed)
	clear(seed)
	if !kp.pub.Equals(want) {
		return nil, fmt.Errorf("%w: sealed key does not match public key %s", ErrSealedKey, want)
	}
	return kp, nil
}

func sealAdditionalData(kid string, pub solana.PublicKey) []byte {
	ad := make([]byte, 0, len(sealAAD)+1+len(kid)+1+len(pub))
	ad = append(ad, sealAAD...)
	ad = append(ad, 0)
	ad = append(ad, kid...)
	ad = append(ad, 0)
	return append(ad, pub[:]...)
}
