package wallet

import (
	"bytes"
	"errors"
	"testing"

	solana "github.com/gagliardetto/solana-go"
)

// programs returns the program id of each of tx's instructions, in order.
func programs(t testing.TB, tx *solana.Transaction) []solana.PublicKey {
	t.Helper()
	var out []solana.PublicKey
	for _, ci := range tx.Message.Instructions {
		p, err := tx.Message.Program(ci.ProgramIDIndex)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// testBudget is the compute budget of transactions built offline.
var testBudget = Budget{UnitLimit: 54_321, UnitPrice: 12_345}

// checkBudget decodes tx's compute budget: testBudget, charged to sigs signatures.
func checkBudget(t testing.TB, tx *solana.Transaction, sigs int) {
	t.Helper()
	b, err := ReadBudget(&tx.Message)
	if err != nil {
		t.Fatal(err)
	}
	want := testBudget
	want.Signatures = sigs
	if b != want {
		t.Fatalf("budget %+v, want %+v", b, want)
	}
	if fee := uint64(sigs)*5000 + 671; b.Fee() != fee { // 12345 × 54321 / 1e6 = 670.6…
		t.Fatalf("fee %d, want %d", b.Fee(), fee)
	}
}

func samePrograms(got, want []solana.PublicKey) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !got[i].Equals(want[i]) {
			return false
		}
	}
	return true
}

func TestFundingTxShape(t *testing.T) {
	user, _ := NewKeypair()
	key, _ := NewKeypair()
	fp, _ := NewKeypair()
	tests := []struct {
		name         string
		feePayer     *Keypair
		wantPrograms []solana.PublicKey
	}{
		{"key pays its own fees: SOL sent along", nil, []solana.PublicKey{solana.ComputeBudget, solana.ComputeBudget, solana.SPLAssociatedTokenAccountProgramID, solana.TokenProgramID, solana.SystemProgramID}},
		{"gasless: no SOL", fp, []solana.PublicKey{solana.ComputeBudget, solana.ComputeBudget, solana.SPLAssociatedTokenAccountProgramID, solana.TokenProgramID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := offlineChain(t, tt.feePayer)
			tx, err := c.fundingTx(user.PublicKey(), key.PublicKey(), 7, solana.Hash{1}, testBudget)
			if err != nil {
				t.Fatal(err)
			}
			if got := programs(t, tx); !samePrograms(got, tt.wantPrograms) {
				t.Fatalf("programs = %v, want %v", got, tt.wantPrograms)
			}
			if signers := tx.Message.Signers(); len(signers) != 1 || !signers[0].Equals(user.PublicKey()) {
				t.Fatalf("signers = %v, want only the user", signers)
			}
			if len(tx.Signatures) != 1 || !tx.Signatures[0].IsZero() {
				t.Fatalf("want one empty signature slot, got %v", tx.Signatures)
			}
			checkBudget(t, tx, 1)
			if d := tx.Message.Instructions[2].Data; !bytes.Equal(d, []byte{1}) {
				t.Fatalf("ATA instruction data = %x, want 01 (CreateIdempotent)", d)
			}
		})
	}

	c := offlineChain(t, nil)
	bad := []struct {
		name      string
		user, key solana.PublicKey
		amount    uint64
		wantErr   error
	}{
		{"zero amount", user.PublicKey(), key.PublicKey(), 0, ErrInvalidAmount},
		{"user is the key", key.PublicKey(), key.PublicKey(), 1, ErrInvalidRecipient},
		{"user off curve", offCurve(t), key.PublicKey(), 1, ErrInvalidRecipient},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.fundingTx(tt.user, tt.key, tt.amount, solana.Hash{1}, testBudget); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// offCurve returns a program-derived address: valid base58, no private key.
func offCurve(t testing.TB) solana.PublicKey {
	t.Helper()
	pda, _, err := solana.FindProgramAddress([][]byte{[]byte("stipend")}, solana.SystemProgramID)
	if err != nil {
		t.Fatal(err)
	}
	return pda
}

func TestPaymentTxShape(t *testing.T) {
	key, _ := NewKeypair()
	recipient, _ := NewKeypair()
	fp, _ := NewKeypair()
	tests := []struct {
		name      string
		feePayer  *Keypair
		wantPayer solana.PublicKey
		wantSigs  int
	}{
		{"key pays", nil, key.PublicKey(), 1},
		{"fee payer pays", fp, fp.PublicKey(), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := offlineChain(t, tt.feePayer)
			tx, err := c.paymentTx(key, recipient.PublicKey(), 1234, "pay_01HXYZ", solana.Hash{2}, testBudget)
			if err != nil {
				t.Fatal(err)
			}
			want := []solana.PublicKey{solana.ComputeBudget, solana.ComputeBudget, solana.SPLAssociatedTokenAccountProgramID, solana.TokenProgramID, solana.MemoProgramID}
			if got := programs(t, tx); !samePrograms(got, want) {
				t.Fatalf("programs = %v, want %v", got, want)
			}
			checkBudget(t, tx, tt.wantSigs)
			if memo := tx.Message.Instructions[4].Data; string(memo) != "pay_01HXYZ" {
				t.Fatalf("memo data = %q, want the bare payment id", memo)
			}
			if !tx.Message.AccountKeys[0].Equals(tt.wantPayer) {
				t.Fatalf("fee payer = %s, want %s", tx.Message.AccountKeys[0], tt.wantPayer)
			}
			if len(tx.Signatures) != tt.wantSigs {
				t.Fatalf("%d signatures, want %d", len(tx.Signatures), tt.wantSigs)
			}
			if err := tx.VerifySignatures(); err != nil {
				t.Fatalf("not fully signed: %v", err)
			}
			if tt.feePayer != nil {
				if w, _ := tx.Message.IsWritable(key.PublicKey()); w {
					t.Fatal("gasless: the key is writable, its SOL could change")
				}
			}
		})
	}
}

func TestBuildPaymentRefuses(t *testing.T) {
	c := offlineChain(t, nil)
	key, _ := NewKeypair()
	recipient, _ := NewKeypair()
	ata, _ := c.TokenAccount(recipient.PublicKey())
	long := string(bytes.Repeat([]byte{'a'}, MaxPaymentIDLen+1))
	tests := []struct {
		name      string
		recipient solana.PublicKey
		amount    uint64
		id        string
		wantErr   error
	}{
		{"program-derived address", offCurve(t), 1, "p", ErrInvalidRecipient},
		{"a token account address", ata, 1, "p", ErrInvalidRecipient},
		{"the key itself", key.PublicKey(), 1, "p", ErrInvalidRecipient},
		{"zero address", solana.PublicKey{}, 1, "p", ErrInvalidRecipient},
		{"zero amount", recipient.PublicKey(), 0, "p", ErrInvalidAmount},
		{"empty payment id", recipient.PublicKey(), 1, "", ErrInvalidMemo},
		{"payment id too long", recipient.PublicKey(), 1, long, ErrInvalidMemo},
		{"payment id not utf-8", recipient.PublicKey(), 1, "\xff", ErrInvalidMemo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The RPC endpoint is unreachable: refusals must come first.
			if _, err := c.BuildPayment(t.Context(), key, tt.recipient, tt.amount, tt.id); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewConfig(t *testing.T) {
	mint := keypairFromSeed(bytes.Repeat([]byte{9}, 32)).PublicKey()
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"minimal", Config{RPCURL: "http://x", Mint: mint}, false},
		{"no url", Config{Mint: mint}, true},
		{"no mint", Config{RPCURL: "http://x"}, true},
		{"bad commitment", Config{RPCURL: "http://x", Mint: mint, Commitment: "max"}, true},
		{"fee payer without secret", Config{RPCURL: "http://x", Mint: mint, FeePayer: &Keypair{}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("err = %v, want ErrConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.cfg.Commitment != DefaultCommitment || c.cfg.ConfirmTimeout != DefaultConfirmTimeout || c.cfg.KeyFeeLamports != DefaultKeyFeeLamports {
				t.Fatalf("defaults not applied: %+v", c.cfg)
			}
		})
	}
}
