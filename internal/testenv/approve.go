package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/wallet"
)

// ApproveLink does over HTTP what the approval page does in the owner's
// browser: it reads the link's transaction, signs it with user's key (the
// product's signing code) and posts it; anything but 200 fails the test.
func ApproveLink(tb testing.TB, link string, user solana.PrivateKey) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, link, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	var v service.ApprovalView
	err = json.NewDecoder(resp.Body).Decode(&v)
	_ = resp.Body.Close() // read already
	if err != nil || v.Transaction == "" {
		tb.Fatalf("approval view: %+v %v", v, err)
	}
	kp, err := wallet.KeypairFromPrivateKey(user)
	if err != nil {
		tb.Fatal(err)
	}
	signed, err := kp.SignTransaction(v.Transaction)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := json.Marshal(service.Submission{SignedTransaction: signed})
	if err != nil {
		tb.Fatal(err)
	}
	resp, err = http.Post(link, "application/json", bytes.NewReader(body)) //nolint:noctx // a test's request, bounded by the server
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body) // the status says enough if the body is short
	_ = resp.Body.Close()         // read already
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("approve: %d %s", resp.StatusCode, b)
	}
}
