package policy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

// scripts are compiled once: lib.lua followed by each script's own body.
var scripts = func() map[string]*redis.Script {
	lib, err := scriptFS.ReadFile("scripts/lib.lua")
	if err != nil {
		panic(err)
	}
	entries, err := scriptFS.ReadDir("scripts")
	if err != nil {
		panic(err)
	}
	out := map[string]*redis.Script{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".lua")
		if name == "lib" {
			continue
		}
		body, err := scriptFS.ReadFile("scripts/" + e.Name())
		if err != nil {
			panic(err)
		}
		out[name] = redis.NewScript(string(lib) + "\n" + string(body))
	}
	return out
}()

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
}

// Store is the ledger on Redis. It is safe for concurrent use; several
// processes may share one Redis.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	skew    int64
	idemTTL time.Duration
	archive AuditArchive
	owners  sync.Map // record id → user_wallet (immutable once written)
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
		archive: opts.AuditArchive}
}

// Redis returns the client the store runs on.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Prefix returns the key prefix of a user_wallet's records, with its hash tag.
func (s *Store) Prefix(userWallet string) string { return s.prefix + ":{" + userWallet + "}:" }

// EventsKey is the Redis Stream of a user_wallet's events.
func (s *Store) EventsKey(userWallet string) string { return s.Prefix(userWallet) + "events" }

// KeyPrefix is the prefix of every Redis key of the store ("stipend" by default).
func (s *Store) KeyPrefix() string { return s.prefix }

// WalletsKey is the set of every user_wallet with records (to find their event streams).
func (s *Store) WalletsKey() string { return s.prefix + ":wallets" }

// ExpiryKey is the sorted set of session keys by expires_at (ms), for the sweeper.
func (s *Store) ExpiryKey() string { return s.prefix + ":expiry" }

func (s *Store) indexKey(id string) string        { return s.prefix + ":idx:" + id }
func (s *Store) agentKeysKey(agent string) string { return s.prefix + ":agent:" + agent + ":keys" }
func (s *Store) allKeysKey() string               { return s.prefix + ":keys" }

// NewID returns a random identifier with a prefix such as "sk_" or "pay_".
func NewID(prefix string) string {
	// 22 characters of a 57-letter alphabet: about 128 bits, drawn without
	// bias by rejecting bytes at or above 228 (4 × 57).
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	out := make([]byte, 0, len(prefix)+22)
	out = append(out, prefix...)
	var buf [32]byte
	for len(out) < len(prefix)+22 {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand)
		for _, c := range buf {
			if c < 228 && len(out) < len(prefix)+22 {
				out = append(out, alphabet[c%57])
			}
		}
	}
	return string(out)
}

// validWallet refuses what cannot be a hash tag or an address.
func validWallet(w string) error {
	if w == "" || len(w) > 64 || strings.ContainsAny(w, "{}: \t\r\n") {
		return Errorf(CodeInvalidArgument, "user_wallet", "user_wallet is not a valid address")
	}
	return nil
}

func validID(id, prefix, param string) error {
	if !strings.HasPrefix(id, prefix) || len(id) > 64 || strings.ContainsAny(id, "{}: \t\r\n") {
		return Errorf(CodeNotFound, param, "no %s %q", param, id)
	}
	return nil
}

type scriptReply struct {
	OK    json.RawMessage `json:"ok"`
	Error *Error          `json:"error"`
}

// run executes one script for a user_wallet: one round trip (EVALSHA, or EVAL
// when Redis does not know the script yet) and decodes its reply.
func (s *Store) run(ctx context.Context, name, wallet, routeKey string, args ...any) (json.RawMessage, error) {
	argv := append([]any{s.Prefix(wallet), s.skew}, args...)
	res, err := scripts[name].Run(ctx, s.rdb, []string{s.Prefix(wallet) + routeKey}, argv...).Text()
	if err != nil {
		return nil, fmt.Errorf("policy: script %s: %w", name, err)
	}
	var rep scriptReply
	dec := json.NewDecoder(strings.NewReader(res))
	dec.UseNumber()
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("policy: script %s: bad reply: %w", name, err)
	}
	if rep.Error != nil {
		return nil, rep.Error
	}
	return rep.OK, nil
}

func decodeFields(raw json.RawMessage) (fields, error) {
	var f map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("policy: decode reply: %w", err)
	}
	return fields(f), nil
}

func (s *Store) runFields(ctx context.Context, name, wallet, routeKey string, args ...any) (fields, error) {
	raw, err := s.run(ctx, name, wallet, routeKey, args...)
	if err != nil {
		return nil, err
	}
	return decodeFields(raw)
}

// walletOf finds the user_wallet of a session key or session id. The mapping
// never changes once written, so it is cached and a hot path costs no extra
// round trip.
func (s *Store) walletOf(ctx context.Context, id, param string) (string, error) {
	if w, ok := s.owners.Load(id); ok {
		return w.(string), nil
	}
	w, err := s.rdb.Get(ctx, s.indexKey(id)).Result()
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
	ok, err := s.rdb.SetNX(ctx, s.indexKey(id), wallet, 0).Result()
	if err != nil {
		return fmt.Errorf("policy: index %s: %w", id, err)
	}
	if !ok {
		return Errorf(CodeConflict, "id", "%s already exists", id)
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, s.WalletsKey(), wallet)
		if key {
			p.SAdd(ctx, s.agentKeysKey(agent), id)
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

// NewKey describes a session key to create.
type NewKey struct {
	ID           string // empty: a new "sk_" id
	AgentID      string
	UserWallet   string
	Token        string
	Mint         string
	Decimals     int32
	Address      string
	PKPPublicKey string
	Attestation  string
	SealedSecret string
	MaxAmount    Amount
	ExpiresAt    time.Time
	DeviceHash   string // hex SHA-256 of the device fingerprint the key is bound to; "" = not bound
}

// CreateKey records a new session key in status pending_approval.
func (s *Store) CreateKey(ctx context.Context, k NewKey) (*SessionKey, error) {
	if k.ID == "" {
		k.ID = NewID("sk_")
	}
	if err := validWallet(k.UserWallet); err != nil {
		return nil, err
	}
	if k.AgentID == "" {
		return nil, Errorf(CodeInvalidArgument, "agent_id", "agent_id is required")
	}
	if k.MaxAmount <= 0 || k.MaxAmount > MaxAmount {
		return nil, Errorf(CodeInvalidArgument, "max_amount", "max_amount out of range")
	}
	if err := s.index(ctx, k.ID, k.UserWallet, k.AgentID, k.ExpiresAt, true); err != nil {
		return nil, err
	}
	f, err := s.runFields(ctx, "create_key", k.UserWallet, "sk:"+k.ID, k.ID, k.AgentID, k.UserWallet, k.Token,
		k.Mint, k.Decimals, k.Address, k.PKPPublicKey, k.Attestation, k.SealedSecret, units(k.MaxAmount), ms(k.ExpiresAt), k.DeviceHash)
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// SealedSecret returns the sealed secret of a session key (for the wallet layer to open).
func (s *Store) SealedSecret(ctx context.Context, id string) (string, error) {
	w, err := s.walletOf(ctx, id, "session_key_id")
	if err != nil {
		return "", err
	}
	v, err := s.rdb.HGet(ctx, s.Prefix(w)+"sk:"+id, "sealed_key").Result()
	if errors.Is(err, redis.Nil) {
		return "", Errorf(CodeNotFound, "session_key_id", "no session key %q", id)
	}
	if err != nil {
		return "", fmt.Errorf("policy: sealed secret: %w", err)
	}
	return v, nil
}

func (s *Store) keyScript(ctx context.Context, name, id string, args ...any) (fields, error) {
	if err := validID(id, "sk_", "session_key_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, id, "session_key_id")
	if err != nil {
		return nil, err
	}
	return s.runFields(ctx, name, w, "sk:"+id, append([]any{id}, args...)...)
}

// Activate turns a pending key active once its funding transfer (signature sig,
// amount funded) is confirmed on chain.
func (s *Store) Activate(ctx context.Context, id, sig string, funded Amount) (*SessionKey, error) {
	f, err := s.keyScript(ctx, "activate", id, sig, units(funded), "0")
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// TopUp adds a confirmed top-up (signature sig) to a key's max_amount; an
// exhausted key is active again. A signature counts once.
func (s *Store) TopUp(ctx context.Context, id string, amount Amount, sig string) (*SessionKey, error) {
	if amount <= 0 || amount > MaxAmount {
		return nil, Errorf(CodeInvalidArgument, "amount", "amount out of range")
	}
	f, err := s.keyScript(ctx, "top_up", id, units(amount), sig, "0")
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// CheckActivate answers whether a key may still be funded with this amount
// (pending, unexpired, the amount it was created for), changing nothing: the
// same rules as Activate, asked before the owner's transfer is sent.
func (s *Store) CheckActivate(ctx context.Context, id string, funded Amount) (*SessionKey, error) {
	f, err := s.keyScript(ctx, "activate", id, "", units(funded), "1")
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// CheckTopUp answers whether a key may take a top-up of this amount,
// changing nothing: the same rules as TopUp, asked before a top-up is issued
// or sent.
func (s *Store) CheckTopUp(ctx context.Context, id string, amount Amount) (*SessionKey, error) {
	if amount <= 0 || amount > MaxAmount {
		return nil, Errorf(CodeInvalidArgument, "amount", "amount out of range")
	}
	f, err := s.keyScript(ctx, "top_up", id, units(amount), "", "1")
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// Revoke makes a key revoked, at once and for good. agent "" is the owner or operator.
func (s *Store) Revoke(ctx context.Context, agent, id, reason string) (*SessionKey, error) {
	f, err := s.keyScript(ctx, "revoke", id, agent, reason)
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// Expire turns a key past its expires_at into expired; it reports whether this call did it.
func (s *Store) Expire(ctx context.Context, id string) (bool, *SessionKey, error) {
	f, err := s.keyScript(ctx, "expire", id)
	if err != nil {
		return false, nil, err
	}
	return f["expired"] == true, f.sub("key").sessionKey(), nil
}

// GetKey returns a session key as the agent (or the owner, agent "") may see
// it, with its linked session if any. Expiry shows even before the sweeper ran.
func (s *Store) GetKey(ctx context.Context, agent, id string) (*SessionKey, *Session, error) {
	f, err := s.getKey(ctx, agent, id, "", "0")
	if err != nil {
		return nil, nil, err
	}
	var sess *Session
	if sf := f.sub("session"); sf != nil {
		sess = sf.session()
	}
	return f.sub("key").sessionKey(), sess, nil
}

// KeyForPayment returns what the service needs to sign a payment, in one
// round trip: the key as the agent may see it (RecipientPaid telling whether
// it ever paid recipient, for the risk score) and its sealed secret.
func (s *Store) KeyForPayment(ctx context.Context, agent, id, recipient string) (*SessionKey, string, error) {
	f, err := s.getKey(ctx, agent, id, recipient, "1")
	if err != nil {
		return nil, "", err
	}
	return f.sub("key").sessionKey(), f.str("sealed_key"), nil
}

func (s *Store) getKey(ctx context.Context, agent, id, recipient, sealed string) (fields, error) {
	if err := validID(id, "sk_", "session_key_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, id, "session_key_id")
	if err != nil {
		return nil, err
	}
	return s.runFields(ctx, "get", w, "sk:"+id, "sk", id, agent, recipient, sealed)
}

// GetSession returns a session with its window usage.
func (s *Store) GetSession(ctx context.Context, agent, id string) (*Session, error) {
	if err := validID(id, "sess_", "session_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, id, "session_id")
	if err != nil {
		return nil, err
	}
	f, err := s.runFields(ctx, "get", w, "as:"+id, "as", id, agent, "", "0")
	if err != nil {
		return nil, err
	}
	return f.sub("session").session(), nil
}

// ListKeys returns the session keys of an agent ("" for every agent), newest first.
func (s *Store) ListKeys(ctx context.Context, agent string) ([]*SessionKey, error) {
	set := s.allKeysKey()
	if agent != "" {
		set = s.agentKeysKey(agent)
	}
	ids, err := s.rdb.SMembers(ctx, set).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: list keys: %w", err)
	}
	out := make([]*SessionKey, 0, len(ids))
	for _, id := range ids {
		k, _, err := s.GetKey(ctx, agent, id)
		if errors.Is(err, ErrNotFound) {
			continue // indexed but its record was never written
		}
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	sortKeys(out)
	return out, nil
}

func sortKeys(ks []*SessionKey) {
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j].CreatedAt.After(ks[j-1].CreatedAt); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
}

// NewSession describes an agent session to create.
type NewSession struct {
	ID                   string // empty: a new "sess_" id
	AgentID              string
	UserWallet           string
	Limits               Limits
	RequireApprovalAbove Amount
	AllowedRecipients    []string
	ExpiresAt            time.Time
	// Mint is the token the limits are in: only keys of this mint link to
	// the session (token_mismatch). Empty: keys of any mint (sessions made
	// before a server offered several tokens).
	Mint string
}

// CreateSession records a new agent session.
func (s *Store) CreateSession(ctx context.Context, n NewSession) (*Session, error) {
	if n.ID == "" {
		n.ID = NewID("sess_")
	}
	if err := validWallet(n.UserWallet); err != nil {
		return nil, err
	}
	if n.AgentID == "" {
		return nil, Errorf(CodeInvalidArgument, "agent_id", "agent_id is required")
	}
	for _, l := range []struct {
		a Amount
		n string
	}{{n.Limits.PerTransaction, "max_per_transaction"}, {n.Limits.PerDay, "max_per_day"},
		{n.Limits.PerWeek, "max_per_week"}, {n.Limits.PerMonth, "max_per_month"},
		{n.RequireApprovalAbove, "require_approval_above"}} {
		if l.a < 0 || l.a > MaxAmount {
			return nil, Errorf(CodeInvalidArgument, l.n, "%s out of range", l.n)
		}
	}
	if err := s.index(ctx, n.ID, n.UserWallet, n.AgentID, n.ExpiresAt, false); err != nil {
		return nil, err
	}
	args := []any{n.ID, n.AgentID, n.UserWallet, units(n.Limits.PerTransaction), units(n.Limits.PerDay),
		units(n.Limits.PerWeek), units(n.Limits.PerMonth), units(n.RequireApprovalAbove), ms(n.ExpiresAt), n.Mint}
	for _, r := range n.AllowedRecipients {
		args = append(args, r)
	}
	f, err := s.runFields(ctx, "create_session", n.UserWallet, "as:"+n.ID, args...)
	if err != nil {
		return nil, err
	}
	return f.session(), nil
}

// Link links a session key to a session of the same user_wallet and agent;
// from then on a payment must pass both. agent "" is the owner or operator.
func (s *Store) Link(ctx context.Context, agent, keyID, sessionID string) (*SessionKey, error) {
	if err := validID(sessionID, "sess_", "session_id"); err != nil {
		return nil, err
	}
	kw, err := s.walletOf(ctx, keyID, "session_key_id")
	if err != nil {
		return nil, err
	}
	sw, err := s.walletOf(ctx, sessionID, "session_id")
	if err != nil {
		return nil, err
	}
	if kw != sw {
		return nil, Errorf(CodeConflict, "session_id", "session %s belongs to another user_wallet", sessionID)
	}
	f, err := s.keyScript(ctx, "link", keyID, sessionID, agent)
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// Unlink removes a key's policy layer. Only the owner (after a signed
// approval) or the operator may: agent must be "".
func (s *Store) Unlink(ctx context.Context, agent, keyID string) (*SessionKey, error) {
	f, err := s.keyScript(ctx, "unlink", keyID, agent)
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// SetLimits changes a session's limits. Only the owner (after a signed
// approval) or the operator may: agent must be "".
func (s *Store) SetLimits(ctx context.Context, agent, sessionID string, l Limits, approvalAbove Amount) (*Session, error) {
	if err := validID(sessionID, "sess_", "session_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, sessionID, "session_id")
	if err != nil {
		return nil, err
	}
	f, err := s.runFields(ctx, "set_limits", w, "as:"+sessionID, sessionID, agent, units(l.PerTransaction),
		units(l.PerDay), units(l.PerWeek), units(l.PerMonth), units(approvalAbove))
	if err != nil {
		return nil, err
	}
	return f.session(), nil
}

// Mode says whether a decision only checks or also reserves.
type Mode string

// The modes of a decision.
const (
	ModeCheck   Mode = "check"
	ModeReserve Mode = "reserve"
)

// PaymentRequest asks the ledger to check or reserve a payment.
type PaymentRequest struct {
	Mode           Mode
	SessionKeyID   string // either a session key ...
	SessionID      string // ... or a session alone (the owner's own wallet pays)
	AgentID        string // "" for the owner or operator
	Amount         Amount
	Recipient      string
	PaymentID      string // empty: a new "pay_" id
	IdempotencyKey string
	Signature      string // the payment transaction's signature, known before it is sent
	Description    string
	Blockhash      string // the transaction's recent blockhash
	Approved       bool   // the owner approved this PaymentID
	Risky          bool   // the service's risk check asks for the owner's approval
	DeviceHash     string // hex SHA-256 of the device fingerprint presented (HashDevice); "" = none
}

// Fingerprint is what an idempotency key is bound to: the same key with other
// arguments is a conflict.
func (r PaymentRequest) Fingerprint() string {
	h := sha256.Sum256([]byte(strings.Join([]string{r.SessionKeyID, r.SessionID, units(r.Amount), r.Recipient, r.Description}, "\x00")))
	return hex.EncodeToString(h[:16])
}

// Decide runs the payment decision in one round trip: every check, and in
// ModeReserve the reservation against the key's balance and every window.
func (s *Store) Decide(ctx context.Context, r PaymentRequest) (*Decision, error) {
	kind, id, param, pfx := "sk", r.SessionKeyID, "session_key_id", "sk_"
	if r.SessionKeyID == "" {
		kind, id, param, pfx = "as", r.SessionID, "session_id", "sess_"
	} else if r.SessionID != "" {
		return nil, Errorf(CodeInvalidArgument, "session_id", "give session_key_id or session_id, not both")
	}
	if id == "" {
		return nil, Errorf(CodeInvalidArgument, param, "session_key_id or session_id is required")
	}
	if err := validID(id, pfx, param); err != nil {
		return nil, err
	}
	if r.Amount <= 0 || r.Amount > MaxAmount {
		return nil, Errorf(CodeInvalidArgument, "amount", "amount out of range")
	}
	if r.Mode != ModeCheck && r.Mode != ModeReserve {
		return nil, Errorf(CodeInvalidArgument, "mode", "unknown mode %q", r.Mode)
	}
	if r.PaymentID == "" && r.Mode == ModeReserve {
		r.PaymentID = NewID("pay_")
	}
	w, err := s.walletOf(ctx, id, param)
	if err != nil {
		return nil, err
	}
	raw, err := s.run(ctx, "decide", w, kind+":"+id, string(r.Mode), kind, id, r.AgentID, units(r.Amount),
		r.Recipient, r.PaymentID, r.IdempotencyKey, r.Fingerprint(), r.Signature, r.Description,
		boolArg(r.Approved), s.idemTTL.Milliseconds(), boolArg(r.Risky), r.Blockhash, r.DeviceHash)
	if err != nil {
		return nil, err
	}
	var rep decisionReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, fmt.Errorf("policy: decide: bad reply: %w", err)
	}
	return rep.decision(), nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Commit records that a reserved payment landed on chain. Committing twice changes nothing.
func (s *Store) Commit(ctx context.Context, userWallet, paymentID string) (*Payment, error) {
	return s.runPayment(ctx, "commit", userWallet, paymentID, s.idemTTL.Milliseconds())
}

// Release gives back what a payment held, once it is known never to land (or
// its approval was refused or lapsed).
func (s *Store) Release(ctx context.Context, userWallet, paymentID, reason string) (*Payment, error) {
	return s.runPayment(ctx, "release", userWallet, paymentID, reason, s.idemTTL.Milliseconds())
}

// runPayment runs a script that answers a payment record (text fields),
// decoded straight into a map of strings: commit and release are hot.
func (s *Store) runPayment(ctx context.Context, name, userWallet, paymentID string, args ...any) (*Payment, error) {
	if validWallet(userWallet) != nil {
		return nil, Errorf(CodeNotFound, "payment_id", "no payment %q", paymentID)
	}
	raw, err := s.run(ctx, name, userWallet, "pay:"+paymentID, append([]any{paymentID}, args...)...)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("policy: %s: bad reply: %w", name, err)
	}
	f := fields{}
	for k, v := range m {
		f[k] = v
	}
	return f.payment(), nil
}

// GetPayment returns a payment of a user_wallet.
func (s *Store) GetPayment(ctx context.Context, userWallet, paymentID string) (*Payment, error) {
	if validWallet(userWallet) != nil {
		return nil, Errorf(CodeNotFound, "payment_id", "no payment %q", paymentID)
	}
	m, err := s.rdb.HGetAll(ctx, s.Prefix(userWallet)+"pay:"+paymentID).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: get payment: %w", err)
	}
	if len(m) == 0 {
		return nil, Errorf(CodeNotFound, "payment_id", "no payment %q", paymentID)
	}
	f := fields{}
	for k, v := range m {
		f[k] = v
	}
	return f.payment(), nil
}

// InFlight returns the reserved payments of every user_wallet: after a crash
// between reserve and confirm, the service looks each signature up.
func (s *Store) InFlight(ctx context.Context) ([]*Payment, error) {
	wallets, err := s.rdb.SMembers(ctx, s.WalletsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: in flight: %w", err)
	}
	var out []*Payment
	for _, w := range wallets {
		ids, err := s.rdb.ZRange(ctx, s.Prefix(w)+"inflight", 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("policy: in flight: %w", err)
		}
		for _, id := range ids {
			p, err := s.GetPayment(ctx, w, id)
			if err != nil {
				continue
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// WithClockSkew returns a Store on the same Redis whose clock runs d ahead.
// Tests use it to move time; production never does.
func (s *Store) WithClockSkew(d time.Duration) *Store {
	return &Store{rdb: s.rdb, prefix: s.prefix, skew: d.Milliseconds(), idemTTL: s.idemTTL, archive: s.archive}
}

type redisRange = redis.ZRangeBy
