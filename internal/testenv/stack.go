package testenv

import (
	"context"
	"errors"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/internal/core"
	"github.com/stipend/stipend/internal/localnet"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/wallet"
)

// Stack is the core of the app (internal/core, as serve and the demo build
// it) on real parts: the real Redis (keys under a prefix of its own), a local
// Solana chain, sealing under a fresh master key. Tests put the face they
// test on its Service.
type Stack struct {
	Store   *policy.Store
	Local   *localnet.Chain
	Chain   *wallet.Chain
	Sealer  *wallet.Sealer
	Service *service.Service
	prefix  string
}

// StackOptions tune a Stack.
type StackOptions struct {
	PublicURL     string
	FeePayer      bool // a gasless fee payer pays the keys' fees
	RiskThreshold int
	Embedded      bool // run the ledger on the embedded miniredis instead of the real Redis
	Cluster       bool // run the ledger on the test Redis Cluster
	X402          bool // the chain's mint is DevnetUSDC and the service pays x402 offers on DevnetX402Network, private URLs allowed
	Token2022     bool // the mint is a Token-2022 mint (as PYUSD is)
}

// NewStack starts a Stack for the test and stops it when the test ends.
func NewStack(tb testing.TB, o StackOptions) *Stack {
	tb.Helper()
	st := &Stack{prefix: "stipendtest" + policy.NewID("")[:10]}
	if o.X402 {
		st.Local = ChainWith(tb, localnet.Options{Mint: DevnetUSDC, Token2022: o.Token2022})
	} else {
		st.Local = ChainWith(tb, localnet.Options{Token2022: o.Token2022})
	}
	var rdb redis.UniversalClient // nil: the embedded store
	switch {
	case o.Cluster:
		rdb = RedisCluster(tb)
	case !o.Embedded:
		rdb = Redis(tb)
	}
	cfg := wallet.Config{RPCURL: st.Local.URL, Mint: st.Local.Mint, Decimals: st.Local.Decimals,
		TokenProgram: st.Local.TokenProgram, ConfirmTimeout: 20 * time.Second}
	if o.FeePayer {
		fp, err := wallet.NewKeypair()
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.Local.Airdrop(context.Background(), fp.PublicKey(), 10_000_000_000); err != nil {
			tb.Fatal(err)
		}
		cfg.FeePayer = fp
	}
	var err error
	if st.Sealer, err = wallet.ParseSealer("test", []string{MasterKey(tb, "test")}); err != nil {
		tb.Fatal(err)
	}
	if o.PublicURL == "" {
		o.PublicURL = "http://127.0.0.1:0"
	}
	scfg := service.Config{PublicURL: o.PublicURL, RiskThreshold: o.RiskThreshold}
	if o.X402 {
		scfg.X402Network, scfg.X402AllowPrivate = DevnetX402Network, true
	}
	c := st.open(tb, rdb, cfg, scfg)
	st.Store, st.Chain, st.Service = c.Store, c.Chain, c.Service
	return st
}

// open opens a core on the stack's ledger (its key prefix) and sealer, and
// closes it when the test ends.
func (st *Stack) open(tb testing.TB, rdb redis.UniversalClient, chain wallet.Config, cfg service.Config) *core.Core {
	tb.Helper()
	c, err := core.Open(core.Config{Redis: rdb, RedisPrefix: st.prefix, Chain: chain, Sealer: st.Sealer, Service: cfg,
		AuditFile: core.AuditOff}) // the audit log stays in Redis, where tests read it
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// User is a human's wallet on the local chain.
type User struct {
	Key solana.PrivateKey // the secret, for a browser test wallet
	kp  *wallet.Keypair   // the same key: signs as the product's wallet code does
}

// Address is the user's wallet address.
func (u *User) Address() solana.PublicKey { return u.Key.PublicKey() }

// NewUser makes a wallet holding 1 SOL and usdc base units of the token.
func (st *Stack) NewUser(tb testing.TB, usdc uint64) *User {
	tb.Helper()
	key := Wallet(tb, st.Local, usdc)
	kp, err := wallet.KeypairFromPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return &User{Key: key, kp: kp}
}

// SignTransaction signs a base64 wire transaction as the user's wallet
// would (solana:signTransaction): its signature in its slot, the rest
// untouched. A user who is not a signer hands the transaction back as it
// is, for tests of a submission by the wrong wallet.
func (u *User) SignTransaction(tb testing.TB, wireB64 string) string {
	tb.Helper()
	signed, err := u.kp.SignTransaction(wireB64)
	if errors.Is(err, wallet.ErrNotSigner) {
		return wireB64
	}
	if err != nil {
		tb.Fatal(err)
	}
	return signed
}

// SignMessage signs a text as the user's wallet would (solana:signMessage), base58.
func (u *User) SignMessage(text string) string {
	return u.kp.SignMessage([]byte(text)).String()
}

// TokenBalance reads an owner's token balance from the chain.
func (st *Stack) TokenBalance(tb testing.TB, owner solana.PublicKey) uint64 {
	tb.Helper()
	b, err := st.Chain.TokenBalance(context.Background(), owner)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Fund creates a session key for the user and approves its funding as the
// user would; it returns the active key.
func (st *Stack) Fund(tb testing.TB, agent string, u *User, maxAmount policy.Amount, sessionID string) *service.KeyView {
	tb.Helper()
	ctx := context.Background()
	c, err := st.Service.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: agent, UserWallet: u.Address().String(),
		MaxAmount: maxAmount, ExpiryHours: 24, SessionID: sessionID})
	if err != nil {
		tb.Fatalf("create session key: %v", err)
	}
	if _, err := st.Service.SubmitApproval(ctx, c.ApprovalToken, service.Submission{SignedTransaction: u.SignTransaction(tb, c.ApprovalTransaction)}); err != nil {
		tb.Fatalf("approve funding: %v", err)
	}
	k, err := st.Service.Status(ctx, agent, c.SessionKeyID)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}
