package wallet

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	solana "github.com/gagliardetto/solana-go"
)

func masterKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, MasterKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSealer(t testing.TB, current string, keys map[string][]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(current, keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	k1, k2 := masterKey(t), masterKey(t)
	old := mustSealer(t, "k1", map[string][]byte{"k1": k1})
	rotated := mustSealer(t, "k2", map[string][]byte{"k1": k1, "k2": k2})
	wrong := mustSealer(t, "k1", map[string][]byte{"k1": masterKey(t)})

	kp, err := NewKeypair()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewKeypair()
	if err != nil {
		t.Fatal(err)
	}
	sealedOld, err := old.Seal(kp)
	if err != nil {
		t.Fatal(err)
	}
	sealedNew, err := rotated.Seal(kp)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := SealedKeyID(sealedNew); id != "k2" {
		t.Fatalf("rotated sealer sealed under %q, want k2", id)
	}
	again, _ := old.Seal(kp)
	if again == sealedOld {
		t.Fatal("two seals of the same key are identical: nonce reused")
	}
	parts := strings.Split(sealedOld, ".")
	tamper := func(i int) string {
		p := append([]string(nil), parts...)
		b, _ := base64.RawURLEncoding.DecodeString(p[i])
		b[len(b)-1] ^= 1
		p[i] = base64.RawURLEncoding.EncodeToString(b)
		return strings.Join(p, ".")
	}

	tests := []struct {
		name     string
		sealer   *Sealer
		sealed   string
		want     solana.PublicKey
		wantErrs []error
	}{
		{"round trip", old, sealedOld, kp.PublicKey(), nil},
		{"rotation: old seal opens with the new key set", rotated, sealedOld, kp.PublicKey(), nil},
		{"rotation: new seal opens", rotated, sealedNew, kp.PublicKey(), nil},
		{"unknown key id", old, sealedNew, kp.PublicKey(), []error{ErrSealedKey, ErrUnknownKeyID}},
		{"wrong master key", wrong, sealedOld, kp.PublicKey(), []error{ErrSealedKey}},
		{"other public key (swapped blob)", old, sealedOld, other.PublicKey(), []error{ErrSealedKey}},
		{"tampered ciphertext", old, tamper(3), kp.PublicKey(), []error{ErrSealedKey}},
		{"tampered nonce", old, tamper(2), kp.PublicKey(), []error{ErrSealedKey}},
		{"kid relabelled", rotated, strings.Replace(sealedOld, ".k1.", ".k2.", 1), kp.PublicKey(), []error{ErrSealedKey}},
		{"bad version", old, "v9" + strings.TrimPrefix(sealedOld, "v1"), kp.PublicKey(), []error{ErrSealedKey}},
		{"empty", old, "", kp.PublicKey(), []error{ErrSealedKey}},
		{"too few parts", old, "v1.k1.abc", kp.PublicKey(), []error{ErrSealedKey}},
		{"bad base64", old, "v1.k1.!!!.???", kp.PublicKey(), []error{ErrSealedKey}},
		{"truncated ciphertext", old, sealedOld[:len(sealedOld)-4], kp.PublicKey(), []error{ErrSealedKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.sealed, tt.want)
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if !got.PublicKey().Equals(kp.PublicKey()) || !bytes.Equal(got.sec.priv, kp.sec.priv) {
					t.Fatal("opened a different key")
				}
				return
			}
			if got != nil {
				t.Fatal("returned a keypair with an error")
			}
			for _, want := range tt.wantErrs {
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
			for _, secret := range secretForms(kp) {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error reveals the secret: %v", err)
				}
			}
		})
	}
}

func TestParseMasterKey(t *testing.T) {
	key := masterKey(t)
	std := base64.StdEncoding.EncodeToString(key)
	tests := []struct {
		name    string
		spec    string
		wantKid string
		wantErr bool
	}{
		{"std base64", "k1:" + std, "k1", false},
		{"raw url base64", "2025-01_a:" + base64.RawURLEncoding.EncodeToString(key), "2025-01_a", false},
		{"surrounding space", "  k1:" + std + "\n", "k1", false},
		{"no colon", "k1" + std, "", true},
		{"empty kid", ":" + std, "", true},
		{"bad kid", "k.1:" + std, "", true},
		{"short key", "k1:" + base64.StdEncoding.EncodeToString(key[:16]), "", true},
		{"not base64", "k1:%%%%", "", true},
		{"empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kid, got, err := ParseMasterKey(tt.spec)
			if tt.wantErr {
				if !errors.Is(err, ErrMasterKey) {
					t.Fatalf("err = %v, want ErrMasterKey", err)
				}
				if strings.Contains(err.Error(), std) {
					t.Fatal("error reveals the key")
				}
				return
			}
			if err != nil || kid != tt.wantKid || !bytes.Equal(got, key) {
				t.Fatalf("= %q, %x, %v", kid, got, err)
			}
		})
	}
}

func TestGenerateMasterKeyAndParseSealer(t *testing.T) {
	a, err := GenerateMasterKey("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateMasterKey("b")
	if err != nil {
		t.Fatal(err)
	}
	if a[2:] == b[2:] {
		t.Fatal("generated the same key twice")
	}
	if _, err := GenerateMasterKey("bad id"); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("bad kid err = %v", err)
	}
	s, err := ParseSealer("b", []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if s.CurrentKeyID() != "b" || strings.Join(s.KeyIDs(), ",") != "a,b" {
		t.Fatalf("current %q ids %v", s.CurrentKeyID(), s.KeyIDs())
	}
	kp, _ := NewKeypair()
	sealed, err := s.Seal(kp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(sealed, kp.PublicKey()); err != nil {
		t.Fatal(err)
	}

	bad := []struct {
		name    string
		current string
		specs   []string
	}{
		{"no keys", "a", nil},
		{"current missing", "c", []string{a, b}},
		{"duplicate kid", "a", []string{a, a}},
		{"bad spec", "a", []string{a, "a-b"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseSealer(tt.current, tt.specs); !errors.Is(err, ErrMasterKey) {
				t.Fatalf("err = %v, want ErrMasterKey", err)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	key := bytes.Repeat([]byte{7}, MasterKeySize)
	s, err := NewSealer("k1", map[string][]byte{"k1": key})
	if err != nil {
		f.Fatal(err)
	}
	kp := keypairFromSeed(bytes.Repeat([]byte{1}, 32))
	sealed, err := s.Seal(kp)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{sealed, "", "v1", "v1.k1..", "v1.k2.AAAA.AAAA", "v1.k1." + strings.Repeat("A", 16) + "." + strings.Repeat("A", 64)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := s.Open(in, kp.PublicKey())
		if err != nil {
			if !errors.Is(err, ErrSealedKey) {
				t.Fatalf("error %v does not wrap ErrSealedKey", err)
			}
			if got != nil {
				t.Fatal("keypair returned with an error")
			}
			return
		}
		if !got.PublicKey().Equals(kp.PublicKey()) {
			t.Fatal("opened a key for another public key")
		}
	})
}

func FuzzParseMasterKey(f *testing.F) {
	for _, seed := range []string{"k1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)), "", ":", "k:AAAA", "k1:====="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		kid, key, err := ParseMasterKey(in)
		if err != nil {
			if !errors.Is(err, ErrMasterKey) {
				t.Fatalf("error %v does not wrap ErrMasterKey", err)
			}
			return
		}
		if len(key) != MasterKeySize || validKeyID(kid) != nil {
			t.Fatalf("accepted kid %q with a %d-byte key", kid, len(key))
		}
	})
}
