package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stipend/stipend/service"
)

// adminReconcile answers GET /admin/reconcile: every key whose chain and
// ledger disagree, both figures, and what the reconciler is doing about it.
func (h *Handler) adminReconcile(r *http.Request) (int, any, error) {
	rep, err := h.svc.Reconcile(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rep, nil
}

// reconCollector exports the reconciler's counters.
type reconCollector struct {
	svc        *service.Service
	mismatches *prometheus.Desc
	sweeps     *prometheus.Desc
}

func newReconCollector(svc *service.Service) *reconCollector {
	return &reconCollector{svc: svc,
		mismatches: prometheus.NewDesc("stipend_reconcile_mismatches",
			"Session keys whose token balance on chain and ledger disagreed at the last full check.", nil, nil),
		sweeps: prometheus.NewDesc("stipend_sweeps_total",
			"Sweeps of keys that may no longer spend, by outcome (confirmed, zero, failed, pending, waiting).", []string{"outcome"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *reconCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.mismatches
	ch <- c.sweeps
}

// Collect implements prometheus.Collector.
func (c *reconCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.svc.ReconMetrics()
	ch <- prometheus.MustNewConstMetric(c.mismatches, prometheus.GaugeValue, float64(m.Mismatches))
	for _, o := range []string{service.SweepConfirmed, service.SweepZero, service.SweepFailed, service.SweepPending, service.SweepWaiting} {
		ch <- prometheus.MustNewConstMetric(c.sweeps, prometheus.CounterValue, float64(m.Sweeps[o]), o)
	}
}
