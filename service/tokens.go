package service

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/wallet"
)

// Token is one token the service offers: its symbol and the chain layer
// built for its mint, decimals and token program (wallet.Chain.ForToken).
type Token struct {
	Symbol   string
	Decimals int32 // the mint's decimals; 0: the chain's
	Chain    *wallet.Chain
}

// Mint returns the token's mint address.
func (t Token) Mint() string { return t.Chain.Mint().String() }

// Tokens returns the offered tokens' symbols, the default (first) one first.
func (s *Service) Tokens() []string {
	out := make([]string, len(s.cfg.Tokens))
	for i, t := range s.cfg.Tokens {
		out[i] = t.Symbol
	}
	return out
}

// token returns the offered token named symbol (case-insensitive); "" is the
// first. One that is not offered is invalid_argument naming those offered.
func (s *Service) token(symbol string) (Token, error) {
	if len(s.cfg.Tokens) == 0 {
		return Token{Symbol: s.cfg.Token, Decimals: s.cfg.Decimals, Chain: s.chain}, nil
	}
	if symbol == "" {
		return s.cfg.Tokens[0], nil
	}
	for _, t := range s.cfg.Tokens {
		if strings.EqualFold(t.Symbol, symbol) {
			return t, nil
		}
	}
	return Token{}, policy.Errorf(policy.CodeInvalidArgument, "token", "token %q is not offered; offered: %s",
		symbol, strings.Join(s.Tokens(), ", "))
}

// tokenOfMint returns the offered token of mint; the first for "" (records
// made before a server offered several tokens) or for a mint no longer offered.
func (s *Service) tokenOfMint(mint string) Token {
	for _, t := range s.cfg.Tokens {
		if t.Chain != nil && t.Mint() == mint {
			return t
		}
	}
	t, _ := s.token("") // the first token (or the single one): never refused
	if mint != "" && len(s.cfg.Tokens) > 1 {
		s.log.Warn("a record's mint is not offered; using the first token", "mint", mint)
	}
	return t
}

// chainOf returns the chain layer of key k's token: every transaction of a
// key (funding, top-up, payment, sweep, balance reads) is built with it.
func (s *Service) chainOf(k *policy.SessionKey) *wallet.Chain {
	return s.tokenOfMint(k.Mint).Chain
}

// decimalsOf returns the decimals the amounts of mint are written with.
func (s *Service) decimalsOf(mint string) int32 {
	return s.tokenOfMint(mint).Decimals
}

// symbolOf returns the symbol of mint's token.
func (s *Service) symbolOf(mint string) string {
	if t := s.tokenOfMint(mint); t.Symbol != "" {
		return t.Symbol
	}
	return s.cfg.Token
}

// formatIn writes an amount of mint's token.
func (s *Service) formatIn(mint string, a policy.Amount) string { return a.Format(s.decimalsOf(mint)) }

// ParseAmountIn parses an amount of the offered token named symbol ("" is
// the first): at most its decimals.
func (s *Service) ParseAmountIn(symbol string, raw []byte) (policy.Amount, error) {
	t, err := s.token(symbol)
	if err != nil {
		return 0, err
	}
	return policy.ParseAmountJSON(raw, t.Decimals)
}

// ParseKeyAmount parses an amount of the token of the agent's session key
// keyID. An unknown key parses in the first token; the call that uses the
// amount reports the key as not found.
func (s *Service) ParseKeyAmount(ctx context.Context, agentID, keyID string, raw []byte) (policy.Amount, error) {
	mint, err := s.keyMint(ctx, agentID, keyID)
	if err != nil {
		return 0, err
	}
	return policy.ParseAmountJSON(raw, s.decimalsOf(mint))
}

// keyMint returns the mint of session key keyID ("" when not found). A key's
// mint never changes, so it is remembered: a payment's amount costs no read.
func (s *Service) keyMint(ctx context.Context, agentID, keyID string) (string, error) {
	if keyID == "" {
		return "", nil
	}
	if m, ok := s.mints.Load(keyID); ok {
		return m.(string), nil
	}
	k, _, err := s.store.GetKey(ctx, agentID, keyID)
	if err != nil {
		if isCoded(err) {
			return "", nil
		}
		return "", unavailable(err)
	}
	s.rememberMint(k)
	return k.Mint, nil
}

// rememberMint keeps key k's mint for keyMint.
func (s *Service) rememberMint(k *policy.SessionKey) {
	if k != nil && k.ID != "" {
		s.mints.Store(k.ID, k.Mint)
	}
}

// ParseSessionAmount parses an amount of the token of the agent's session
// sessionID, as ParseKeyAmount does for a key.
func (s *Service) ParseSessionAmount(ctx context.Context, agentID, sessionID string, raw []byte) (policy.Amount, error) {
	mint := ""
	if sessionID != "" {
		if sess, err := s.store.GetSession(ctx, agentID, sessionID); err == nil {
			mint = sess.Mint
		} else if !isCoded(err) {
			return 0, unavailable(err)
		}
	}
	return policy.ParseAmountJSON(raw, s.decimalsOf(mint))
}

// keyToken returns the token of the agent's session key keyID.
func (s *Service) keyToken(ctx context.Context, agentID, keyID string) (Token, error) {
	k, _, err := s.store.GetKey(ctx, agentID, keyID)
	if err != nil {
		return Token{}, unavailable(err)
	}
	return s.tokenOfMint(k.Mint), nil
}

// paymentAmount writes a payment's amount in its key's (or session's) token.
func (s *Service) paymentAmount(ctx context.Context, p *policy.Payment) string {
	return s.formatIn(s.approvalMint(ctx, &policy.Approval{SessionKeyID: p.SessionKeyID, SessionID: p.SessionID}), p.Amount)
}

// KeySymbol returns the symbol of the token of the agent's session key keyID
// (the first token's when the key is not found or cannot be read: it names
// the token in text only; what parses or moves an amount reads the key itself).
func (s *Service) KeySymbol(ctx context.Context, agentID, keyID string) string {
	if m, err := s.keyMint(ctx, agentID, keyID); err == nil && m != "" {
		return s.symbolOf(m)
	}
	return s.cfg.Token
}

// SessionSymbol returns the symbol of the token the agent's session's
// limits are in (the first token's when the session is not found or cannot
// be read, as for KeySymbol).
func (s *Service) SessionSymbol(ctx context.Context, agentID, sessionID string) string {
	if sess, err := s.store.GetSession(ctx, agentID, sessionID); err == nil {
		return s.symbolOf(sess.Mint)
	}
	return s.cfg.Token
}

// EventDecimals returns the decimals of the token of an event's data as the
// ledger recorded it: its session key's token, else its session's (for
// webhooks, whose data is written in the API's dialect).
func (s *Service) EventDecimals(ctx context.Context, data []byte) int32 {
	var ids struct {
		SessionKeyID string `json:"session_key_id"`
		SessionID    string `json:"session_id"`
	}
	if err := json.Unmarshal(data, &ids); err != nil {
		s.log.Warn("event data does not parse; its amounts are in the first token", "err", err)
	}
	mint, err := s.keyMint(ctx, "", ids.SessionKeyID) // cached: a key's mint never changes
	if err == nil && ids.SessionKeyID == "" && ids.SessionID != "" {
		var sess *policy.Session
		if sess, err = s.store.GetSession(ctx, "", ids.SessionID); err == nil {
			mint = sess.Mint
		} else if errors.Is(err, policy.ErrNotFound) {
			err = nil // a session gone since: the first token
		}
	}
	if err != nil {
		s.log.Warn("reading the token of an event; its amounts are in the first token", "session_key_id", ids.SessionKeyID,
			"session_id", ids.SessionID, "err", err)
	}
	return s.decimalsOf(mint)
}
