package stipend

import (
	"context"
	"errors"
	"time"

	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/web"
	"github.com/stipend/stipend/webhook"
)

// webhookOps adapts the dispatcher to the admin API, with coded errors.
type webhookOps struct{ d *webhook.Dispatcher }

func (w webhookOps) SendTest(ctx context.Context, endpoint string) error {
	return webhookErr(w.d.SendTest(ctx, endpoint))
}

func (w webhookOps) DeadLetters(ctx context.Context, limit int) ([]web.DeadLetter, error) {
	ds, err := w.d.Dead(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]web.DeadLetter, 0, len(ds))
	for _, d := range ds {
		out = append(out, web.DeadLetter{ID: d.ID, At: d.At.UTC().Format(time.RFC3339), Wallet: d.Wallet, Endpoint: d.Endpoint,
			EventID: d.EventID, Event: d.Event, Error: d.Error, Attempts: d.Attempts})
	}
	return out, nil
}

func (w webhookOps) Status(ctx context.Context) ([]web.WebhookEndpoint, error) {
	sts, err := w.d.Status(ctx)
	if err != nil {
		return nil, err
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	out := make([]web.WebhookEndpoint, 0, len(sts))
	for _, s := range sts {
		state := "ok"
		if s.Failing {
			state = "failing"
		}
		out = append(out, web.WebhookEndpoint{Name: s.Name, State: state, ConsecutiveFailures: s.ConsecutiveFailures,
			LastSuccessAt: at(s.LastSuccess), LastFailureAt: at(s.LastFailure), LastError: s.LastError, Backlog: s.Backlog,
			OldestUndeliveredAt: at(s.Oldest), OldestUndeliveredAgeSeconds: int64(s.OldestAge.Seconds()), InFlight: s.InFlight,
			Slots: s.Slots, TimeoutSeconds: s.Timeout.Seconds(), RetryWindowSeconds: int64(s.RetryWindow.Seconds())})
	}
	return out, nil
}

func (w webhookOps) Retry(ctx context.Context, id string) error {
	return webhookErr(w.d.Retry(ctx, id))
}

func webhookErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, webhook.ErrUnknownEndpoint):
		return service.Errorf(service.CodeNotFound, "endpoint", "%v", err)
	case errors.Is(err, webhook.ErrDeadLetterNotFound):
		return service.Errorf(service.CodeNotFound, "id", "%v", err)
	case errors.Is(err, webhook.ErrDelivery):
		// The endpoint's URL (which may carry a secret) stays in the log.
		return &service.Error{Code: service.CodeUnavailable, Param: "endpoint", Cause: err,
			Message: "the webhook endpoint did not accept the event; see the server log"}
	}
	return err
}
