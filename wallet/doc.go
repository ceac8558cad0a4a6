// Package wallet holds the Solana side of stipend: session keypairs and their
// sealing at rest, identity attestations, and the transactions that fund, spend
// from and sweep a session key, sent and confirmed over JSON-RPC.
//
// It knows nothing of limits, policy, MCP or HTTP: callers decide whether a
// payment is allowed; this package only builds, signs, verifies and sends.
//
// Amounts are always uint64 base units of the configured SPL token mint.
//
// Every transaction built here starts with its compute budget (see [Budget]):
// a unit limit from simulating it, a unit price from the recent
// prioritization fees of the accounts it writes, capped. RPC calls go to the
// first of the configured endpoints that is not set aside after a failure, a
// timeout or a 429 (see Config.FallbackRPCURLs).
//
// Identity: a session key's identity public key (the product's pkp_public_key)
// is the session key's own ed25519 public key. It signs attestations with
// [Keypair.Attest]; anyone verifies them with [VerifyAttestation].
package wallet

import "errors"

// Sentinel errors. Callers test them with errors.Is; the wrapped message adds
// the reason. None of them ever carries secret key material.
var (
	// ErrSealedKey reports a sealed key that cannot be opened: malformed, sealed
	// for another public key, tampered with, or under an unknown or wrong master key.
	ErrSealedKey = errors.New("wallet: cannot open sealed key")
	// ErrUnknownKeyID reports a sealed key whose master key id is not configured.
	// It is always returned together with ErrSealedKey.
	ErrUnknownKeyID = errors.New("wallet: unknown master key id")
	// ErrKeypair reports a private key that cannot be loaded.
	ErrKeypair = errors.New("wallet: invalid private key")
	// ErrMasterKey reports an invalid master key or key set.
	ErrMasterKey = errors.New("wallet: invalid master key")

	// ErrAttestation reports an attestation that cannot be encoded or whose
	// signature does not verify.
	ErrAttestation = errors.New("wallet: invalid attestation")

	// ErrMalformedTx reports a signed transaction that cannot be decoded.
	ErrMalformedTx = errors.New("wallet: malformed transaction")
	// ErrMessageMismatch reports a signed transaction whose message is not
	// byte for byte the one that was issued.
	ErrMessageMismatch = errors.New("wallet: transaction differs from the one issued")
	// ErrSignatureCount reports a signed transaction with fewer signatures than
	// its message requires.
	ErrSignatureCount = errors.New("wallet: wrong number of signatures")
	// ErrExtraSignature reports a signed transaction with more signatures than
	// its message requires.
	ErrExtraSignature = errors.New("wallet: unexpected extra signature")
	// ErrSignerMismatch reports an issued message whose required signers are not
	// exactly the expected wallet.
	ErrSignerMismatch = errors.New("wallet: required signers differ")
	// ErrMissingSignature reports that the expected wallet did not sign.
	ErrMissingSignature = errors.New("wallet: signature missing")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("wallet: invalid signature")

	// ErrInvalidRecipient reports a payment recipient that is not an ordinary
	// wallet address (off curve, zero, or the paying key itself).
	ErrInvalidRecipient = errors.New("wallet: invalid recipient")
	// ErrInvalidAmount reports a zero amount where a transfer needs a positive one.
	ErrInvalidAmount = errors.New("wallet: invalid amount")
	// ErrInvalidMemo reports a payment id that cannot be carried in a memo.
	ErrInvalidMemo = errors.New("wallet: invalid payment id")
	// ErrNothingToSweep reports a sweep of a key that has no token account.
	ErrNothingToSweep = errors.New("wallet: nothing to sweep")
	// ErrConfig reports an invalid Chain configuration.
	ErrConfig = errors.New("wallet: invalid configuration")

	// ErrTxFailed reports a transaction that landed on chain with an error
	// (it consumed its fee but changed nothing else); it wraps the on-chain error.
	ErrTxFailed = errors.New("wallet: transaction failed on chain")
	// ErrBlockhashExpired reports a transaction that did not land and whose
	// blockhash is no longer valid: it can never land. Only then may the
	// caller rebuild and re-sign.
	ErrBlockhashExpired = errors.New("wallet: blockhash expired, transaction did not land")
	// ErrConfirmTimeout reports that confirmation did not arrive in time; the
	// transaction's fate is unknown and must be looked up later.
	ErrConfirmTimeout = errors.New("wallet: confirmation timed out")
	// ErrSend reports that the RPC node did not accept a transaction and it was
	// not found on chain either; resending the same signed transaction is safe.
	ErrSend = errors.New("wallet: send failed")
)
