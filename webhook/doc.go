// Package webhook delivers stipend's events to the operator's HTTPS
// endpoints, at least once, signed with HMAC-SHA256, and lets receivers
// verify what they get.
//
// # Where events come from
//
// Package policy appends every state change to a Redis Stream per
// user_wallet, inside the Lua script that makes the change, while webhooks
// read them (a store made WithoutEvents, as serve makes it with no endpoint
// configured, appends none: an endpoint configured later receives the
// events from then on). The dispatcher reads them through policy's
// EventReader: the wallets with records, each one's stream, and the names
// of its own records in the stream's slot; it never builds a key name of
// the ledger's.
//
// # Delivery
//
// A Dispatcher reads each wallet's stream through a consumer group, so
// several replicas (each with its own Consumer name) share the work. An
// entry read is handed in one Lua script to every endpoint subscribed to its
// event (put on the endpoint's schedule, due now) and acknowledged in the
// group; from then on each endpoint delivers it on its own. Per wallet and
// endpoint, in the wallet's own slot (EventReader.Key, so the same code runs
// on Redis Cluster):
//
//	webhook:q:<endpoint>     sorted set: entry id → due time (unix ms)
//	webhook:wait:<endpoint>  sorted set: entry id → the event's time, until done
//	webhook:state            hash: "<endpoint>|<entry id>" → failed attempts, first failure, last error
//
// so an event delivered to endpoint A but failing at B is retried at B
// only. Each endpoint has its own slots (Endpoint.Slots requests in flight
// per replica) and its own queue of due events, refilled as slots free up:
// events wait for a free slot, never a back-off for being busy, and a slow,
// failing or backlogged endpoint never holds another's deliveries. Before
// sending, a replica takes a lease on the (entry, endpoint) pair by moving
// its due time forward (one Lua script, which also reads the entry), so two
// replicas never send it at once and a replica that dies mid-delivery loses
// its lease after twice the attempt's timeout. Everything lives in Redis,
// so retries survive restarts. Rounds run when Notify is called (the
// service calls it after every change), when an endpoint's queue runs low
// with more due, and every PollInterval.
//
// A failed attempt is due again after an exponential backoff with jitter
// (BaseBackoff doubling per failure, capped at MaxBackoff, each wait drawn
// from [d/2, d]) for RetryWindow after the first failure (72 hours by
// default); then the event is appended to the dead-letter stream
// "<prefix>:webhooks:dead" (fields wallet, entry, endpoint, event_id, event,
// body, error, attempts); the operator lists it with Dispatcher.Dead and
// resends with Dispatcher.Retry. Dispatcher.Status reports each endpoint's
// health (failing after FailingAfter failed attempts in a row), backlog and
// oldest undelivered event; Dispatcher.Collector exports the same to
// Prometheus.
//
// Entries read by a replica that died before handing them out stay pending
// in the group and are taken over with XAUTOCLAIM once idle for ClaimIdle.
// A stream is trimmed up to the oldest entry still pending in a group or
// waiting at an endpoint.
//
// Delivery is at least once: a replica that dies after an endpoint answered
// but before it recorded the answer sends that event again. Receivers
// de-duplicate on the Stipend-Event-Id header (or the body's "id"), which is
// the same on every attempt. Events of one wallet are not ordered across
// retries.
//
// # Requests
//
// Each delivery is a POST of an Event as JSON, with the headers
// Stipend-Event-Id, Stipend-Event and Stipend-Signature. The signature
// follows Stripe's scheme: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
// "<t>.<body>")>". Receivers check it with Verify or VerifyRequest, which
// accept several v1 values (to rotate secrets) and refuse timestamps older
// or newer than a tolerance (five minutes by default).
package webhook
