package stipend

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/stipend/stipend/wallet"
	"github.com/stipend/stipend/web"
)

// Secrets are what `stipend keygen` makes: a master key sealing the session
// keys, an agent's API key and the operator's admin token, each token with
// the SHA-256 the server is configured with.
type Secrets struct {
	MasterKey        string `json:"master_key"`
	AgentID          string `json:"agent_id"`
	APIKey           string `json:"api_key"`
	APIKeySHA256     string `json:"api_key_sha256"`
	AdminToken       string `json:"admin_token"`
	AdminTokenSHA256 string `json:"admin_token_sha256"`
}

// NewSecrets makes a master key with id kid, an API key for agent and an
// admin token.
func NewSecrets(kid, agent string) (*Secrets, error) {
	mk, err := wallet.GenerateMasterKey(kid)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	api, err := newToken("stp_")
	if err != nil {
		return nil, err
	}
	admin, err := newToken("stpadm_")
	if err != nil {
		return nil, err
	}
	return &Secrets{MasterKey: mk, AgentID: agent, APIKey: api, APIKeySHA256: TokenSHA256(api),
		AdminToken: admin, AdminTokenSHA256: TokenSHA256(admin)}, nil
}

// TokenSHA256 is the SHA-256 (hex) of a bearer token, as api_keys and
// admin_token_sha256 take it.
func TokenSHA256(token string) string {
	s := web.HashToken(token)
	return hex.EncodeToString(s[:])
}

// newToken returns a random bearer token with a prefix.
func newToken(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}
