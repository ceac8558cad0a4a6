package policy

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Embedded is an in-process Redis (miniredis) running the same scripts as a
// real server. It is for trying stipend out: nothing survives a restart.
type Embedded struct {
	Server *miniredis.Miniredis
	Client *redis.Client
}

// NewEmbedded starts an in-process Redis and a client of it.
func NewEmbedded() (*Embedded, error) {
	srv, err := miniredis.Run()
	if err != nil {
		return nil, fmt.Errorf("policy: start embedded redis: %w", err)
	}
	return &Embedded{Server: srv, Client: redis.NewClient(&redis.Options{Addr: srv.Addr()})}, nil
}

// Close stops the embedded Redis.
func (e *Embedded) Close() error {
	err := e.Client.Close()
	e.Server.Close()
	return err
}
