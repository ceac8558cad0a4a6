package policy

import (
	"crypto/rand"
	"strings"
)

// NewID returns a random identifier with a prefix such as "sk_" or "pay_".
func NewID(prefix string) string {
	// 22 characters of a 57-letter alphabet: about 128 bits, drawn without
	// bias by rejecting bytes at or above 228 (4 × 57).
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	out := make([]byte, 0, len(prefix)+22)
	out = append(out, prefix...)
	var buf [32]byte
	for len(out) < len(prefix)+22 {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand)
		for _, c := range buf {
			if c < 228 && len(out) < len(prefix)+22 {
				out = append(out, alphabet[c%57])
			}
		}
	}
	return string(out)
}

// validWallet refuses what cannot be a hash tag or an address.
func validWallet(w string) error {
	if w == "" || len(w) > 64 || strings.ContainsAny(w, "{}: \t\r\n") {
		return Errorf(CodeInvalidArgument, "user_wallet", "user_wallet is not a valid address")
	}
	return nil
}

func validID(id, prefix, param string) error {
	if !strings.HasPrefix(id, prefix) || len(id) > 64 || strings.ContainsAny(id, "{}: \t\r\n") {
		return Errorf(CodeNotFound, param, "no %s %q", param, id)
	}
	return nil
}
