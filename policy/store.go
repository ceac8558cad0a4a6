package policy

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configure a Store.
type Options struct {
	// Prefix of every Redis key; "stipend" by default.
	Prefix string
	// ClockSkew is added to Redis TIME inside every script. Tests use it to
	// move time forward; it is zero in production.
	ClockSkew time.Duration
	// IdempotencyTTL is how long an idempotency key is remembered, and a
	// settled (confirmed or failed) payment kept in Redis; 30 days by default.
	IdempotencyTTL time.Duration
	// AuditArchive, if set, is the audit sink that audit entries move to
	// (DrainAudit); without it they stay in Redis.
	AuditArchive AuditArchive
	// WithoutEvents says that nothing reads the events stream (no webhook
	// endpoint is configured): state changes are then not appended to it, so
	// no stream grows unread (the audit log still records every change). A
	// webhook endpoint configured later delivers the events from then on.
	// Every process sharing a Redis must agree: one that writes no events
	// beside another that delivers webhooks would leave its changes out.
	WithoutEvents bool
}

// Store is the ledger on Redis. It is safe for concurrent use; several
// processes may share one Redis.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	skew    int64
	idemTTL time.Duration
	archive AuditArchive
	events  bool     // state changes are appended to the events stream
	owners  sync.Map // record id → user_wallet (immutable once written)
	// noFunctions: the server runs no functions, so scripts run as EVAL (scripts.go).
	noFunctions atomic.Bool
}

// New returns a Store on rdb, a *redis.Client, *redis.ClusterClient or *redis.Ring.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "stipend"
	}
	if opts.IdempotencyTTL <= 0 {
		opts.IdempotencyTTL = 30 * 24 * time.Hour
	}
	return &Store{rdb: rdb, prefix: opts.Prefix, skew: opts.ClockSkew.Milliseconds(), idemTTL: opts.IdempotencyTTL,
		archive: opts.AuditArchive, events: !opts.WithoutEvents}
}

// Redis returns the client the store runs on.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// The key layout is the store's own: other packages name keys through
// EventReader.

// prefixOf is the key prefix of a user_wallet's records, with its hash tag.
func (s *Store) prefixOf(userWallet string) string { return s.prefix + ":{" + userWallet + "}:" }

// eventsKey is the Redis Stream of a user_wallet's events.
func (s *Store) eventsKey(userWallet string) string { return s.prefixOf(userWallet) + "events" }

// walletsKey is the set of every user_wallet with records (to find their event streams).
func (s *Store) walletsKey() string { return s.prefix + ":wallets" }

// ExpiryKey is the sorted set of session keys by expires_at (ms), for the sweeper.
func (s *Store) ExpiryKey() string { return s.prefix + ":expiry" }

// The id index maps every session key, session and approval id to its
// user_wallet: a field of one of idBuckets hashes, picked by a hash of the
// id, so that each stays a compact listpack (up to Redis's
// hash-max-listpack-entries, 128 by default: some 65,000 ids in all; past
// that a bucket is a hash table, still smaller than a string per id). An id
// indexed before (its own string under indexKey) is still found there.
const idBuckets = 512

func (s *Store) idsKey(id string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id)) // never fails
	return s.prefix + ":ids:" + strconv.FormatUint(uint64(h.Sum32()%idBuckets), 10)
}

func (s *Store) indexKey(id string) string { return s.prefix + ":idx:" + id }

// agentIDsKey is the hash whose fields are an agent's session key ids (an
// agent's keys indexed before are in the set of agentKeysKey).
func (s *Store) agentIDsKey(agent string) string  { return s.prefix + ":agent:" + agent + ":ids" }
func (s *Store) agentKeysKey(agent string) string { return s.prefix + ":agent:" + agent + ":keys" }
func (s *Store) allKeysKey() string               { return s.prefix + ":keys" }

// walletOf finds the user_wallet of a session key or session id. The mapping
// never changes once written, so it is cached and a hot path costs no extra
// round trip.
func (s *Store) walletOf(ctx context.Context, id, param string) (string, error) {
	if w, ok := s.owners.Load(id); ok {
		return w.(string), nil
	}
	var inBucket *redis.StringCmd
	var legacy *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		inBucket = p.HGet(ctx, s.idsKey(id), id)
		legacy = p.Get(ctx, s.indexKey(id))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("policy: look up %s: %w", id, err)
	}
	w, err := inBucket.Result()
	if errors.Is(err, redis.Nil) {
		w, err = legacy.Result()
	}
	if errors.Is(err, redis.Nil) {
		return "", Errorf(CodeNotFound, param, "no %s %q", param, id)
	}
	if err != nil {
		return "", fmt.Errorf("policy: look up %s: %w", id, err)
	}
	s.owners.Store(id, w)
	return w, nil
}

// index writes the cross-user lookups of a new record before the record itself.
func (s *Store) index(ctx context.Context, id, wallet, agent string, expiresAt time.Time, key bool) error {
	var added *redis.BoolCmd
	var legacy *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		added = p.HSetNX(ctx, s.idsKey(id), id, wallet)
		legacy = p.Exists(ctx, s.indexKey(id))
		return nil
	})
	if err != nil {
		return fmt.Errorf("policy: index %s: %w", id, err)
	}
	if !added.Val() {
		return Errorf(CodeConflict, "id", "%s already exists", id)
	}
	if legacy.Val() != 0 { // indexed before, in the earlier layout
		if err := s.rdb.HDel(ctx, s.idsKey(id), id).Err(); err != nil {
			return fmt.Errorf("policy: index %s: %w", id, err)
		}
		return Errorf(CodeConflict, "id", "%s already exists", id)
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, s.walletsKey(), wallet)
		if key {
			p.HSet(ctx, s.agentIDsKey(agent), id, "")
			p.SAdd(ctx, s.allKeysKey(), id)
			p.ZAdd(ctx, s.ExpiryKey(), redis.Z{Score: float64(expiresAt.UnixMilli()), Member: id})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("policy: index %s: %w", id, err)
	}
	s.owners.Store(id, wallet)
	return nil
}

// keyIDsOf returns the ids of an agent's session keys ("" for every agent).
func (s *Store) keyIDsOf(ctx context.Context, agent string) ([]string, error) {
	if agent == "" {
		ids, err := s.rdb.SMembers(ctx, s.allKeysKey()).Result()
		if err != nil {
			return nil, fmt.Errorf("policy: list keys: %w", err)
		}
		return ids, nil
	}
	var inHash, inSet *redis.StringSliceCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		inHash = p.HKeys(ctx, s.agentIDsKey(agent))
		inSet = p.SMembers(ctx, s.agentKeysKey(agent)) // keys indexed before
		return nil
	}); err != nil {
		return nil, fmt.Errorf("policy: list keys: %w", err)
	}
	ids := inHash.Val()
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range inSet.Val() {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Now returns the ledger's clock: Redis TIME plus the configured skew.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	t, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("policy: redis time: %w", err)
	}
	return t.Add(time.Duration(s.skew) * time.Millisecond).UTC(), nil
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
func units(a Amount) string { return strconv.FormatInt(int64(a), 10) }

// WithClockSkew returns a Store on the same Redis whose clock runs d ahead.
// Tests use it to move time; production never does.
func (s *Store) WithClockSkew(d time.Duration) *Store {
	return &Store{rdb: s.rdb, prefix: s.prefix, skew: d.Milliseconds(), idemTTL: s.idemTTL, archive: s.archive, events: s.events}
}

type redisRange = redis.ZRangeBy
