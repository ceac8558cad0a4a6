// Package mcpsession keeps MCP transport sessions (the streamable HTTP
// Mcp-Session-Id, the SSE sessionId) in Redis, each bound to the agent whose
// API key opened it, with an idle TTL, so that any replica behind a load
// balancer validates any session and an ended session stays ended.
package mcpsession

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultTTL is how long an idle session lives.
const DefaultTTL = 24 * time.Hour

var (
	// ErrUnknown is a session id never issued, expired or ended.
	ErrUnknown = errors.New("mcpsession: unknown or ended session")
	// ErrOtherAgent is a session id presented with another agent's key.
	ErrOtherAgent = errors.New("mcpsession: the session belongs to another agent")
)

// Session is what is recorded of a session.
type Session struct {
	// Agent is the agent whose API key opened the session.
	Agent string `json:"agent"`
	// Version is the protocol version the client asked for at initialize.
	Version string `json:"version,omitempty"`
}

// Store records sessions in Redis (standalone, Cluster, or the embedded one).
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// New returns a Store keeping sessions under prefix, each living ttl after
// its last use (DefaultTTL when ttl is 0).
func New(rdb redis.UniversalClient, prefix string, ttl time.Duration) *Store {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Store{rdb: rdb, prefix: prefix, ttl: ttl}
}

func (s *Store) key(id string) string { return s.prefix + ":mcpsession:" + id }

// Create issues an unguessable session id (32 random bytes) for agent.
func (s *Store) Create(ctx context.Context, agent, version string) (string, error) {
	if agent == "" {
		return "", errors.New("mcpsession: a session needs an agent")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("mcpsession: random id: %w", err)
	}
	id := "mcp_" + base64.RawURLEncoding.EncodeToString(b)
	v, err := json.Marshal(Session{Agent: agent, Version: version})
	if err != nil {
		return "", err
	}
	if err := s.rdb.Set(ctx, s.key(id), v, s.ttl).Err(); err != nil {
		return "", fmt.Errorf("mcpsession: record session: %w", err)
	}
	return id, nil
}

// Check returns the session id's record if agent owns it, refreshing its
// TTL: ErrUnknown if it was never issued, expired or ended; ErrOtherAgent
// if another agent opened it.
func (s *Store) Check(ctx context.Context, id, agent string) (*Session, error) {
	if !plausible(id) {
		return nil, ErrUnknown
	}
	v, err := s.rdb.GetEx(ctx, s.key(id), s.ttl).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("mcpsession: read session: %w", err)
	}
	var sess Session
	if err := json.Unmarshal(v, &sess); err != nil {
		return nil, fmt.Errorf("mcpsession: decode session: %w", err)
	}
	if sess.Agent != agent {
		return nil, ErrOtherAgent
	}
	return &sess, nil
}

// End ends agent's session: the id is unknown from then on.
func (s *Store) End(ctx context.Context, id, agent string) error {
	if _, err := s.Check(ctx, id, agent); err != nil {
		return err
	}
	if err := s.rdb.Del(ctx, s.key(id)).Err(); err != nil {
		return fmt.Errorf("mcpsession: end session: %w", err)
	}
	return nil
}

// plausible reports whether id could be one Create issued (bounded, plain
// characters), so garbage never reaches Redis as a key name.
func plausible(id string) bool {
	if len(id) < 8 || len(id) > 100 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
