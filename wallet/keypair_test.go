package wallet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	solana "github.com/gagliardetto/solana-go"
)

// secretForms returns every textual form of kp's secret a leak could take.
func secretForms(kp *Keypair) []string {
	return []string{
		kp.sec.priv.String(),                              // base58 of the 64-byte key, as solana-keygen prints it
		solana.PrivateKey(kp.seed()).String()[:20],        // base58 of the seed (prefix)
		hex.EncodeToString(kp.seed()),                     // hex of the seed
		strings.Trim(fmt.Sprint([]byte(kp.seed())), "[]"), // decimal bytes, as %v of a []byte prints
	}
}

func TestKeypairNeverRevealsSecret(t *testing.T) {
	kp, err := NewKeypair()
	if err != nil {
		t.Fatal(err)
	}
	pub := kp.PublicKey().String()
	type exported struct{ Key *Keypair }
	type exportedValue struct{ Key Keypair }
	type unexported struct{ key Keypair }
	type unexportedPtr struct{ key *Keypair }

	logJSON := func(args ...any) string {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", args...)
		return buf.String()
	}
	logText := func(args ...any) string {
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", args...)
		return buf.String()
	}
	mustJSON := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json: %v", err)
		}
		return string(b)
	}

	tests := []struct {
		name    string
		out     string
		wantPub bool // the public key must appear
	}{
		{"%v pointer", fmt.Sprintf("%v", kp), true},
		{"%v value", fmt.Sprintf("%v", *kp), true},
		{"%+v", fmt.Sprintf("%+v", kp), true},
		{"%#v", fmt.Sprintf("%#v", kp), true},
		{"%#v value", fmt.Sprintf("%#v", *kp), true},
		{"%s", fmt.Sprintf("%s", kp), true},
		{"%q", fmt.Sprintf("%q", kp), true},
		{"%x", fmt.Sprintf("%x", kp), true},
		{"%d", fmt.Sprintf("%d", kp), true},
		{"Sprint", fmt.Sprint(kp), true},
		{"Sprintln value", fmt.Sprintln(*kp), true},
		{"String", kp.String(), true},
		{"GoString", kp.GoString(), true},
		{"struct exported pointer %+v", fmt.Sprintf("%+v", exported{kp}), true},
		{"struct exported value %#v", fmt.Sprintf("%#v", exportedValue{*kp}), true},
		{"struct unexported value %+v", fmt.Sprintf("%+v", unexported{*kp}), false},
		{"struct unexported value %#v", fmt.Sprintf("%#v", unexported{*kp}), false},
		{"struct unexported pointer %+v", fmt.Sprintf("%+v", unexportedPtr{kp}), false},
		{"slice %v", fmt.Sprintf("%v", []*Keypair{kp}), true},
		{"error %v", fmt.Errorf("wrapped: %v", kp).Error(), true},
		{"json pointer", mustJSON(kp), true},
		{"json value", mustJSON(*kp), true},
		{"json in struct", mustJSON(exported{kp}), true},
		{"json map key", mustJSON(map[Keypair]int{*kp: 1}), true},
		{"slog json attr", logJSON("key", kp), true},
		{"slog json value", logJSON("key", *kp), true},
		{"slog json Any", logJSON(slog.Any("key", kp)), true},
		{"slog json group", logJSON(slog.Group("g", "key", kp)), true},
		{"slog json struct", logJSON("s", exported{kp}), true},
		{"slog text attr", logText("key", kp), true},
		{"slog text struct", logText("s", unexported{*kp}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, secret := range secretForms(kp) {
				if strings.Contains(tt.out, secret) {
					t.Fatalf("output reveals the secret (%q): %s", secret, tt.out)
				}
			}
			if tt.wantPub && !strings.Contains(tt.out, pub) {
				t.Fatalf("output lacks the public key %s: %s", pub, tt.out)
			}
		})
	}
}

func TestKeypairFromPrivateKey(t *testing.T) {
	kp, err := NewKeypair()
	if err != nil {
		t.Fatal(err)
	}
	good := kp.sec.priv
	bad := make(solana.PrivateKey, 64)
	copy(bad, good)
	bad[40] ^= 1 // public half no longer matches the seed
	tests := []struct {
		name    string
		key     solana.PrivateKey
		wantErr error
	}{
		{"valid", good, nil},
		{"short", good[:32], ErrKeypair},
		{"inconsistent", bad, ErrKeypair},
		{"empty", nil, ErrKeypair},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KeypairFromPrivateKey(tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !got.PublicKey().Equals(kp.PublicKey()) {
				t.Fatalf("public key = %s, want %s", got.PublicKey(), kp.PublicKey())
			}
			if err != nil && strings.Contains(err.Error(), good.String()) {
				t.Fatal("error reveals the key")
			}
		})
	}

	fromB58, err := KeypairFromBase58(good.String())
	if err != nil || !fromB58.PublicKey().Equals(kp.PublicKey()) {
		t.Fatalf("KeypairFromBase58 = %v, %v", fromB58, err)
	}
	const notKey = "not-a-key-0OIl"
	if _, err := KeypairFromBase58(notKey); !errors.Is(err, ErrKeypair) || strings.Contains(err.Error(), notKey) {
		t.Fatalf("KeypairFromBase58(garbage) err = %v", err)
	}
}
