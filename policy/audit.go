package policy

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// Audit returns the audit log of a user_wallet, oldest first.
func (s *Store) Audit(ctx context.Context, userWallet string) ([]AuditEntry, error) {
	if err := validWallet(userWallet); err != nil {
		return nil, err
	}
	raws, err := s.rdb.LRange(ctx, s.Prefix(userWallet)+"audit", 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: audit: %w", err)
	}
	out := make([]AuditEntry, len(raws))
	for i, r := range raws {
		out[i].Raw = r
		h := sha1.Sum([]byte(r))
		out[i].Hash = hex.EncodeToString(h[:])
		_ = json.Unmarshal([]byte(r), &out[i]) // an entry that does not parse shows as a broken link
	}
	return out, nil
}

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

// VerifyAudit recomputes a user_wallet's audit chain. It returns nil when
// every entry holds the hash of the one before, the sequence has no gap, and
// the head holds the hash of the last entry; else an *AuditBreak naming the
// first broken link.
func (s *Store) VerifyAudit(ctx context.Context, userWallet string) (int, error) {
	entries, err := s.Audit(ctx, userWallet)
	if err != nil {
		return 0, err
	}
	head, err := s.rdb.HGetAll(ctx, s.Prefix(userWallet)+"audit:head").Result()
	if err != nil {
		return 0, fmt.Errorf("policy: audit head: %w", err)
	}
	prev := ""
	for i, e := range entries {
		switch {
		case e.Event == "":
			return i, &AuditBreak{Index: i, Seq: e.Seq, Reason: "entry is not readable"}
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
	return len(entries), nil
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
