package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// HashDevice returns how a device fingerprint is stored and compared: the
// hex SHA-256 of the fingerprint as given; "" for none.
func HashDevice(fingerprint string) string {
	if fingerprint == "" {
		return ""
	}
	h := sha256.Sum256([]byte(fingerprint))
	return hex.EncodeToString(h[:])
}

// ValidDevice refuses a fingerprint that is blank, too long or holds control
// characters.
func ValidDevice(fingerprint string) error {
	if len(fingerprint) > 512 || strings.TrimSpace(fingerprint) != fingerprint || fingerprint == "" {
		return Errorf(CodeInvalidArgument, "device_fingerprint", "device_fingerprint must be 1-512 characters without surrounding spaces")
	}
	for _, r := range fingerprint {
		if r < 0x20 || r == 0x7f {
			return Errorf(CodeInvalidArgument, "device_fingerprint", "device_fingerprint must not hold control characters")
		}
	}
	return nil
}
