package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stipend/stipend/webhook"
)

// BenchmarkDelivery measures deliveries per second from the streams of 16
// wallets to one local receiver that verifies each signature, through the
// whole path: read by the group, lease, signed POST, acknowledgement.
func BenchmarkDelivery(b *testing.B) {
	e := newEnv(b)
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, err := webhook.VerifyRequest(req, "s"); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	cfg := fast(webhook.Endpoint{Name: "r", URL: srv.URL, Secret: "s"})
	cfg.Client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	d := e.dispatcher(cfg)

	const wallets = 16
	ws := make([]string, wallets)
	for i := range ws {
		ws[i] = wallet()
	}
	for i := range b.N {
		e.emit(ws[i%wallets], "payment.confirmed", map[string]string{"i": fmt.Sprint(i)})
	}
	b.ResetTimer()
	for got.Load() < int64(b.N) {
		if _, err := d.Poll(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	if p := e.pending("webhooks", ws...); p != 0 {
		b.Fatalf("%d entries pending", p)
	}
}
