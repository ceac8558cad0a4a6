// Package webhook delivers stipend's events to the operator's HTTPS
// endpoints, at least once, signed with HMAC-SHA256, and lets receivers
// verify what they get.
//
// # Where events come from
//
// Package policy appends every state change to a Redis Stream per
// user_wallet ("<prefix>:{<wallet>}:events"), inside the Lua script that
// makes the change. The set "<prefix>:wallets" lists every wallet with
// records, so every stream can be found.
//
// # Delivery
//
// A Dispatcher reads each wallet's stream through a consumer group, so
// several replicas (each with its own Consumer name) share the work and each
// entry is handled by one of them at a time. An entry stays pending in the
// group until every endpoint subscribed to its event has either answered
// 2xx or been given up on (dead-lettered); only then is it acknowledged.
//
// Per wallet, in the wallet's own hash tag (so the same code runs on Redis
// Cluster), two more keys hold the delivery state:
//
//	<prefix>:{<wallet>}:webhook:attempts  hash: entry id → JSON {endpoint → state}
//	<prefix>:{<wallet>}:webhook:retry     sorted set: entry id → due time (unix ms)
//
// The state of an (entry, endpoint) pair is "delivered", "dead" or a number
// of failed attempts with the time of the next one, so an event delivered
// to endpoint A but failing at endpoint B is retried at B only. The sorted
// set is the schedule: a failed entry is due again after an exponential
// backoff with jitter; before sending, a replica takes a lease on the entry
// by moving its score forward (one Lua script, which also checks that the
// entry is still pending), so two replicas never work on one entry at once
// and a replica that dies mid-delivery loses its lease after a while. Both
// keys live in Redis, so retries survive restarts.
//
// Entries read by a replica that died before taking a lease stay pending in
// the group and are taken over with XAUTOCLAIM once idle for ClaimIdle.
//
// After MaxAttempts failures at an endpoint the event is appended to the
// dead-letter stream "<prefix>:webhooks:dead" (fields wallet, entry,
// endpoint, event_id, event, body, error, attempts); the operator lists it
// with Dispatcher.Dead and resends with Dispatcher.Retry.
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
