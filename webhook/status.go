package webhook

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// FailingAfter is how many attempts in a row must fail at an endpoint,
// across replicas and events, before it is reported failing; a 2xx clears it.
const FailingAfter = 3

// EndpointStatus is the delivery health of one endpoint, as recorded in
// Redis by every replica (in-flight requests: this replica's).
type EndpointStatus struct {
	// Name is the endpoint's name.
	Name string
	// Failing reports FailingAfter or more failed attempts in a row.
	Failing bool
	// ConsecutiveFailures counts the failed attempts since the last 2xx.
	ConsecutiveFailures int64
	// LastSuccess and LastFailure are the times of the last 2xx and of the
	// last failed attempt; zero when none was recorded.
	LastSuccess, LastFailure time.Time
	// LastError is the last failed attempt's error.
	LastError string
	// Backlog counts the events handed to the endpoint and not yet
	// delivered (nor dead-lettered).
	Backlog int64
	// Oldest is the time of the oldest of them; zero when there is none.
	Oldest time.Time
	// OldestAge is how long ago Oldest was; zero when there is none.
	OldestAge time.Duration
	// InFlight counts the requests to the endpoint in flight from this replica.
	InFlight int64
	// Slots, Timeout and RetryWindow are the endpoint's settings.
	Slots                int
	Timeout, RetryWindow time.Duration
}

func healthField(ep, f string) string { return ep + "|" + f }

// healthy records a 2xx at l's endpoint: at once after failures, else at
// most once a second.
func (d *Dispatcher) healthy(ctx context.Context, l *lane, now time.Time) {
	if l.fails.Load() == 0 && now.UnixMilli()-l.okSeen.Load() < 1000 {
		return
	}
	l.fails.Store(0)
	l.okSeen.Store(now.UnixMilli())
	err := d.rdb.HSet(ctx, d.healthKey, healthField(l.ep.Name, "failures"), 0,
		healthField(l.ep.Name, "last_ok"), now.UnixMilli()).Err()
	if err != nil {
		d.log.WarnContext(ctx, "webhook: record endpoint health", "endpoint", l.ep.Name, "err", err)
	}
}

// unhealthy records a failed attempt at l's endpoint.
func (d *Dispatcher) unhealthy(ctx context.Context, l *lane, now time.Time, msg string) {
	l.fails.Add(1)
	_, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HIncrBy(ctx, d.healthKey, healthField(l.ep.Name, "failures"), 1)
		p.HSet(ctx, d.healthKey, healthField(l.ep.Name, "last_fail"), now.UnixMilli(), healthField(l.ep.Name, "err"), msg)
		return nil
	})
	if err != nil {
		d.log.WarnContext(ctx, "webhook: record endpoint health", "endpoint", l.ep.Name, "err", err)
	}
}

// Status reports every configured endpoint's health and backlog. It reads
// two small keys per wallet and endpoint.
func (d *Dispatcher) Status(ctx context.Context) ([]EndpointStatus, error) {
	h, err := d.rdb.HGetAll(ctx, d.healthKey).Result()
	if err != nil {
		return nil, fmt.Errorf("webhook: read endpoint health: %w", err)
	}
	out := make([]EndpointStatus, len(d.lanes))
	ms := func(s string) time.Time {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}
		}
		return time.UnixMilli(n).UTC()
	}
	for i, l := range d.lanes {
		n, _ := strconv.ParseInt(h[healthField(l.ep.Name, "failures")], 10, 64)
		out[i] = EndpointStatus{Name: l.ep.Name, Failing: n >= FailingAfter, ConsecutiveFailures: n,
			LastSuccess: ms(h[healthField(l.ep.Name, "last_ok")]), LastFailure: ms(h[healthField(l.ep.Name, "last_fail")]),
			LastError: h[healthField(l.ep.Name, "err")], InFlight: l.flight.Load(),
			Slots: l.ep.Slots, Timeout: l.ep.Timeout, RetryWindow: l.ep.RetryWindow}
	}
	oldest := make([]int64, len(d.lanes))
	var cursor uint64
	for {
		wallets, next, err := d.events.ScanWallets(ctx, cursor, 512)
		if err != nil {
			return nil, fmt.Errorf("webhook: list wallets: %w", err)
		}
		type q struct {
			card  *redis.IntCmd
			first *redis.ZSliceCmd
		}
		qs := make([][]q, len(d.lanes))
		_, _ = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, l := range d.lanes {
				for _, w := range wallets {
					k := d.waitKey(w, l.ep.Name)
					qs[i] = append(qs[i], q{p.ZCard(ctx, k), p.ZRangeWithScores(ctx, k, 0, 0)})
				}
			}
			return nil
		})
		for i := range d.lanes {
			for _, c := range qs[i] {
				n, err := c.card.Result()
				if err != nil {
					return nil, fmt.Errorf("webhook: read backlog: %w", err)
				}
				out[i].Backlog += n
				if zs, err := c.first.Result(); err == nil && len(zs) == 1 {
					if t := int64(zs[0].Score); oldest[i] == 0 || t < oldest[i] {
						oldest[i] = t
					}
				}
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	now := d.now()
	for i := range out {
		if oldest[i] > 0 {
			out[i].Oldest = time.UnixMilli(oldest[i]).UTC()
			out[i].OldestAge = max(now.Sub(out[i].Oldest), 0)
		}
	}
	return out, nil
}

// metrics are the dispatcher's own Prometheus collectors (this replica's).
type metrics struct {
	deliveries *prometheus.CounterVec
	lag        *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stipend_webhook_attempts_total",
			Help: "Webhook delivery attempts by endpoint and outcome (delivered, failed, dead)."}, []string{"endpoint", "outcome"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stipend_webhook_delivery_lag_seconds",
			Help:    "Time from an event to its 2xx at the endpoint.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400}}, []string{"endpoint"}),
	}
}

func (m *metrics) outcome(ep, outcome string) { m.deliveries.WithLabelValues(ep, outcome).Inc() }

var (
	descFailing = prometheus.NewDesc("stipend_webhook_endpoint_failing",
		"1 while the endpoint's last attempts failed (FailingAfter or more in a row), else 0.", []string{"endpoint"}, nil)
	descFailures = prometheus.NewDesc("stipend_webhook_endpoint_consecutive_failures",
		"Failed attempts at the endpoint since its last 2xx.", []string{"endpoint"}, nil)
	descBacklog = prometheus.NewDesc("stipend_webhook_backlog_events",
		"Events handed to the endpoint and not yet delivered nor dead-lettered.", []string{"endpoint"}, nil)
	descOldest = prometheus.NewDesc("stipend_webhook_oldest_undelivered_age_seconds",
		"Age of the endpoint's oldest undelivered event; 0 when none.", []string{"endpoint"}, nil)
	descInFlight = prometheus.NewDesc("stipend_webhook_in_flight_requests",
		"Requests in flight to the endpoint from this replica.", []string{"endpoint"}, nil)
)

// Collector returns the dispatcher's Prometheus metrics: attempts by
// outcome, the lag from event to 2xx, and, read from Redis at each scrape,
// each endpoint's failing flag, backlog and oldest undelivered event's age.
func (d *Dispatcher) Collector() prometheus.Collector { return collector{d} }

type collector struct{ d *Dispatcher }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	c.d.metrics.deliveries.Describe(ch)
	c.d.metrics.lag.Describe(ch)
	for _, d := range []*prometheus.Desc{descFailing, descFailures, descBacklog, descOldest, descInFlight} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.d.metrics.deliveries.Collect(ch)
	c.d.metrics.lag.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sts, err := c.d.Status(ctx)
	if err != nil {
		c.d.log.Warn("webhook: status for metrics", "err", err)
		return
	}
	for _, s := range sts {
		failing := 0.0
		if s.Failing {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(descFailing, prometheus.GaugeValue, failing, s.Name)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.GaugeValue, float64(s.ConsecutiveFailures), s.Name)
		ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(s.Backlog), s.Name)
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, s.OldestAge.Seconds(), s.Name)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(s.InFlight), s.Name)
	}
}
