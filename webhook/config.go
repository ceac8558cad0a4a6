package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/stipend/stipend/policy"
)

// Endpoint is a receiver of webhooks.
type Endpoint struct {
	// Name identifies the endpoint in the delivery state, the dead letters
	// and the operator's commands; it must be unique. Renaming an endpoint
	// leaves its undelivered events behind, under the old name.
	Name string
	// URL receives a POST per event (http or https).
	URL string
	// Secret signs the requests (HMAC-SHA256).
	Secret string
	// Events the endpoint subscribes to, by exact name; empty or "*" means all.
	Events []string
	// Timeout of one attempt at this endpoint (the whole HTTP exchange);
	// Config.Timeout when zero.
	Timeout time.Duration
	// RetryWindow is how long an event is retried at this endpoint after
	// its first failed attempt before it is dead-lettered;
	// Config.RetryWindow when zero.
	RetryWindow time.Duration
	// Slots bounds the requests in flight to this endpoint (per replica);
	// Config.PerEndpoint when zero.
	Slots int
}

// Wants reports whether the endpoint subscribes to event.
func (e Endpoint) Wants(event string) bool {
	return len(e.Events) == 0 || slices.Contains(e.Events, event) || slices.Contains(e.Events, "*")
}

// Config configures a Dispatcher. Zero fields take their defaults.
type Config struct {
	// Endpoints to deliver to.
	Endpoints []Endpoint
	// Decimals of the token, to write amounts in the API's dialect; 6 by default.
	Decimals int32
	// DecimalsOf, when set, returns the decimals of an event's token from its
	// data as the ledger recorded it (its session key's or session's token),
	// for a server offering several tokens; Decimals otherwise.
	DecimalsOf func(ctx context.Context, data []byte) int32
	// MaxAttempts, when positive, also dead-letters an event after that
	// many failed attempts at one endpoint, even inside its RetryWindow;
	// 0 (the default) retries for the whole window.
	MaxAttempts int
	// Timeout of one attempt (the whole HTTP exchange), for endpoints that
	// set none; 10s by default.
	Timeout time.Duration
	// RetryWindow is how long a failing event is retried after its first
	// failed attempt, for endpoints that set none; 72h (three days) by default.
	RetryWindow time.Duration
	// BaseBackoff is the delay after the first failure; each further failure
	// doubles it, up to MaxBackoff, with jitter (a delay d is drawn from
	// [d/2, d]). 1s by default.
	BaseBackoff time.Duration
	// MaxBackoff caps each delay between attempts; 1h by default.
	MaxBackoff time.Duration
	// Group is the consumer group on the event streams; "webhooks" by default.
	Group string
	// Consumer names this replica in the group; "<hostname>-<pid>" by default.
	Consumer string
	// ClaimIdle is how long an entry read by another replica may sit
	// unprocessed before this replica takes it over (XAUTOCLAIM); 1m by default.
	ClaimIdle time.Duration
	// PollInterval is how long Run waits between rounds when nothing wakes
	// it (Notify, a slot freeing up with events waiting); 250ms by default.
	PollInterval time.Duration
	// Batch is how many entries per wallet and source (new, reclaimed,
	// due) one round reads; 100 by default.
	Batch int
	// PerEndpoint is the default of Endpoint.Slots: the requests in flight
	// to one endpoint. Each endpoint has its own slots and its own queue of
	// due events, fed as slots free up, so a slow or failing endpoint never
	// holds another's. 8 by default.
	PerEndpoint int
	// DeadMaxLen caps the dead-letter stream (approximately); 100000 by default.
	DeadMaxLen int64
	// Client sends the requests; by default an http.Client that does not
	// follow redirects (a 3xx is a failure).
	Client *http.Client
}

// DefaultRetryWindow is how long a failing event is retried by default:
// three days, as Stripe does.
const DefaultRetryWindow = 72 * time.Hour

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("webhook: invalid config")

func (c Config) withDefaults() (Config, error) {
	if c.MaxAttempts < 0 {
		c.MaxAttempts = 0
	}
	if c.Decimals <= 0 {
		c.Decimals = policy.USDCDecimals
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.RetryWindow <= 0 {
		c.RetryWindow = DefaultRetryWindow
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Hour
	}
	if c.MaxBackoff < c.BaseBackoff {
		c.MaxBackoff = c.BaseBackoff
	}
	if c.Group == "" {
		c.Group = "webhooks"
	}
	if c.Consumer == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "stipend"
		}
		c.Consumer = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.ClaimIdle <= 0 {
		c.ClaimIdle = time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = 8
	}
	if c.DeadMaxLen <= 0 {
		c.DeadMaxLen = 100_000
	}
	if c.Client == nil {
		c.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	seen := map[string]bool{}
	for i, e := range c.Endpoints {
		if e.Name == "" {
			return c, fmt.Errorf("%w: endpoint %d has no name", ErrConfig, i)
		}
		if seen[e.Name] {
			return c, fmt.Errorf("%w: endpoint name %q used twice", ErrConfig, e.Name)
		}
		seen[e.Name] = true
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("%w: endpoint %q: URL %q is not an http(s) URL", ErrConfig, e.Name, e.URL)
		}
		if e.Secret == "" {
			return c, fmt.Errorf("%w: endpoint %q has no secret", ErrConfig, e.Name)
		}
		if e.Timeout < 0 || e.RetryWindow < 0 || e.Slots < 0 {
			return c, fmt.Errorf("%w: endpoint %q: timeout, retry window and slots must not be negative", ErrConfig, e.Name)
		}
	}
	c.Endpoints = slices.Clone(c.Endpoints)
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		if e.Timeout == 0 {
			e.Timeout = c.Timeout
		}
		if e.RetryWindow == 0 {
			e.RetryWindow = c.RetryWindow
		}
		if e.Slots == 0 {
			e.Slots = c.PerEndpoint
		}
	}
	return c, nil
}
