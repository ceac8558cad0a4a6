package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Errors of the operator's functions; compare with errors.Is.
var (
	// ErrUnknownEndpoint: no configured endpoint has that name.
	ErrUnknownEndpoint = errors.New("webhook: unknown endpoint")
	// ErrDeadLetterNotFound: no dead letter has that id.
	ErrDeadLetterNotFound = errors.New("webhook: dead letter not found")
)

// DeadLetter is an event given up on at one endpoint: failing for its
// whole retry window (or MaxAttempts times).
type DeadLetter struct {
	// ID is the dead letter's id in the dead-letter stream (for Retry).
	ID string
	// At is when it was dead-lettered.
	At time.Time
	// Wallet and Entry locate the event in its wallet's stream.
	Wallet, Entry string
	// Endpoint is the name of the endpoint that failed.
	Endpoint string
	// EventID and Event are the event's id and name.
	EventID, Event string
	// Body is the JSON body that was sent.
	Body []byte
	// Error is the last attempt's error.
	Error string
	// Attempts made before giving up.
	Attempts int
}

var streamID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

// deadLetter appends a failed event to the dead-letter stream.
func (d *Dispatcher) deadLetter(ctx context.Context, j job, ep Endpoint, eventID, event string, body []byte, st *epState) error {
	err := d.rdb.XAdd(ctx, &redis.XAddArgs{Stream: d.deadKey, MaxLen: d.cfg.DeadMaxLen, Approx: true, Values: []any{
		"wallet", j.wallet, "entry", j.entry, "endpoint", ep.Name, "event_id", eventID, "event", event,
		"body", body, "error", st.Err, "attempts", st.Attempts,
	}}).Err()
	if err != nil {
		return fmt.Errorf("webhook: add dead letter: %w", err)
	}
	return nil
}

func str(v map[string]any, k string) string { s, _ := v[k].(string); return s }

func toDeadLetter(m redis.XMessage) DeadLetter {
	n, _ := strconv.Atoi(str(m.Values, "attempts"))
	ms, _ := strconv.ParseInt(strings.SplitN(m.ID, "-", 2)[0], 10, 64)
	return DeadLetter{ID: m.ID, At: time.UnixMilli(ms).UTC(), Wallet: str(m.Values, "wallet"), Entry: str(m.Values, "entry"),
		Endpoint: str(m.Values, "endpoint"), EventID: str(m.Values, "event_id"), Event: str(m.Values, "event"),
		Body: []byte(str(m.Values, "body")), Error: str(m.Values, "error"), Attempts: n}
}

// Dead lists the newest dead letters, newest first, at most limit of them
// (100 if limit <= 0).
func (d *Dispatcher) Dead(ctx context.Context, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	ms, err := d.rdb.XRevRangeN(ctx, d.deadKey, "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("webhook: list dead letters: %w", err)
	}
	out := make([]DeadLetter, 0, len(ms))
	for _, m := range ms {
		out = append(out, toDeadLetter(m))
	}
	return out, nil
}

func (d *Dispatcher) endpoint(name string) (Endpoint, error) {
	for _, e := range d.cfg.Endpoints {
		if e.Name == name {
			return e, nil
		}
	}
	return Endpoint{}, fmt.Errorf("%w: %q", ErrUnknownEndpoint, name)
}

// Retry sends a dead letter again, now, with the same event id and body
// and a fresh signature. On success it removes the dead letter; on failure
// it leaves it and returns the error (wrapping ErrDelivery). It fails with
// ErrDeadLetterNotFound for an unknown id and ErrUnknownEndpoint when the
// dead letter's endpoint is no longer configured.
func (d *Dispatcher) Retry(ctx context.Context, deadID string) error {
	if !streamID.MatchString(deadID) {
		return fmt.Errorf("%w: %q is not a stream id", ErrDeadLetterNotFound, deadID)
	}
	ms, err := d.rdb.XRange(ctx, d.deadKey, deadID, deadID).Result()
	if err != nil {
		return fmt.Errorf("webhook: read dead letter %s: %w", deadID, err)
	}
	if len(ms) == 0 {
		return fmt.Errorf("%w: %s", ErrDeadLetterNotFound, deadID)
	}
	dl := toDeadLetter(ms[0])
	ep, err := d.endpoint(dl.Endpoint)
	if err != nil {
		return err
	}
	if err := d.send(ctx, ep, dl.EventID, dl.Event, dl.Body); err != nil {
		d.log.WarnContext(ctx, "webhook dead letter retry failed", "dead_id", deadID, "endpoint", ep.Name, "err", err)
		return err
	}
	if err := d.rdb.XDel(ctx, d.deadKey, deadID).Err(); err != nil {
		return fmt.Errorf("webhook: delivered dead letter %s but could not remove it: %w", deadID, err)
	}
	d.log.InfoContext(ctx, "webhook dead letter delivered", "dead_id", deadID, "endpoint", ep.Name, "event_id", dl.EventID)
	return nil
}

// TestEvent is the name of the event SendTest sends.
const TestEvent = "webhook.test"

// SendTest sends a signed "webhook.test" event to the endpoint named
// endpointName right away, once, and reports the outcome (an error
// wrapping ErrDelivery on failure, ErrUnknownEndpoint for an unknown name).
func (d *Dispatcher) SendTest(ctx context.Context, endpointName string) error {
	ep, err := d.endpoint(endpointName)
	if err != nil {
		return err
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := "evt_test_" + hex.EncodeToString(b)
	now := time.Now()
	data, _ := json.Marshal(map[string]string{"endpoint": ep.Name, "ts": strconv.FormatInt(now.UnixMilli(), 10),
		"message": "This is a test event from stipend."})
	body, _ := json.Marshal(Event{ID: id, Type: TestEvent, Created: now.Unix(), Data: data})
	return d.send(ctx, ep, id, TestEvent, body)
}
