package stipend

import (
	"context"
	"errors"
	"fmt"
	"time"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/localnet"
	"github.com/stipend/stipend/service"
)

// paidFetch is the demo's x402 step: a seller that answers 402 (Express with
// @x402/express and the @x402/svm facilitator, on the local chain), and the
// agent buying one answer with fetch_paid from a fresh 1 USDC key.
func (d *demo) paidFetch(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	seller, err := localnet.StartSeller(sctx, d.chain.URL, nil)
	cancel()
	if errors.Is(err, localnet.ErrX402NotInstalled) {
		d.printf("\n(x402 step skipped: %v)\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = seller.Close() }() // shutting down: nothing to do about a failed close
	d.printf("\n  x402 seller     %s (GET /weather for 0.01 USDC, paid to %s)\n", seller.URL, seller.PayTo)

	d.say("Agent calls create_session_key (1 USDC) for paid web requests; the human approves")
	var created service.KeyCreated
	created.KeyView = &service.KeyView{}
	if err := d.tool(ctx, "create_session_key", map[string]any{"user_wallet": d.user.PublicKey().String(),
		"max_amount": "1", "expiry_hours": 1}, &created); err != nil {
		return err
	}
	if _, err := d.approve(ctx, created.ApprovalURL); err != nil {
		return err
	}

	d.say("Agent calls fetch_paid: GET " + seller.URL + "/weather, paying at most 0.05 USDC")
	var got service.FetchResult
	start := time.Now()
	if err := d.tool(ctx, "fetch_paid", map[string]any{"url": seller.URL + "/weather", "session_key_id": created.SessionKeyID,
		"max_amount": "0.05", "idempotency_key": "weather-1"}, &got); err != nil {
		return err
	}
	took := time.Since(start)
	if got.Status != "paid" || got.HTTPStatus != 200 {
		return fmt.Errorf("fetch_paid: status %q, HTTP %d (%s)", got.Status, got.HTTPStatus, got.Reason)
	}
	d.printf("     → the server answered 402 with an x402 offer of %s USDC; the key signed it, the facilitator settled it\n", got.Amount)
	d.printf("     → HTTP %d %s: %s\n", got.HTTPStatus, got.ContentType, got.Body)
	d.printf("     → paid: payment %s, transaction %s, in %s\n", got.PaymentID, short(got.TransactionSignature), took.Round(time.Millisecond))
	bal, err := d.app.core.Chain.TokenBalance(ctx, seller.PayTo)
	if err != nil {
		return err
	}
	keyBal, err := d.app.core.Chain.TokenBalance(ctx, solana.MustPublicKeyFromBase58(created.SessionKeyAddress))
	if err != nil {
		return err
	}
	if bal != 10_000 || keyBal != 990_000 {
		return fmt.Errorf("after fetch_paid: seller holds %d, key %d base units", bal, keyBal)
	}
	d.printf("     → on chain: seller 0.01 USDC, key 0.99 USDC (remaining %s in the ledger)\n", got.RemainingAmount)
	return nil
}
