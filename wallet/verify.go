package wallet

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"

	solana "github.com/gagliardetto/solana-go"
)

// maxWireLen bounds a signed transaction: Solana packets are 1232 bytes.
const maxWireLen = 1232

// errShortVec reports a malformed compact-u16.
var errShortVec = errors.New("bad compact-u16")

// VerifySigned checks a wallet's signed copy of an issued transaction and
// returns it decoded, ready to send. signedB64 is the base64 wire transaction;
// issuedMessage the exact message bytes handed out (Unsigned.Message); user
// the only wallet expected to sign. It refuses with:
//   - ErrMalformedTx: not base64, truncated, too long, or not a transaction;
//   - ErrMessageMismatch: the message is not byte for byte the issued one
//     (an instruction added, an amount changed, another blockhash…);
//   - ErrSignerMismatch: the issued message's required signers are not [user];
//   - ErrSignatureCount / ErrExtraSignature: fewer / more signatures than required;
//   - ErrMissingSignature: the user's signature slot is empty;
//   - ErrBadSignature: the user's signature does not verify.
//
// It never panics, whatever the input.
func VerifySigned(issuedMessage []byte, signedB64 string, user solana.PublicKey) (*solana.Transaction, error) {
	if base64.StdEncoding.DecodedLen(len(signedB64)) > maxWireLen+3 {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedTx, maxWireLen)
	}
	raw, err := base64.StdEncoding.DecodeString(signedB64)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64: %w", ErrMalformedTx, err)
	}
	if len(raw) > maxWireLen {
		return nil, fmt.Errorf("%w: %d bytes, longer than %d", ErrMalformedTx, len(raw), maxWireLen)
	}
	count, n, err := readShortVec(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: signature count: %w", ErrMalformedTx, err)
	}
	if len(raw)-n < count*solana.SignatureLength {
		return nil, fmt.Errorf("%w: %d signatures announced, truncated", ErrMalformedTx, count)
	}
	sigs := raw[n : n+count*solana.SignatureLength]
	msg := raw[n+count*solana.SignatureLength:]
	if !bytes.Equal(msg, issuedMessage) {
		return nil, fmt.Errorf("%w: the signed message (%d bytes) is not the issued one (%d bytes)", ErrMessageMismatch, len(msg), len(issuedMessage))
	}

	var issued solana.Message
	if err := issued.UnmarshalBase64(base64.StdEncoding.EncodeToString(issuedMessage)); err != nil {
		return nil, fmt.Errorf("%w: issued message does not decode: %w", ErrMalformedTx, err)
	}
	signers := issued.Signers()
	if len(signers) != 1 || !signers[0].Equals(user) {
		return nil, fmt.Errorf("%w: issued message requires signers %v, want only %s", ErrSignerMismatch, signers, user)
	}
	switch {
	case count > len(signers):
		return nil, fmt.Errorf("%w: %d signatures, the message requires %d", ErrExtraSignature, count, len(signers))
	case count < len(signers):
		return nil, fmt.Errorf("%w: %d signatures, the message requires %d", ErrSignatureCount, count, len(signers))
	}
	sig := solana.SignatureFromBytes(sigs[:solana.SignatureLength])
	if sig.IsZero() {
		return nil, fmt.Errorf("%w: %s did not sign", ErrMissingSignature, user)
	}
	if !user.Verify(msg, sig) {
		return nil, fmt.Errorf("%w: signature is not %s's over the issued message", ErrBadSignature, user)
	}
	tx, err := solana.TransactionFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedTx, err)
	}
	return tx, nil
}

// readShortVec decodes Solana's compact-u16 ("short vec") length prefix,
// refusing non-canonical encodings as the runtime does. It returns the value
// and the number of bytes read.
func readShortVec(b []byte) (int, int, error) {
	var v int
	for i := 0; i < 3; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: truncated", errShortVec)
		}
		c := int(b[i])
		if i == 2 && c > 0x03 {
			return 0, 0, fmt.Errorf("%w: overflow", errShortVec)
		}
		if i > 0 && c == 0 {
			return 0, 0, fmt.Errorf("%w: non-canonical", errShortVec)
		}
		v |= (c & 0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: too long", errShortVec)
}
