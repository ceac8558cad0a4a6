package service

import (
	"encoding/base64"

	"github.com/stipend/stipend/wallet"
)

// networkFee reads the network fee of an issued transaction from its message
// bytes (base64), as the runtime will charge it: "0.000005060 SOL". It is
// "" when the message cannot be read or sets no compute budget.
func networkFee(messageB64 string) string {
	msg, err := base64.StdEncoding.DecodeString(messageB64)
	if err != nil {
		return ""
	}
	b, err := wallet.MessageBudget(msg)
	if err != nil {
		return ""
	}
	return wallet.LamportsSOL(b.Fee()) + " SOL"
}
