package wallet

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	solana "github.com/gagliardetto/solana-go"
)

// attestationHeader is the first line of the canonical attestation encoding.
const attestationHeader = "stipend-attestation/v1"

// attestationHeaderV2 heads the attestation of a key linked to a session.
const attestationHeaderV2 = "stipend-attestation/v2"

// maxAttestationField bounds the length of the free-text fields.
const maxAttestationField = 256

// Attestation is what a session key states about itself: which agent it serves,
// whose money funds it, in which token, up to how much and until when. The
// session key signs it with its own ed25519 key, which is its identity public
// key (pkp_public_key is the session key's address).
type Attestation struct {
	AgentID    string           // the agent the key was made for
	UserWallet solana.PublicKey // the wallet that owns the money
	Token      string           // the token mint, base58
	MaxAmount  uint64           // spending cap in base units
	ExpiresAt  time.Time        // expiry, encoded in whole unix seconds
	Address    solana.PublicKey // the session key's address
	SessionID  string           // the linked session (sess_…); "" = none
}

// CanonicalBytes returns the exact bytes that are signed: UTF-8 text of seven
// lines, each ended by "\n", in this fixed order and with no other whitespace:
//
//	stipend-attestation/v1
//	agent=<AgentID>
//	user_wallet=<UserWallet, base58>
//	token=<Token>
//	max_amount=<MaxAmount, decimal>
//	expires_at=<ExpiresAt, unix seconds, decimal>
//	address=<Address, base58>
//
// A key linked to a session states it too: the header is
// "stipend-attestation/v2" and an eighth line "session=<SessionID>" follows.
// AgentID, SessionID (when set) and Token must be 1–256 bytes of valid UTF-8 with no control
// characters, so that no field can forge another line.
func (a Attestation) CanonicalBytes() ([]byte, error) {
	fields := map[string]string{"agent": a.AgentID, "token": a.Token}
	header := attestationHeader
	if a.SessionID != "" {
		fields["session"], header = a.SessionID, attestationHeaderV2
	}
	for name, v := range fields {
		if err := attestationField(v); err != nil {
			return nil, fmt.Errorf("%w: %s %w", ErrAttestation, name, err)
		}
	}
	var b strings.Builder
	b.WriteString(header + "\n")
	b.WriteString("agent=" + a.AgentID + "\n")
	b.WriteString("user_wallet=" + a.UserWallet.String() + "\n")
	b.WriteString("token=" + a.Token + "\n")
	b.WriteString("max_amount=" + strconv.FormatUint(a.MaxAmount, 10) + "\n")
	b.WriteString("expires_at=" + strconv.FormatInt(a.ExpiresAt.Unix(), 10) + "\n")
	b.WriteString("address=" + a.Address.String() + "\n")
	if a.SessionID != "" {
		b.WriteString("session=" + a.SessionID + "\n")
	}
	return []byte(b.String()), nil
}

func attestationField(v string) error {
	if v == "" || len(v) > maxAttestationField {
		return fmt.Errorf("must be 1 to %d bytes", maxAttestationField)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("is not valid UTF-8")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("contains a control character")
		}
	}
	return nil
}

// Attest signs a with the keypair and returns the base58 signature. The
// attestation's Address must be the keypair's own public key.
func (k *Keypair) Attest(a Attestation) (string, error) {
	if k == nil || k.sec == nil {
		return "", fmt.Errorf("%w: nil keypair", ErrKeypair)
	}
	if !a.Address.Equals(k.pub) {
		return "", fmt.Errorf("%w: address %s is not the signing key %s", ErrAttestation, a.Address, k.pub)
	}
	msg, err := a.CanonicalBytes()
	if err != nil {
		return "", err
	}
	return k.sign(msg).String(), nil
}

// VerifyAttestation checks that sig (base58) is pub's signature of a's
// canonical bytes. It fails with ErrAttestation, and also ErrBadSignature when
// the signature itself is wrong.
func VerifyAttestation(pub solana.PublicKey, a Attestation, sig string) error {
	msg, err := a.CanonicalBytes()
	if err != nil {
		return err
	}
	if len(sig) > 90 { // a 64-byte signature is at most 88 base58 characters
		return fmt.Errorf("%w: %w: signature too long", ErrAttestation, ErrBadSignature)
	}
	s, err := solana.SignatureFromBase58(sig)
	if err != nil {
		return fmt.Errorf("%w: %w: signature is not base58 of 64 bytes", ErrAttestation, ErrBadSignature)
	}
	if !pub.Verify(msg, s) {
		return fmt.Errorf("%w: %w: not signed by %s", ErrAttestation, ErrBadSignature, pub)
	}
	return nil
}
