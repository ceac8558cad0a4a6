package policy

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// EventReader is what webhook delivery reads, without knowing the store's
// key layout: the user_wallets with records, each one's events stream (a
// Redis Stream of entries with the fields "event" and "data", appended by
// the ledger's scripts unless the store was made WithoutEvents), and names
// for the reader's own records, in the same Redis Cluster slot as a
// wallet's stream (so that one script may touch both) or shared by all.
type EventReader struct{ s *Store }

// Events returns the reader of the store's events.
func (s *Store) Events() EventReader { return EventReader{s} }

// ScanWallets returns some user_wallets with records, from cursor (0 to
// start); the next cursor is 0 once every wallet was returned (SSCAN).
func (r EventReader) ScanWallets(ctx context.Context, cursor uint64, count int64) ([]string, uint64, error) {
	ws, next, err := r.s.rdb.SScan(ctx, r.s.walletsKey(), cursor, "", count).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("policy: wallets: %w", err)
	}
	return ws, next, nil
}

// Stream is the name of a user_wallet's events stream.
func (r EventReader) Stream(userWallet string) string { return r.s.eventsKey(userWallet) }

// Key names a record of the reader's own in the slot of a user_wallet's stream.
func (r EventReader) Key(userWallet, name string) string { return r.s.prefixOf(userWallet) + name }

// SharedKey names a record of the reader's own that belongs to no wallet.
func (r EventReader) SharedKey(name string) string { return r.s.prefix + ":" + name }

// On returns a Store with the same options on another client of the same
// Redis (through a proxy, for instance).
func (s *Store) On(rdb redis.UniversalClient) *Store {
	c := *s.WithClockSkew(0)
	c.rdb, c.skew = rdb, s.skew
	return &c
}
