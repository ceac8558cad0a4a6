package policy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Attach stores the signature and blockhash of a reserved payment's signed
// transaction, before it is sent. It refuses (conflict) a payment that is no
// longer reserved or already has a transaction (recovery abandoned it), and
// (revoked) one whose key was revoked since the reservation: then nothing may
// be sent. prev, when not empty, is the signature attached before, of a
// transaction the node refused for its unknown blockhash (it can never land):
// the new one replaces it.
func (s *Store) Attach(ctx context.Context, userWallet, paymentID, sig, blockhash, prev string) error {
	if validWallet(userWallet) != nil {
		return Errorf(CodeNotFound, "payment_id", "no payment %q", paymentID)
	}
	_, err := s.run(ctx, "attach", userWallet, "pay:"+paymentID, paymentID, "attach", sig, blockhash, prev)
	return err
}

// Abandon marks a reservation made before cutoff that never got its
// transaction (its process died between reserve and attach): nothing was
// sent, so the caller may release it. It reports whether the payment is (now)
// abandoned.
func (s *Store) Abandon(ctx context.Context, userWallet, paymentID string, cutoff time.Time) (bool, error) {
	if validWallet(userWallet) != nil {
		return false, Errorf(CodeNotFound, "payment_id", "no payment %q", paymentID)
	}
	r, err := runReply[abandonReply](ctx, s, "attach", userWallet, "pay:"+paymentID, paymentID, "abandon", ms(cutoff))
	if err != nil {
		return false, err
	}
	return r.Abandoned, nil
}

// Unsent is the signature an abandoned reservation carries: no transaction.
const Unsent = "-"

// ClaimApproval claims an approval link for one submission, keeping the
// signature and blockhash of the signed transaction it is about to send (both
// empty for a signed message).
func (s *Store) ClaimApproval(ctx context.Context, token, sig, blockhash string) (*Approval, error) {
	id, err := approvalID(token) // the store keeps only the token's hash
	if err != nil {
		if CodeOf(err) == CodeNotFound {
			return nil, Errorf(CodeNotFound, "token", "no such approval link")
		}
		return nil, err
	}
	a, err := s.approvalScript(ctx, id, "claim", sig, blockhash)
	if err != nil {
		return nil, err
	}
	a.Token = token
	return a, nil
}

// ProcessingApprovals returns the approvals of every user_wallet that were
// claimed by a submission and not finished or released: after a crash, the
// reconciler finishes them from their transaction's signature.
func (s *Store) ProcessingApprovals(ctx context.Context) ([]*Approval, error) {
	wallets, err := s.rdb.SMembers(ctx, s.walletsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: processing approvals: %w", err)
	}
	var out []*Approval
	for _, w := range wallets {
		tokens, err := s.rdb.ZRange(ctx, s.prefixOf(w)+"appr_processing", 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("policy: processing approvals: %w", err)
		}
		for _, t := range tokens {
			a, err := s.GetApprovalByID(ctx, t) // the set holds TokenIDs, never tokens
			if errors.Is(err, ErrNotFound) {
				if err := s.rdb.ZRem(ctx, s.prefixOf(w)+"appr_processing", t).Err(); err != nil {
					return nil, fmt.Errorf("policy: processing approvals: %w", err)
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// SweepState is where returning a key's tokens to its owner stands.
type SweepState struct {
	SessionKeyID string
	Status       Status
	// Signature and Blockhash of the sweep sent and not yet resolved; "" when none.
	Signature string
	Blockhash string
	// LastSignature is the last sweep that landed.
	LastSignature string
	// ZeroAt is when the chain confirmed a zero balance (zero time: not confirmed).
	ZeroAt time.Time
	// SecretDeletedAt is when the key's sealed secret was deleted.
	SecretDeletedAt time.Time
	HasSecret       bool
	Deleted         bool // this call deleted the sealed secret
}

// The actions of Sweep.
const (
	SweepGet    = "get"
	SweepBegin  = "begin"
	SweepClear  = "clear"
	SweepZero   = "zero"
	SweepDirty  = "dirty"
	SweepForget = "forget"
)

// Sweep reads or moves a key's sweep state (see scripts/sweep.lua): begin
// stores a sweep's signature before it is sent; clear resolves it; zero
// records a confirmed zero balance; forget deletes the sealed secret once
// that zero is older than a grace period.
func (s *Store) Sweep(ctx context.Context, id, action string, args ...any) (*SweepState, error) {
	r, err := keyScript[sweepReply](ctx, s, "sweep", id, append([]any{action}, args...)...)
	if err != nil {
		return nil, err
	}
	return r.state(), nil
}

// SweepQueueKey is the sorted set of keys whose tokens must go back to their
// owner, by the time of their next attempt (ms).
func (s *Store) SweepQueueKey() string { return s.prefix + ":sweep" }

// EnqueueSweep asks for a sweep of a key at (or after) at. An earlier time
// already queued wins.
func (s *Store) EnqueueSweep(ctx context.Context, id string, at time.Time) error {
	err := s.rdb.ZAddLT(ctx, s.SweepQueueKey(), redis.Z{Score: float64(at.UnixMilli()), Member: id}).Err()
	if err != nil {
		return fmt.Errorf("policy: enqueue sweep: %w", err)
	}
	return nil
}

// ScheduleSweep sets a key's next sweep attempt to at (queuing it if needed).
func (s *Store) ScheduleSweep(ctx context.Context, id string, at time.Time) error {
	if err := s.rdb.ZAdd(ctx, s.SweepQueueKey(), redis.Z{Score: float64(at.UnixMilli()), Member: id}).Err(); err != nil {
		return fmt.Errorf("policy: schedule sweep: %w", err)
	}
	return nil
}

// DueSweeps returns up to limit keys whose sweep attempt is due.
func (s *Store) DueSweeps(ctx context.Context, limit int64) ([]string, error) {
	now, err := s.Now(ctx)
	if err != nil {
		return nil, err
	}
	ids, err := s.rdb.ZRangeByScore(ctx, s.SweepQueueKey(), &redis.ZRangeBy{Min: "-inf",
		Max: strconv.FormatInt(now.UnixMilli(), 10), Count: limit}).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: due sweeps: %w", err)
	}
	return ids, nil
}

// SweepQueued returns every queued key with its next attempt.
func (s *Store) SweepQueued(ctx context.Context) (map[string]time.Time, error) {
	zs, err := s.rdb.ZRangeWithScores(ctx, s.SweepQueueKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: sweep queue: %w", err)
	}
	out := make(map[string]time.Time, len(zs))
	for _, z := range zs {
		if id, ok := z.Member.(string); ok {
			out[id] = time.UnixMilli(int64(z.Score)).UTC()
		}
	}
	return out, nil
}

// SweepDone takes a key off the sweep queue (its zero balance is confirmed).
func (s *Store) SweepDone(ctx context.Context, id string) error {
	if err := s.rdb.ZRem(ctx, s.SweepQueueKey(), id).Err(); err != nil {
		return fmt.Errorf("policy: sweep done: %w", err)
	}
	return nil
}

// Lock takes a short lease named name for ttl, so that replicas racing on
// the same work take turns; it reports whether this caller holds it. The
// lease lapses by itself: a holder that dies blocks nobody for long.
func (s *Store) Lock(ctx context.Context, name string, ttl time.Duration) (bool, func(), error) {
	key := s.prefix + ":lock:" + name
	val := NewID("")
	ok, err := s.rdb.SetNX(ctx, key, val, ttl).Result()
	if err != nil {
		return false, func() {}, fmt.Errorf("policy: lock %s: %w", name, err)
	}
	if !ok {
		return false, func() {}, nil
	}
	return true, func() {
		// Delete only our own lease (compare and delete in one step).
		// A lease left behind by a failed delete expires with its TTL.
		_ = unlockScript.Run(context.WithoutCancel(ctx), s.rdb, []string{key}, val).Err()
	}, nil
}

var unlockScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// KeyIDs returns the id of every session key.
func (s *Store) KeyIDs(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, s.allKeysKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: key ids: %w", err)
	}
	return ids, nil
}
