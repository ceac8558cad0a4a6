package wallet

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"

	solana "github.com/gagliardetto/solana-go"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/rpc"
)

// Compute-budget defaults, applied by New to zero Config fields.
const (
	// DefaultFeePercentile is the percentile of recent prioritization fees a
	// transaction bids when Config.FeePercentile is zero.
	DefaultFeePercentile = 75
	// DefaultMaxUnitPrice caps the unit price (micro-lamports per compute unit)
	// when Config.MaxUnitPrice is zero: 1,000,000, one lamport a unit, so a
	// 40,000-unit payment pays at most 0.00004 SOL of priority fee.
	DefaultMaxUnitPrice = 1_000_000
	// DefaultUnitMargin is the percentage added to the simulated compute units
	// when Config.UnitMargin is zero.
	DefaultUnitMargin = 20
	// MaxComputeUnits is the most compute units a transaction may ask for.
	MaxComputeUnits = computebudget.MAX_COMPUTE_UNIT_LIMIT
	// FallbackComputeUnits is the limit set when simulation cannot measure a
	// transaction (it fails, or the node does not answer): the transaction
	// then usually fails on send too, and this only bounds its fee.
	FallbackComputeUnits = 200_000
	// unitSlack is added to the margin: a few instructions' worth of units, so
	// small transactions are not cut short by a state change since simulation.
	unitSlack = 1000
	// maxFeeAccounts is how many accounts getRecentPrioritizationFees takes.
	maxFeeAccounts = 128
)

// Budget is a transaction's compute budget: the units it may use and the
// price it bids per unit. Its fee is what the fee payer is charged.
type Budget struct {
	UnitLimit  uint32 // compute units the transaction may consume
	UnitPrice  uint64 // micro-lamports per compute unit (the priority fee rate)
	Signatures int    // signatures the transaction carries (5000 lamports each)
}

// PriorityFee is the prioritization fee in lamports: ceil(UnitPrice ×
// UnitLimit / 1,000,000), as the runtime charges it.
func (b Budget) PriorityFee() uint64 {
	hi, lo := bits.Mul64(b.UnitPrice, uint64(b.UnitLimit))
	lo, carry := bits.Add64(lo, 999_999, 0)
	hi += carry
	if hi >= 1_000_000 { // more than 2^64 lamports: only a forged price
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, 1_000_000)
	return q
}

// Fee is the whole network fee in lamports: LamportsPerSignature for each
// signature plus the priority fee.
func (b Budget) Fee() uint64 {
	sum, carry := bits.Add64(uint64(b.Signatures)*LamportsPerSignature, b.PriorityFee(), 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return sum
}

// FeeSOL renders Fee in SOL with all nine decimals, e.g. "0.000012345".
func (b Budget) FeeSOL() string { return LamportsSOL(b.Fee()) }

// LamportsSOL renders lamports as SOL with nine decimals.
func LamportsSOL(lamports uint64) string {
	return fmt.Sprintf("%d.%09d", lamports/solana.LAMPORTS_PER_SOL, lamports%solana.LAMPORTS_PER_SOL)
}

// ErrNoBudget reports a message without both compute-budget instructions.
var ErrNoBudget = errors.New("wallet: transaction sets no compute budget")

// ReadBudget decodes the compute budget of msg from its instructions, as the
// runtime reads it. It returns ErrNoBudget (with what it found) unless msg
// sets both a unit limit and a unit price; a malformed compute-budget
// instruction is ErrMalformedTx.
func ReadBudget(msg *solana.Message) (Budget, error) {
	b := Budget{Signatures: int(msg.Header.NumRequiredSignatures)}
	var hasLimit, hasPrice bool
	for i, ci := range msg.Instructions {
		p, err := msg.Program(ci.ProgramIDIndex)
		if err != nil {
			return b, fmt.Errorf("%w: instruction %d: %w", ErrMalformedTx, i, err)
		}
		if !p.Equals(solana.ComputeBudget) {
			continue
		}
		d := ci.Data
		switch {
		case len(d) == 5 && d[0] == computebudget.Instruction_SetComputeUnitLimit:
			if hasLimit {
				return b, fmt.Errorf("%w: instruction %d: a second unit limit", ErrMalformedTx, i)
			}
			b.UnitLimit, hasLimit = binary.LittleEndian.Uint32(d[1:]), true
		case len(d) == 9 && d[0] == computebudget.Instruction_SetComputeUnitPrice:
			if hasPrice {
				return b, fmt.Errorf("%w: instruction %d: a second unit price", ErrMalformedTx, i)
			}
			b.UnitPrice, hasPrice = binary.LittleEndian.Uint64(d[1:]), true
		case len(d) > 0 && d[0] == computebudget.Instruction_RequestHeapFrame,
			len(d) > 0 && d[0] == 4: // SetLoadedAccountsDataSizeLimit
		default:
			return b, fmt.Errorf("%w: instruction %d: compute-budget data %x", ErrMalformedTx, i, d)
		}
	}
	if !hasLimit || !hasPrice {
		return b, fmt.Errorf("%w (unit limit set: %t, unit price set: %t)", ErrNoBudget, hasLimit, hasPrice)
	}
	return b, nil
}

// MessageBudget is ReadBudget of a message in wire bytes (an approval's
// issued message).
func MessageBudget(message []byte) (Budget, error) {
	var m solana.Message
	if err := m.UnmarshalBase64(base64.StdEncoding.EncodeToString(message)); err != nil {
		return Budget{}, fmt.Errorf("%w: %w", ErrMalformedTx, err)
	}
	return ReadBudget(&m)
}

// budgetInstructions are the two compute-budget instructions of b, placed
// first in every transaction this package builds.
func budgetInstructions(b Budget) []solana.Instruction {
	return []solana.Instruction{
		computebudget.NewSetComputeUnitLimitInstruction(b.UnitLimit).Build(),
		computebudget.NewSetComputeUnitPriceInstruction(b.UnitPrice).Build(),
	}
}

// txBuilder makes a transaction under a given budget. It is called twice: a
// probe to measure, then the transaction itself.
type txBuilder func(b Budget) (*solana.Transaction, error)

// budgetFor measures a transaction: it builds a probe with the most units and
// no price, simulates it for the units it consumes (plus the margin), and
// bids the configured percentile of the recent prioritization fees of the
// accounts it writes, at least floor and at most MaxUnitPrice.
func (c *Chain) budgetFor(ctx context.Context, build txBuilder, floor uint64) (Budget, error) {
	probe, err := build(Budget{UnitLimit: MaxComputeUnits})
	if err != nil {
		return Budget{}, err
	}
	// The two reads are independent: ask both at once.
	price := make(chan uint64, 1)
	go func() { price <- c.recentUnitPrice(ctx, &probe.Message) }()
	b := Budget{UnitLimit: c.simulateUnits(ctx, probe), Signatures: int(probe.Message.Header.NumRequiredSignatures)}
	b.UnitPrice = min(max(<-price, floor), c.cfg.MaxUnitPrice)
	return b, nil
}

// simulateUnits returns the unit limit for tx: what a simulation consumed
// plus UnitMargin percent and a little slack, or FallbackComputeUnits when
// the simulation fails.
func (c *Chain) simulateUnits(ctx context.Context, tx *solana.Transaction) uint32 {
	if len(tx.Signatures) == 0 {
		tx.Signatures = make([]solana.Signature, tx.Message.Header.NumRequiredSignatures)
	}
	res, err := c.rpc.SimulateTransactionWithOpts(ctx, tx, &rpc.SimulateTransactionOpts{
		SigVerify:              false,
		ReplaceRecentBlockhash: true,
		Commitment:             c.cfg.Commitment,
	})
	switch {
	case err != nil:
		c.log.WarnContext(ctx, "simulation for the compute budget failed; using the fallback limit", "err", compactRPCError(err))
		return FallbackComputeUnits
	case res == nil || res.Value == nil || res.Value.UnitsConsumed == nil:
		c.log.WarnContext(ctx, "simulation reported no compute units; using the fallback limit")
		return FallbackComputeUnits
	case res.Value.Err != nil:
		c.log.DebugContext(ctx, "transaction fails in simulation; using the fallback limit", "err", res.Value.Err)
		return FallbackComputeUnits
	}
	units := *res.Value.UnitsConsumed
	limit := units + units*uint64(c.cfg.UnitMargin)/100 + unitSlack
	return uint32(min(limit, MaxComputeUnits))
}

// recentUnitPrice is the configured percentile of the prioritization fees of
// recent slots for the accounts msg writes; 0 when the node does not answer.
func (c *Chain) recentUnitPrice(ctx context.Context, msg *solana.Message) uint64 {
	var accounts solana.PublicKeySlice
	for _, k := range msg.AccountKeys {
		if msg.IsWritableStatic(k) && len(accounts) < maxFeeAccounts {
			accounts = append(accounts, k)
		}
	}
	fees, err := c.rpc.GetRecentPrioritizationFees(ctx, accounts)
	if err != nil {
		c.log.WarnContext(ctx, "recent prioritization fees unavailable; bidding no priority", "err", compactRPCError(err))
		return 0
	}
	prices := make([]uint64, len(fees))
	for i, f := range fees {
		prices[i] = f.PrioritizationFee
	}
	return Percentile(prices, c.cfg.FeePercentile)
}

// Percentile returns the p-th percentile (nearest rank, 1 ≤ p ≤ 100) of
// values, 0 when there are none. values is not modified.
func Percentile(values []uint64, p int) uint64 {
	if len(values) == 0 {
		return 0
	}
	s := slices.Clone(values)
	slices.Sort(s)
	p = min(max(p, 1), 100)
	rank := (p*len(s) + 99) / 100 // ceil(p/100 × n)
	return s[max(rank, 1)-1]
}
