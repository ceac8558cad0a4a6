package wallet_test

import (
	"context"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go/rpc"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/wallet"
)

// TestConfirmByWebsocket: with a websocket endpoint, confirmation waits on
// signatureSubscribe: a payment that lands while Confirm waits is confirmed
// on its notification, with one status lookup before and one after, not by
// polling. With the websocket endpoint down, confirmation polls.
func TestConfirmByWebsocket(t *testing.T) {
	ln := testenv.Chain(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name       string
		ws         string
		minLookups int
		maxLookups int
	}{
		{"websocket", ln.WSURL, 1, 2},
		{"websocket down: polling", "ws://127.0.0.1:1", 3, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newFaultProxy(t, ln.URL, func(string, int) fault { return forward })
			c, err := wallet.New(wallet.Config{RPCURL: p.srv.URL, WSURL: tt.ws, Mint: ln.Mint, Decimals: ln.Decimals,
				ConfirmTimeout: 20 * time.Second, RPCTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			user := fundedWallet(t, ln, 10*usdc)
			key, _ := wallet.NewKeypair()
			recipient, _ := wallet.NewKeypair()
			fund(t, c, user, key.PublicKey(), 5*usdc)
			tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), usdc, "pay_ws")
			if err != nil {
				t.Fatal(err)
			}
			before := len(p.methodCalls("getSignatureStatuses"))
			confirmed := make(chan error, 1)
			go func() { confirmed <- c.Confirm(ctx, tx.Signatures[0]) }()
			time.Sleep(500 * time.Millisecond) // Confirm is waiting; now it lands (sent straight to the chain)
			if _, err := ln.Client().SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{}); err != nil {
				t.Fatal(err)
			}
			if err := <-confirmed; err != nil {
				t.Fatal(err)
			}
			n := len(p.methodCalls("getSignatureStatuses")) - before
			if n < tt.minLookups || n > tt.maxLookups {
				t.Fatalf("%d status lookups while confirming, want %d to %d", n, tt.minLookups, tt.maxLookups)
			}
			t.Logf("%d status lookups", n)
		})
	}
}

// TestWebsocketConfig refuses a websocket URL that is not ws(s).
func TestWebsocketConfig(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8900", "ws://", "::"} {
		if _, err := wallet.New(wallet.Config{RPCURL: "http://127.0.0.1:8899", WSURL: u, Mint: [32]byte{1}}); err == nil {
			t.Errorf("WSURL %q accepted", u)
		}
	}
}
