package main

import (
	"log/slog"

	"github.com/gagliardetto/solana-go/rpc"

	"github.com/stipend/stipend/wallet"
)

// walletConfig is the chain configuration of a checked runtime: endpoints,
// token, fee payer and the compute budget every transaction carries.
func walletConfig(rt *Runtime, logger *slog.Logger) wallet.Config {
	return wallet.Config{
		RPCURL:          rt.RPCURL,
		FallbackRPCURLs: rt.RPCFallbackURLs,
		RPCTimeout:      rt.RPCTimeout,
		WSURL:           rt.WSURL,
		Commitment:      rpc.CommitmentType(rt.Commitment),
		Mint:            rt.Mint,
		Decimals:        uint8(rt.Decimals),
		TokenProgram:    rt.TokenProgram,
		FeePayer:        rt.FeePayer,
		FeePercentile:   rt.PriorityFeePercentile,
		MaxUnitPrice:    rt.PriorityFeeMax,
		UnitMargin:      rt.ComputeUnitMargin,
		Logger:          logger,
	}
}
