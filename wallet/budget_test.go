package wallet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/stipend/stipend/internal/localnet"
	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/wallet"
)

// pricedNoise lands, alone in a fresh slot, a SOL transfer bidding price
// micro-lamports a unit, then moves to another slot: the chain's recent
// prioritization fees then report price for that slot, whatever the accounts.
func pricedNoise(t *testing.T, ln *localnet.Chain, price uint64) {
	t.Helper()
	ctx := context.Background()
	from := fundedWallet(t, ln, 0)
	if _, err := ln.AdvanceSlots(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cl := ln.Client()
	bh, err := cl.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := solana.NewTransaction([]solana.Instruction{
		computebudget.NewSetComputeUnitLimitInstruction(1000).Build(),
		computebudget.NewSetComputeUnitPriceInstruction(price).Build(),
		system.NewTransferInstruction(solana.LAMPORTS_PER_SOL/100, from.PublicKey(), solana.NewWallet().PublicKey()).Build(),
	}, bh.Value.Blockhash, solana.TransactionPayer(from.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(from.Getter()); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.AdvanceSlots(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

// landed fetches a confirmed transaction's meta.
func landed(t *testing.T, c *wallet.Chain, sig solana.Signature) *rpc.TransactionMeta {
	t.Helper()
	res, err := c.RPC().GetTransaction(context.Background(), sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64, Commitment: rpc.CommitmentConfirmed})
	if err != nil {
		t.Fatal(err)
	}
	return res.Meta
}

// checkLanded checks a landed transaction against the budget it was built
// with: it consumed at most its limit, the limit is the simulated use plus
// the margin (not far above), and the fee charged is exactly Budget.Fee.
func checkLanded(t *testing.T, what string, c *wallet.Chain, sig solana.Signature, b wallet.Budget, wantPrice uint64) {
	t.Helper()
	m := landed(t, c, sig)
	if m.Err != nil {
		t.Fatalf("%s failed on chain: %v", what, m.Err)
	}
	if m.ComputeUnitsConsumed == nil {
		t.Fatalf("%s: no compute units in meta", what)
	}
	used := *m.ComputeUnitsConsumed
	if b.UnitPrice != wantPrice {
		t.Errorf("%s: unit price %d, want %d", what, b.UnitPrice, wantPrice)
	}
	if uint64(b.UnitLimit) < used || uint64(b.UnitLimit) > used+used*wallet.DefaultUnitMargin/100+1000+wallet.ATACreateUnits {
		t.Errorf("%s: unit limit %d for %d units used", what, b.UnitLimit, used)
	}
	if m.Fee != b.Fee() {
		t.Errorf("%s: charged %d lamports, budget says %d", what, m.Fee, b.Fee())
	}
	t.Logf("%s: %d units used, limit %d, price %d µL, fee %d lamports (%s SOL)", what, used, b.UnitLimit, b.UnitPrice, b.Fee(), b.FeeSOL())
}

// TestBudgetOnEveryTransaction builds every transaction type stipend sends
// (funding, top-up, payment from the key, the owner's own payment, sweep),
// with and without a fee payer, decodes the compute budget of each, lands it
// and checks that its fee payer was charged exactly that budget's fee.
func TestBudgetOnEveryTransaction(t *testing.T) {
	ln := testenv.ChainWith(t, localnet.Options{SlotTime: -1}) // slots move only when asked
	ctx := context.Background()
	pricedNoise(t, ln, 3000)
	rent, err := ln.Client().GetMinimumBalanceForRentExemption(ctx, 165, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	fp := fundedWallet(t, ln, 0)
	tests := []struct {
		name      string
		feePayer  *wallet.Keypair
		maxPrice  uint64
		wantPrice uint64
	}{
		{"key pays, price from recent fees", nil, 0, 3000},
		{"gasless, price capped", fp, 2000, 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := wallet.New(wallet.Config{RPCURL: ln.URL, Mint: ln.Mint, Decimals: ln.Decimals, FeePayer: tt.feePayer,
				ConfirmTimeout: 20 * time.Second, FeePercentile: 100, MaxUnitPrice: tt.maxPrice})
			if err != nil {
				t.Fatal(err)
			}
			user := fundedWallet(t, ln, 100*usdc)
			key, _ := wallet.NewKeypair()
			recipient, _ := wallet.NewKeypair()

			// Funding, then a top-up: the user's wallet signs and pays the fee.
			for i, what := range []string{"funding", "top-up"} {
				u, err := c.BuildFunding(ctx, user.PublicKey(), key.PublicKey(), 10*usdc)
				if err != nil {
					t.Fatal(err)
				}
				decoded, err := wallet.MessageBudget(u.Message)
				if err != nil || decoded != u.Budget {
					t.Fatalf("%s: budget decoded from the issued message %+v (%v), built with %+v", what, decoded, err, u.Budget)
				}
				before := solBal(t, c, user.PublicKey())
				tx, err := wallet.VerifySigned(u.Message, walletSign(t, u, user), user.PublicKey())
				if err != nil {
					t.Fatal(err)
				}
				sig, err := c.SendAndConfirm(ctx, tx)
				if err != nil {
					t.Fatal(err)
				}
				checkLanded(t, what, c, sig, u.Budget, tt.wantPrice)
				spent := u.Budget.Fee()
				if i == 0 {
					spent += rent // the key's token account
				}
				if tt.feePayer == nil {
					spent += wallet.DefaultKeyFeeLamports
				}
				if got := before - solBal(t, c, user.PublicKey()); got != spent {
					t.Errorf("%s: the user paid %d lamports, want %d", what, got, spent)
				}
			}

			// A payment from the key: the fee payer (the key or the configured
			// payer) is charged the fee (and the recipient's account rent).
			payer := key.PublicKey()
			if tt.feePayer != nil {
				payer = tt.feePayer.PublicKey()
			}
			for i := range 2 {
				tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), usdc, "pay_budget_"+string(rune('a'+i)))
				if err != nil {
					t.Fatal(err)
				}
				b, err := wallet.ReadBudget(&tx.Message)
				if err != nil {
					t.Fatal(err)
				}
				before := solBal(t, c, payer)
				sig, err := c.SendAndConfirm(ctx, tx)
				if err != nil {
					t.Fatal(err)
				}
				checkLanded(t, "payment", c, sig, b, tt.wantPrice)
				spent := b.Fee()
				if i == 0 {
					spent += rent
				}
				if got := before - solBal(t, c, payer); got != spent {
					t.Errorf("payment %d: the fee payer paid %d lamports, want %d", i, got, spent)
				}
			}

			// The owner's own payment (a session without a key).
			u, err := c.BuildOwnPayment(ctx, user.PublicKey(), recipient.PublicKey(), usdc, "pay_own")
			if err != nil {
				t.Fatal(err)
			}
			before := solBal(t, c, user.PublicKey())
			tx, err := wallet.VerifySigned(u.Message, walletSign(t, u, user), user.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			sig, err := c.SendAndConfirm(ctx, tx)
			if err != nil {
				t.Fatal(err)
			}
			checkLanded(t, "own payment", c, sig, u.Budget, tt.wantPrice)
			if got := before - solBal(t, c, user.PublicKey()); got != u.Budget.Fee() {
				t.Errorf("own payment: the user paid %d lamports, want %d", got, u.Budget.Fee())
			}

			// The sweep: without a fee payer the key gives back all its SOL but
			// the fee and the reserve it keeps for later sweeps (a rent-exempt
			// balance and SweepReserveFees signature fees).
			keySOL := solBal(t, c, key.PublicKey())
			rentExempt, err := c.RPC().GetMinimumBalanceForRentExemption(ctx, 0, rpc.CommitmentConfirmed)
			if err != nil {
				t.Fatal(err)
			}
			keep := rentExempt + wallet.SweepReserveFees*wallet.LamportsPerSignature
			sw, err := c.BuildSweep(ctx, key, user.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if b, err := wallet.ReadBudget(&sw.Tx.Message); err != nil || b != sw.Budget {
				t.Fatalf("sweep budget decoded %+v (%v), built with %+v", b, err, sw.Budget)
			}
			before = solBal(t, c, payer)
			if sig, err = c.SendAndConfirm(ctx, sw.Tx); err != nil {
				t.Fatal(err)
			}
			checkLanded(t, "sweep", c, sig, sw.Budget, tt.wantPrice)
			if tt.feePayer == nil {
				if sw.Lamports != keySOL-sw.Budget.Fee()-keep || solBal(t, c, key.PublicKey()) != keep {
					t.Errorf("sweep gave back %d of the key's %d lamports (fee %d); key keeps %d, want %d",
						sw.Lamports, keySOL, sw.Budget.Fee(), solBal(t, c, key.PublicKey()), keep)
				}
			} else if got := before - solBal(t, c, payer); got != sw.Budget.Fee() {
				t.Errorf("sweep: the fee payer paid %d lamports, want %d", got, sw.Budget.Fee())
			}
		})
	}
}

// TestRebuildPayment: a payment rebuilt after its first transaction expired
// unlanded bids more (BumpPrice of the first), never above the cap, and the
// rebuilt one lands.
func TestRebuildPayment(t *testing.T) {
	ln := testenv.ChainWith(t, localnet.Options{SlotTime: -1, BlockhashLifetime: 5})
	ctx := context.Background()
	user := fundedWallet(t, ln, 10*usdc)
	recipient, _ := wallet.NewKeypair()
	for _, tt := range []struct {
		name     string
		maxPrice uint64
		want     []uint64 // unit price of each build
	}{
		{"bumped", 100_000, []uint64{0, 1000, 2000, 3000}},
		{"capped", 2500, []uint64{0, 1000, 2000, 2500, 2500}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := wallet.New(wallet.Config{RPCURL: ln.URL, Mint: ln.Mint, Decimals: ln.Decimals,
				ConfirmTimeout: 20 * time.Second, MaxUnitPrice: tt.maxPrice})
			if err != nil {
				t.Fatal(err)
			}
			key, _ := wallet.NewKeypair()
			fund(t, c, user, key.PublicKey(), usdc)
			tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), 1, "pay_rebuilt")
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				if i > 0 {
					// The previous one never went out; its blockhash expires.
					if _, err := ln.AdvanceSlots(ctx, 6); err != nil {
						t.Fatal(err)
					}
					if tx, err = c.RebuildPayment(ctx, key, recipient.PublicKey(), 1, "pay_rebuilt", tx); err != nil {
						t.Fatal(err)
					}
				}
				b, err := wallet.ReadBudget(&tx.Message)
				if err != nil {
					t.Fatal(err)
				}
				if b.UnitPrice != want {
					t.Fatalf("build %d: unit price %d, want %d", i, b.UnitPrice, want)
				}
			}
			sig, err := c.SendAndConfirm(ctx, tx)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := wallet.ReadBudget(&tx.Message)
			checkLanded(t, "rebuilt payment", c, sig, b, tt.want[len(tt.want)-1])
		})
	}
}

// TestReadBudget decodes compute budgets from messages, and refuses messages
// that lack one or carry a malformed one.
func TestReadBudget(t *testing.T) {
	payer := solana.NewWallet().PublicKey()
	xfer := system.NewTransferInstruction(1, payer, solana.NewWallet().PublicKey()).Build()
	limit := computebudget.NewSetComputeUnitLimitInstruction(40_000).Build()
	price := computebudget.NewSetComputeUnitPriceInstruction(250_000).Build()
	bad := solana.NewInstruction(solana.ComputeBudget, nil, []byte{2, 1})
	tests := []struct {
		name    string
		ixs     []solana.Instruction
		want    wallet.Budget
		wantErr error
	}{
		{"both", []solana.Instruction{limit, price, xfer}, wallet.Budget{UnitLimit: 40_000, UnitPrice: 250_000, Signatures: 1}, nil},
		{"order does not matter", []solana.Instruction{xfer, price, limit}, wallet.Budget{UnitLimit: 40_000, UnitPrice: 250_000, Signatures: 1}, nil},
		{"none", []solana.Instruction{xfer}, wallet.Budget{}, wallet.ErrNoBudget},
		{"limit only", []solana.Instruction{limit, xfer}, wallet.Budget{}, wallet.ErrNoBudget},
		{"price only", []solana.Instruction{price, xfer}, wallet.Budget{}, wallet.ErrNoBudget},
		{"twice", []solana.Instruction{limit, limit, price, xfer}, wallet.Budget{}, wallet.ErrMalformedTx},
		{"short data", []solana.Instruction{bad, price, xfer}, wallet.Budget{}, wallet.ErrMalformedTx},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := solana.NewTransaction(tt.ixs, solana.Hash{1}, solana.TransactionPayer(payer))
			if err != nil {
				t.Fatal(err)
			}
			msg, err := tx.Message.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			got, err := wallet.MessageBudget(msg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && got != tt.want {
				t.Fatalf("budget %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := wallet.MessageBudget([]byte{1, 2}); !errors.Is(err, wallet.ErrMalformedTx) {
		t.Fatalf("garbage: %v", err)
	}
}

// TestBudgetFee: the fee is 5000 lamports a signature plus the priority fee
// rounded up, as the runtime charges; it saturates instead of wrapping.
func TestBudgetFee(t *testing.T) {
	tests := []struct {
		b    wallet.Budget
		want uint64
		sol  string
	}{
		{wallet.Budget{Signatures: 1}, 5000, "0.000005000"},
		{wallet.Budget{UnitLimit: 1, UnitPrice: 1, Signatures: 1}, 5001, "0.000005001"},
		{wallet.Budget{UnitLimit: 200_000, UnitPrice: 5, Signatures: 2}, 10_001, "0.000010001"},
		{wallet.Budget{UnitLimit: 1_000_000, UnitPrice: 1_000_000, Signatures: 1}, 1_005_000, "0.001005000"},
		{wallet.Budget{UnitLimit: 1_400_000, UnitPrice: 1 << 63, Signatures: 1}, 12_912_720_851_596_691_132, "12912720851.596691132"},
		{wallet.Budget{UnitLimit: 1_400_000, UnitPrice: 1<<64 - 1, Signatures: 1}, 1<<64 - 1, "18446744073.709551615"},
	}
	for _, tt := range tests {
		if got := tt.b.Fee(); got != tt.want || tt.b.FeeSOL() != tt.sol {
			t.Errorf("%+v: fee %d (%s SOL), want %d (%s)", tt.b, got, tt.b.FeeSOL(), tt.want, tt.sol)
		}
	}
}

func TestPercentile(t *testing.T) {
	vals := []uint64{50, 10, 40, 20, 30, 0, 0, 0, 0, 0}
	for _, tt := range []struct {
		p    int
		want uint64
	}{{1, 0}, {50, 0}, {60, 10}, {75, 30}, {90, 40}, {100, 50}} {
		if got := wallet.Percentile(vals, tt.p); got != tt.want {
			t.Errorf("p%d = %d, want %d", tt.p, got, tt.want)
		}
	}
	if wallet.Percentile(nil, 75) != 0 {
		t.Error("percentile of nothing")
	}
	if vals[0] != 50 {
		t.Error("Percentile sorted its argument")
	}
}

// BenchmarkBuildPayment is the cost of building a payment with its compute
// budget (latest blockhash, a simulation, recent prioritization fees: three
// RPC calls), against the local chain.
func BenchmarkBuildPayment(b *testing.B) {
	ln := testenv.Chain(b)
	ctx := context.Background()
	c := chainFor(b, ln, nil)
	user := fundedWallet(b, ln, 10*usdc)
	key, _ := wallet.NewKeypair()
	fund(b, c, user, key.PublicKey(), usdc)
	recipient, _ := wallet.NewKeypair()
	for b.Loop() {
		if _, err := c.BuildPayment(ctx, key, recipient.PublicKey(), 1, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
