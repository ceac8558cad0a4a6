package policy

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// AuditEntry is one entry of a user_wallet's hash-chained audit log.
type AuditEntry struct {
	Seq   int64          `json:"seq"`
	TS    string         `json:"ts"`
	Event string         `json:"event"`
	Prev  string         `json:"prev"`
	Data  map[string]any `json:"data"`
	Raw   string         `json:"-"` // the entry exactly as stored
	Hash  string         `json:"-"` // SHA-1 of Raw, as the scripts compute it
}

// AuditArchive is where audit entries go when they leave Redis: an audit
// sink that keeps them durably (see package audit for the file sink).
type AuditArchive interface {
	// Archive appends entries of a user_wallet, oldest first, and returns
	// once they are durably stored.
	Archive(ctx context.Context, userWallet string, entries []AuditEntry) error
	// Archived returns the archived entries of a user_wallet, oldest first.
	// A sink that finds itself altered answers an *AuditBreak.
	Archived(ctx context.Context, userWallet string) ([]AuditEntry, error)
}

// ParseAuditEntry reads one audit entry as stored (its hash is of raw). An
// entry that does not parse comes back with an empty Event: a broken link.
func ParseAuditEntry(raw string) AuditEntry {
	e := AuditEntry{Raw: raw}
	h := sha1.Sum([]byte(raw))
	e.Hash = hex.EncodeToString(h[:])
	_ = json.Unmarshal([]byte(raw), &e) // an entry that does not parse keeps an empty Event: a broken link
	return e
}

// Audit returns the audit log of a user_wallet, oldest first: the entries
// already in the audit sink, then those still in Redis.
func (s *Store) Audit(ctx context.Context, userWallet string) ([]AuditEntry, error) {
	out, _, err := s.auditLog(ctx, userWallet)
	return out, err
}

func (s *Store) redisAudit(ctx context.Context, userWallet string, stop int64) ([]AuditEntry, error) {
	raws, err := s.rdb.LRange(ctx, s.prefixOf(userWallet)+"audit", 0, stop).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: audit: %w", err)
	}
	out := make([]AuditEntry, len(raws))
	for i, r := range raws {
		out[i] = ParseAuditEntry(r)
	}
	return out, nil
}

// auditLog joins the sink's entries and Redis's, and reads the head. An entry
// found twice with the same hash (the drain stopped between writing the sink
// and trimming Redis, or two drains raced) counts once.
func (s *Store) auditLog(ctx context.Context, userWallet string) ([]AuditEntry, map[string]string, error) {
	if err := validWallet(userWallet); err != nil {
		return nil, nil, err
	}
	var archived []AuditEntry
	if s.archive != nil {
		var err error
		if archived, err = s.archive.Archived(ctx, userWallet); err != nil {
			return nil, nil, err
		}
	}
	// The head first: an entry appended after it was read shows as a head
	// mismatch, never as a silently shorter chain.
	head, err := s.auditHead(ctx, userWallet)
	if err != nil {
		return nil, nil, err
	}
	inRedis, err := s.redisAudit(ctx, userWallet, -1)
	if err != nil {
		return nil, nil, err
	}
	seen := map[int64]string{}
	out := make([]AuditEntry, 0, len(archived)+len(inRedis))
	for _, e := range append(archived, inRedis...) {
		if h, ok := seen[e.Seq]; ok && h == e.Hash && e.Event != "" {
			continue
		}
		seen[e.Seq] = e.Hash
		out = append(out, e)
	}
	return out, head, nil
}

// auditHead reads the head of a user_wallet's audit log (lib.lua's
// audit_head) as seq, hash, base_seq and base_hash; a field with no value is
// left out.
func (s *Store) auditHead(ctx context.Context, userWallet string) (map[string]string, error) {
	key := s.prefixOf(userWallet) + "audit:head"
	for range 3 {
		v, err := s.rdb.Get(ctx, key).Result()
		switch {
		case err == nil:
			return parseAuditHead(v), nil
		case errors.Is(err, redis.Nil):
			return map[string]string{}, nil
		case !wrongType(err):
			return nil, fmt.Errorf("policy: audit head: %w", err)
		}
		// A head of the earlier layout: a hash.
		h, err := s.rdb.HGetAll(ctx, key).Result()
		if err == nil {
			return h, nil
		}
		if !wrongType(err) {
			return nil, fmt.Errorf("policy: audit head: %w", err)
		}
		// A script rewrote it as a string in between: read it again.
	}
	return nil, fmt.Errorf("policy: audit head %s holds neither a string nor a hash", key)
}

// parseAuditHead reads a head string: "<seq>:<hash>", then ":=" when the
// base is the head itself or ":<base_seq>:<base_hash>".
func parseAuditHead(v string) map[string]string {
	head := map[string]string{}
	parts := strings.Split(v, ":")
	if len(parts) < 2 {
		return head
	}
	head["seq"], head["hash"] = parts[0], parts[1]
	switch {
	case len(parts) == 3 && parts[2] == "=":
		head["base_seq"], head["base_hash"] = parts[0], parts[1]
	case len(parts) == 4:
		head["base_seq"], head["base_hash"] = parts[2], parts[3]
	}
	return head
}

// wrongType tells a Redis WRONGTYPE error: a key holding another type.
func wrongType(err error) bool { return strings.HasPrefix(err.Error(), "WRONGTYPE") }

// AuditBreak names the first broken link of an audit chain.
type AuditBreak struct {
	Index  int    // position in the log, from 0
	Seq    int64  // the entry's own sequence number, if readable
	Reason string // what does not hold
}

// Error implements error.
func (b *AuditBreak) Error() string {
	return fmt.Sprintf("audit chain broken at entry %d (seq %d): %s", b.Index, b.Seq, b.Reason)
}

// VerifyAudit recomputes a user_wallet's audit chain, across the audit sink
// and Redis. It returns nil when every entry holds the hash of the one before,
// the sequence has no gap, and the head holds the hash of the last entry;
// else an *AuditBreak naming the first broken link.
func (s *Store) VerifyAudit(ctx context.Context, userWallet string) (int, error) {
	entries, head, err := s.auditLog(ctx, userWallet)
	if err != nil {
		return 0, err
	}
	prev := ""
	for i, e := range entries {
		switch {
		case e.Event == "":
			return i, &AuditBreak{Index: i, Seq: e.Seq, Reason: "entry is not readable"}
		case e.Seq != int64(i+1) && i == 0 && head["base_seq"] != "":
			return i, &AuditBreak{Index: 0, Seq: e.Seq, Reason: fmt.Sprintf("entries 1 to %d left Redis for the audit sink, which does not have them", e.Seq-1)}
		case e.Seq != int64(i+1):
			return i, &AuditBreak{Index: i, Seq: e.Seq, Reason: fmt.Sprintf("sequence %d where %d was expected (an entry was removed or moved)", e.Seq, i+1)}
		case e.Prev != prev && i == 0:
			return i, &AuditBreak{Index: 0, Seq: e.Seq, Reason: "the first entry was edited: it claims a predecessor"}
		case e.Prev != prev:
			// The sequence is intact, so the entry before was edited in place.
			return i, &AuditBreak{Index: i - 1, Seq: entries[i-1].Seq, Reason: "was edited: the entry after it holds another hash of it"}
		}
		prev = e.Hash
	}
	if head["hash"] != prev || head["seq"] != fmt.Sprint(len(entries)) && !(len(entries) == 0 && head["seq"] == "") {
		return len(entries), &AuditBreak{Index: len(entries) - 1, Seq: int64(len(entries)),
			Reason: "the head does not match: the last entry was edited, or an entry after this one was removed"}
	}
	if b := head["base_seq"]; b != "" {
		n, _ := strconv.Atoi(b)
		if n > len(entries) || n > 0 && entries[n-1].Hash != head["base_hash"] {
			return n - 1, &AuditBreak{Index: n - 1, Seq: int64(n), Reason: "the audit sink holds another entry than the one that left Redis"}
		}
	}
	return len(entries), nil
}

// DrainAudit moves up to batch of a user_wallet's oldest audit entries from
// Redis to the audit sink: written there durably first, then removed from
// Redis only if they are still the oldest. It returns how many moved; without
// an audit sink, none.
func (s *Store) DrainAudit(ctx context.Context, userWallet string, batch int) (int, error) {
	if s.archive == nil {
		return 0, nil
	}
	if err := validWallet(userWallet); err != nil {
		return 0, err
	}
	entries, err := s.redisAudit(ctx, userWallet, int64(batch)-1)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	if err := s.archive.Archive(ctx, userWallet, entries); err != nil {
		return 0, fmt.Errorf("policy: audit sink: %w", err)
	}
	last := entries[len(entries)-1]
	if _, err := s.run(ctx, "audit_trim", userWallet, "audit", len(entries), last.Seq, last.Hash); err != nil {
		return 0, err
	}
	return len(entries), nil
}

// DrainAllAudit drains the audit entries of every user_wallet to the audit
// sink; it returns how many moved.
func (s *Store) DrainAllAudit(ctx context.Context) (int, error) {
	if s.archive == nil {
		return 0, nil
	}
	total := 0
	var cursor uint64
	for {
		wallets, next, err := s.rdb.SScan(ctx, s.walletsKey(), cursor, "", 500).Result()
		if err != nil {
			return total, fmt.Errorf("policy: drain audit: %w", err)
		}
		for _, w := range wallets {
			for {
				n, err := s.DrainAudit(ctx, w, 1000)
				total += n
				if err != nil {
					return total, err
				}
				if n < 1000 {
					break
				}
			}
		}
		if cursor = next; cursor == 0 {
			return total, nil
		}
	}
}

// DueKeys returns up to limit session keys whose expires_at has passed, for
// the sweeper. Its cost grows with the number of due keys, not of all keys.
func (s *Store) DueKeys(ctx context.Context, limit int64) ([]string, error) {
	now, err := s.Now(ctx)
	if err != nil {
		return nil, err
	}
	ids, err := s.rdb.ZRangeByScore(ctx, s.ExpiryKey(), &redisRange{Min: "-inf", Max: fmt.Sprint(now.UnixMilli()), Count: limit}).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: due keys: %w", err)
	}
	return ids, nil
}

// Forget removes a key from the expiry queue once it is final.
func (s *Store) Forget(ctx context.Context, id string) error {
	return s.rdb.ZRem(ctx, s.ExpiryKey(), id).Err()
}
