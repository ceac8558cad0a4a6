package wallet

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"
)

// offlineChain is a Chain whose RPC endpoint is never called.
func offlineChain(t testing.TB, feePayer *Keypair) *Chain {
	t.Helper()
	mint := keypairFromSeed(bytes.Repeat([]byte{9}, 32)).PublicKey()
	c, err := New(Config{RPCURL: "http://127.0.0.1:1", Mint: mint, Decimals: 6, FeePayer: feePayer})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// issued builds a funding transaction as BuildFunding does, without a chain.
func issued(t testing.TB, c *Chain, user, key solana.PublicKey, amount uint64, blockhash solana.Hash) (*solana.Transaction, []byte) {
	t.Helper()
	tx, err := c.fundingTx(user, key, amount, blockhash, testBudget)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return tx, msg
}

// wire encodes signatures and a message as a base64 wire transaction.
func wire(sigs []solana.Signature, msg []byte) string {
	b := []byte{byte(len(sigs))}
	for _, s := range sigs {
		b = append(b, s[:]...)
	}
	return base64.StdEncoding.EncodeToString(append(b, msg...))
}

func TestVerifySigned(t *testing.T) {
	c := offlineChain(t, nil)
	user, _ := NewKeypair()
	other, _ := NewKeypair()
	key, _ := NewKeypair()
	bh := solana.Hash(keypairFromSeed(bytes.Repeat([]byte{3}, 32)).PublicKey())

	_, msg := issued(t, c, user.PublicKey(), key.PublicKey(), 1_000_000, bh)
	userSig := user.sign(msg)

	// A message that differs in one way, signed by the user: the wallet (or
	// an attacker in the page) changed what was issued.
	signedVariant := func(f func(tx *solana.Transaction)) string {
		tx, _ := issued(t, c, user.PublicKey(), key.PublicKey(), 1_000_000, bh)
		f(tx)
		m, err := tx.Message.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return wire([]solana.Signature{user.sign(m)}, m)
	}
	rebuilt := func(amount uint64, hash solana.Hash, extra ...solana.Instruction) string {
		tx, _ := issued(t, c, user.PublicKey(), key.PublicKey(), amount, hash)
		if len(extra) > 0 {
			ixs := []solana.Instruction{}
			for _, ci := range tx.Message.Instructions {
				accts, _ := ci.ResolveInstructionAccounts(&tx.Message)
				prog, _ := tx.Message.Program(ci.ProgramIDIndex)
				ixs = append(ixs, solana.NewInstruction(prog, accts, ci.Data))
			}
			ixs = append(ixs, extra...)
			var err error
			tx, err = solana.NewTransaction(ixs, hash, solana.TransactionPayer(user.PublicKey()))
			if err != nil {
				t.Fatal(err)
			}
		}
		m, _ := tx.Message.MarshalBinary()
		return wire([]solana.Signature{user.sign(m)}, m)
	}
	otherBH := solana.Hash(keypairFromSeed(bytes.Repeat([]byte{4}, 32)).PublicKey())
	drain := system.NewTransferInstruction(5_000_000_000, user.PublicKey(), other.PublicKey()).Build()
	userATA, _ := c.TokenAccount(user.PublicKey())
	otherATA, _ := c.TokenAccount(other.PublicKey())
	steal := token.NewTransferCheckedInstruction(1, 6, userATA, c.cfg.Mint, otherATA, user.PublicKey(), nil).Build()
	_, otherMsg := issued(t, c, other.PublicKey(), key.PublicKey(), 1_000_000, bh)

	tests := []struct {
		name    string
		signed  string
		wantErr error
	}{
		{"valid", wire([]solana.Signature{userSig}, msg), nil},
		{"signed by another wallet", wire([]solana.Signature{other.sign(msg)}, msg), ErrBadSignature},
		{"another wallet's own funding", wire([]solana.Signature{other.sign(otherMsg)}, otherMsg), ErrMessageMismatch},
		{"signature of another message", wire([]solana.Signature{user.sign(otherMsg)}, msg), ErrBadSignature},
		{"corrupted signature", wire([]solana.Signature{func() solana.Signature { s := userSig; s[7] ^= 1; return s }()}, msg), ErrBadSignature},
		{"instruction added (SOL drain)", rebuilt(1_000_000, bh, drain), ErrMessageMismatch},
		{"instruction added (token transfer)", rebuilt(1_000_000, bh, steal), ErrMessageMismatch},
		{"amount changed", rebuilt(2_000_000, bh), ErrMessageMismatch},
		{"other blockhash", rebuilt(1_000_000, otherBH), ErrMessageMismatch},
		{"header changed (an account made read-only)", signedVariant(func(tx *solana.Transaction) { tx.Message.Header.NumReadonlyUnsignedAccounts++ }), ErrMessageMismatch},
		{"trailing byte", wire([]solana.Signature{userSig}, append(append([]byte{}, msg...), 0)), ErrMessageMismatch},
		{"extra signature", wire([]solana.Signature{userSig, other.sign(msg)}, msg), ErrExtraSignature},
		{"no signatures", wire(nil, msg), ErrSignatureCount},
		{"signature slot empty", wire([]solana.Signature{{}}, msg), ErrMissingSignature},
		{"garbage", "this is not a transaction", ErrMalformedTx},
		{"empty", "", ErrMalformedTx},
		{"base64url", base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff}), ErrMalformedTx},
		{"truncated signatures", base64.StdEncoding.EncodeToString([]byte{2, 1, 2, 3}), ErrMalformedTx},
		{"non-canonical count", base64.StdEncoding.EncodeToString(append([]byte{0x81, 0x00}, make([]byte, 64)...)), ErrMalformedTx},
		{"too long", base64.StdEncoding.EncodeToString(make([]byte, 2000)), ErrMalformedTx},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := VerifySigned(msg, tt.signed, user.PublicKey())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if tx != nil {
					t.Fatal("transaction returned with an error")
				}
				return
			}
			if len(tx.Signatures) != 1 || !tx.Signatures[0].Equals(userSig) {
				t.Fatalf("signatures = %v", tx.Signatures)
			}
			if err := tx.VerifySignatures(); err != nil {
				t.Fatalf("decoded transaction does not verify: %v", err)
			}
			m, _ := tx.Message.MarshalBinary()
			if !bytes.Equal(m, msg) {
				t.Fatal("decoded message re-encodes differently")
			}
		})
	}

	// A message issued for other signers is refused even if correctly signed.
	if _, err := VerifySigned(otherMsg, wire([]solana.Signature{other.sign(otherMsg)}, otherMsg), user.PublicKey()); !errors.Is(err, ErrSignerMismatch) {
		t.Fatalf("issued for another user: err = %v, want ErrSignerMismatch", err)
	}
}

func TestReadShortVec(t *testing.T) {
	tests := []struct {
		in      []byte
		want, n int
		wantErr bool
	}{
		{[]byte{0}, 0, 1, false},
		{[]byte{0x7f}, 0x7f, 1, false},
		{[]byte{0x80, 0x01}, 0x80, 2, false},
		{[]byte{0xff, 0xff, 0x03}, 0xffff, 3, false},
		{[]byte{0x80, 0x00}, 0, 0, true},       // alias of 0
		{[]byte{0xff, 0xff, 0x04}, 0, 0, true}, // > u16
		{[]byte{0x80}, 0, 0, true},             // truncated
		{nil, 0, 0, true},
	}
	for _, tt := range tests {
		got, n, err := readShortVec(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want || n != tt.n {
			t.Errorf("readShortVec(%x) = %d, %d, %v", tt.in, got, n, err)
		}
	}
}

func FuzzVerifySigned(f *testing.F) {
	c := offlineChain(f, nil)
	user := keypairFromSeed(bytes.Repeat([]byte{1}, 32))
	key := keypairFromSeed(bytes.Repeat([]byte{2}, 32))
	_, msg := issued(f, c, user.PublicKey(), key.PublicKey(), 1_000_000, solana.Hash{7})
	valid := wire([]solana.Signature{user.sign(msg)}, msg)
	validRaw, _ := base64.StdEncoding.DecodeString(valid)
	for _, seed := range []string{valid, wire(nil, msg), wire([]solana.Signature{{}, {}}, msg), "", "AA==", "////", "gAA=", valid[:len(valid)/2]} {
		f.Add(seed)
	}
	sentinels := []error{ErrMalformedTx, ErrMessageMismatch, ErrSignatureCount, ErrExtraSignature, ErrMissingSignature, ErrBadSignature}
	f.Fuzz(func(t *testing.T, signed string) {
		tx, err := VerifySigned(msg, signed, user.PublicKey())
		if err == nil {
			// Go's base64 skips newlines, so other spellings of the same
			// bytes may pass; other bytes may not.
			if raw, _ := base64.StdEncoding.DecodeString(signed); !bytes.Equal(raw, validRaw) {
				t.Fatalf("accepted a transaction other than the genuine one: %q", signed)
			}
			if tx == nil {
				t.Fatal("nil transaction without error")
			}
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("error %v wraps no sentinel", err)
	})
}
