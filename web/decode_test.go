package web

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"testing"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
)

// ---- transactions for the page's own reading of the bytes (decode.js) ----------

var decodeTestMint = solana.MustPublicKeyFromBase58("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")

func randomKey() solana.PublicKey {
	var k solana.PublicKey
	_, _ = rand.Read(k[:])
	return k
}

func ataOf(owner, mint, tokenProgram solana.PublicKey) solana.PublicKey {
	a, _, err := solana.FindProgramAddress([][]byte{owner[:], tokenProgram[:], mint[:]}, solana.SPLAssociatedTokenAccountProgramID)
	if err != nil {
		panic(err)
	}
	return a
}

func createATA(idempotent bool, payer, owner, mint, tokenProgram solana.PublicKey) solana.Instruction {
	data := []byte{0}
	if idempotent {
		data = []byte{1}
	}
	return solana.NewInstruction(solana.SPLAssociatedTokenAccountProgramID, solana.AccountMetaSlice{
		solana.NewAccountMeta(payer, true, true),
		solana.NewAccountMeta(ataOf(owner, mint, tokenProgram), true, false),
		solana.NewAccountMeta(owner, false, false),
		solana.NewAccountMeta(mint, false, false),
		solana.NewAccountMeta(solana.SystemProgramID, false, false),
		solana.NewAccountMeta(tokenProgram, false, false),
	}, data)
}

func transferChecked(tokenProgram, from, to, mint solana.PublicKey, amount uint64, decimals byte) solana.Instruction {
	data := binary.LittleEndian.AppendUint64([]byte{12}, amount)
	data = append(data, decimals)
	return solana.NewInstruction(tokenProgram, solana.AccountMetaSlice{
		solana.NewAccountMeta(ataOf(from, mint, tokenProgram), true, false),
		solana.NewAccountMeta(mint, false, false),
		solana.NewAccountMeta(ataOf(to, mint, tokenProgram), true, false),
		solana.NewAccountMeta(from, false, true),
	}, data)
}

func computeUnitLimit(units uint32) solana.Instruction {
	return solana.NewInstruction(solana.ComputeBudget, nil, binary.LittleEndian.AppendUint32([]byte{2}, units))
}

func computeUnitPrice(microLamports uint64) solana.Instruction {
	return solana.NewInstruction(solana.ComputeBudget, nil, binary.LittleEndian.AppendUint64([]byte{3}, microLamports))
}

func memo(text string, signer solana.PublicKey) solana.Instruction {
	return solana.NewInstruction(solana.MemoProgramID, solana.AccountMetaSlice{solana.NewAccountMeta(signer, false, true)}, []byte(text))
}

// wireOf is the legacy transaction of ixs paid by payer: zeroed signatures, and its message.
func wireOf(t *testing.T, payer solana.PublicKey, ixs ...solana.Instruction) (wire, message []byte) {
	t.Helper()
	tx, err := solana.NewTransaction(ixs, solana.Hash(randomKey()), solana.TransactionPayer(payer))
	if err != nil {
		t.Fatal(err)
	}
	message, err = tx.Message.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	n := int(tx.Message.Header.NumRequiredSignatures)
	wire = append([]byte{byte(n)}, make([]byte, 64*n)...)
	return append(wire, message...), message
}

// addDecodeCases adds the browser cases of the page's reading of the bytes:
// every instruction the service's transactions hold, described in words with
// its amounts and units, the network fee they imply; and transactions or
// messages the page cannot describe, never offered for signing.
func addDecodeCases(t *testing.T, add func(name, kind string, c browserCase, tweak func(*fakeApproval))) {
	key := randomKey()
	withKey := func(build func(owner solana.PublicKey) []solana.Instruction) func(*fakeApproval) {
		return func(a *fakeApproval) {
			a.data.Mint = decodeTestMint.String()
			a.data.Summary.SessionKeyAddress = key.String()
			a.build = func(pub ed25519.PublicKey) ([]byte, []byte) {
				owner := solana.PublicKeyFromBytes(pub)
				return wireOf(t, owner, build(owner)...)
			}
		}
	}
	funding := func(owner solana.PublicKey) []solana.Instruction {
		return []solana.Instruction{
			computeUnitLimit(60_000), computeUnitPrice(250_000),
			createATA(true, owner, key, decodeTestMint, solana.TokenProgramID),
			transferChecked(solana.TokenProgramID, owner, key, decodeTestMint, 100_000_000, 6),
			system.NewTransferInstruction(10_000_000, owner, key).Build(),
		}
	}
	refused := map[string]any{"state": "closed", "code": "unknown_instruction", "offered": false}

	// The funding as the service builds it, with a compute budget: five steps and the fee.
	add("fund-decoded", "fund", browserCase{Expect: map[string]any{"state": "success", "code": "active", "decoded_steps": 5,
		"decoded_includes": []string{
			"System Program · Transfer: Send 0.01 SOL from your wallet",
			"to the session key (" + key.String() + ")",
			"SPL Token Program · Transfer (checked): Move 100.00 USDC from the token account ",
			" to the token account " + ataOf(key, decodeTestMint, solana.TokenProgramID).String() + " of the session key (" + key.String() + "), signed by your wallet (",
			"Associated Token Account Program · Create (if missing): Create, unless it exists already, the token account of the session key (" + key.String() + ") for USDC",
			"Compute Budget Program · Set compute unit limit: Allow at most 60000 compute units.",
			"Compute Budget Program · Set compute unit price: Pay a priority fee of 250000 micro-lamports per compute unit.",
		},
		// 5000 lamports for the one signature + ceil(60000 × 250000 / 10^6) = 15000 priority.
		"fee_includes": "Network fee: at most 0.00002 SOL, paid by your wallet"}, posts: 1, final: "used"}, withKey(funding))
	// Without a compute budget: the base fee of one signature.
	add("top_up-decoded-no-budget", "top_up", browserCase{Viewport: "phone", Expect: map[string]any{"state": "success", "code": "active",
		"decoded_steps": 3, "decoded_includes": []string{"Move 100.00 USDC", "Send 0.01 SOL"},
		"fee_includes": "Network fee: at most 0.000005 SOL, paid by your wallet ("}, posts: 1, final: "used"},
		withKey(func(owner solana.PublicKey) []solana.Instruction { return funding(owner)[2:] }))
	// A payment from the owner's wallet of another token, under Token-2022: the mint
	// named, its own decimals, the plain Create and the memo.
	other := randomKey()
	shop := randomKey()
	add("own_payment-token2022", "own_payment", browserCase{Expect: map[string]any{"state": "success", "code": "confirmed", "decoded_steps": 3,
		"decoded_includes": []string{
			"Associated Token Account Program · Create: Create the token account of " + shop.String() + " for tokens of the mint " + other.String(),
			"Token-2022 Program · Transfer (checked): Move 1.50 tokens of the mint " + other.String() + " from the token account ",
			"to the token account " + ataOf(shop, other, solana.Token2022ProgramID).String() + " of " + shop.String() + ", signed by your wallet",
			"SPL Memo Program · Memo: Attach the note “pay_7” to the transaction.",
		}}, posts: 1, final: "used"},
		withKey(func(owner solana.PublicKey) []solana.Instruction {
			return []solana.Instruction{
				createATA(false, owner, shop, other, solana.Token2022ProgramID),
				transferChecked(solana.Token2022ProgramID, owner, shop, other, 1_500_000_000, 9),
				memo("pay_7", owner),
			}
		}))
	// What the page cannot describe is not offered for signing.
	add("fund-unknown-instruction", "fund", browserCase{Expect: refused}, withKey(func(owner solana.PublicKey) []solana.Instruction {
		return append(funding(owner), solana.NewInstruction(randomKey(), solana.AccountMetaSlice{solana.NewAccountMeta(owner, true, true)}, []byte{9, 9}))
	}))
	add("top_up-system-assign", "top_up", browserCase{Viewport: "phone", Expect: refused}, withKey(func(owner solana.PublicKey) []solana.Instruction {
		return append(funding(owner)[2:], system.NewAssignInstruction(randomKey(), owner).Build())
	}))
	add("own_payment-token-approve", "own_payment", browserCase{Expect: refused}, withKey(func(owner solana.PublicKey) []solana.Instruction {
		// SPL Token Approve (4): lets a delegate spend the owner's tokens.
		return []solana.Instruction{solana.NewInstruction(solana.TokenProgramID, solana.AccountMetaSlice{
			solana.NewAccountMeta(ataOf(owner, decodeTestMint, solana.TokenProgramID), true, false),
			solana.NewAccountMeta(randomKey(), false, false),
			solana.NewAccountMeta(owner, false, true),
		}, binary.LittleEndian.AppendUint64([]byte{4}, 1<<60))}
	}))
	add("fund-ata-not-derived", "fund", browserCase{Expect: refused}, withKey(func(owner solana.PublicKey) []solana.Instruction {
		ix := createATA(true, owner, key, decodeTestMint, solana.TokenProgramID)
		ix.Accounts()[1].PublicKey = randomKey() // claims to create the key's token account at another address
		return append([]solana.Instruction{ix}, funding(owner)[3:]...)
	}))
	// Messages (policy changes, payment approvals): read from the text itself.
	add("limits-decoded", "limits", browserCase{Expect: map[string]any{"state": "success", "code": "limits_changed",
		"decoded_includes": []string{"Message · Sign a message: Sign, with your wallet", "that says: “Approve limits for the agent shopping-bot on session sess_1.”",
			"valid until 2030-01-01T00:30:00Z"},
		"fee_includes": "No transaction: signing moves no money"}, posts: 1, final: "used"}, nil)
	add("unlink-bidi-message", "unlink", browserCase{Expect: refused}, func(a *fakeApproval) {
		a.data.Message = strings.Replace(a.data.Message, "Approve", "Approve \u202Ekcolnu", 1)
		a.issued = []byte(a.data.Message)
	})
	add("link-other-account", "link", browserCase{Expect: refused}, func(a *fakeApproval) {
		a.data.Message = strings.Replace(a.data.Message, a.data.UserWallet, randomKey().String(), 1)
		a.issued = []byte(a.data.Message)
	})
}
