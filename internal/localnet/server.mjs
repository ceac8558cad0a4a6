#!/usr/bin/env node
// Local Solana chain for stipend's tests and demo: a LiteSVM instance (the real
// Solana runtime with the SPL Token and Associated Token Account programs built
// in) behind an HTTP server that speaks the standard Solana JSON-RPC 2.0 subset
// the service uses, plus two clearly named extras (localnet_*).
//
// Usage: node server.mjs [--port 0] [--slot-ms 400] [--blockhash-lifetime 150]
//                        [--mint <base58>] [--decimals 6] [--token-2022] [--parent-stdin]
// When ready it prints exactly one JSON line on stdout:
//   {"rpc_url":"http://127.0.0.1:PORT","ws_url":"ws://127.0.0.1:PORT","mint":"<base58>","decimals":6}
// LOCALNET_DEBUG=1 logs each request to stderr.
//
// Time: a ticker advances the slot every --slot-ms milliseconds (0 = only on
// localnet_advanceSlots), and each slot has a new blockhash. Block height equals
// the slot. A blockhash of slot S is valid while the block height is at most
// S + --blockhash-lifetime (150 on mainnet, about 60 s at 400 ms a slot);
// LiteSVM's own check (latest blockhash only) is off, this server checks.
// Everything that lands is final at once ("finalized"); commitment is ignored.
import http from "node:http";
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { LiteSVM, Clock, FailedTransactionMetadata } from "litesvm";
import {
  address, appendTransactionMessageInstructions, createTransactionMessage,
  generateKeyPairSigner, getBase58Decoder, getBase58Encoder, getBase64Decoder,
  getBase64Encoder, getCompiledTransactionMessageDecoder, getCompiledTransactionMessageEncoder,
  getTransactionDecoder, getTransactionEncoder, isAddress, none, pipe,
  setTransactionMessageFeePayerSigner, setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners, some,
} from "@solana/kit";
import {
  TOKEN_PROGRAM_ADDRESS, findAssociatedTokenPda, getCreateAssociatedTokenIdempotentInstruction,
  getMintDecoder, getMintEncoder, getMintToInstruction, getTokenDecoder,
} from "@solana-program/token";
import { getTransferSolInstruction } from "@solana-program/system";
import { WebSocketServer } from "ws";

const { values: opt } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "slot-ms": { type: "string", default: "400" },
    "blockhash-lifetime": { type: "string", default: "150" },
    mint: { type: "string" },
    decimals: { type: "string", default: "6" },
    "token-2022": { type: "boolean", default: false },
    "parent-stdin": { type: "boolean", default: false },
  },
});
const SLOT_MS = Number(opt["slot-ms"]);
const LIFETIME = Number(opt["blockhash-lifetime"]);
const DECIMALS = Number(opt.decimals);
const DEBUG = process.env.LOCALNET_DEBUG === "1";
const API_VERSION = "2.3.0"; // the Agave RPC version this server imitates
const LAMPORTS_PER_SIGNATURE = 5000n;
const TOKEN_2022_ADDRESS = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb";
// The mint's token program: SPL Token, or Token-2022 with --token-2022 (litesvm loads both;
// a Token-2022 mint without extensions has SPL Token's 82-byte layout and instructions).
const MINT_PROGRAM = opt["token-2022"] ? TOKEN_2022_ADDRESS : TOKEN_PROGRAM_ADDRESS;
const SYSTEM_PROGRAM = "11111111111111111111111111111111";
const COMPUTE_BUDGET = "ComputeBudget111111111111111111111111111111";

const b58 = { enc: getBase58Encoder(), dec: getBase58Decoder() }; // enc: string->bytes
const b64 = { enc: getBase64Encoder(), dec: getBase64Decoder() };
const txDecoder = getTransactionDecoder();
const txEncoder = getTransactionEncoder();
const msgDecoder = getCompiledTransactionMessageDecoder();
const msgEncoder = getCompiledTransactionMessageEncoder();
const tokenDecoder = getTokenDecoder();
const mintDecoder = getMintDecoder();

// ---------- errors ----------

class RpcError extends Error {
  constructor(code, message, data) { super(message); this.code = code; this.data = data; }
}
const invalidParams = (msg) => new RpcError(-32602, msg);

// Names of LiteSVM's fieldless error enums (const enums, absent at run time), in order.
const TX_ERR = ("AccountInUse AccountLoadedTwice AccountNotFound ProgramAccountNotFound InsufficientFundsForFee " +
  "InvalidAccountForFee AlreadyProcessed BlockhashNotFound CallChainTooDeep MissingSignatureForFee " +
  "InvalidAccountIndex SignatureFailure InvalidProgramForExecution SanitizeFailure ClusterMaintenance " +
  "AccountBorrowOutstanding WouldExceedMaxBlockCostLimit UnsupportedVersion InvalidWritableAccount " +
  "WouldExceedMaxAccountCostLimit WouldExceedAccountDataBlockLimit TooManyAccountLocks " +
  "AddressLookupTableNotFound InvalidAddressLookupTableOwner InvalidAddressLookupTableData " +
  "InvalidAddressLookupTableIndex InvalidRentPayingAccount WouldExceedMaxVoteCostLimit " +
  "WouldExceedAccountDataTotalLimit MaxLoadedAccountsDataSizeExceeded ResanitizationNeeded " +
  "InvalidLoadedAccountsDataSizeLimit UnbalancedTransaction ProgramCacheHitMaxLimit CommitCancelled").split(" ");
const IX_ERR = ("GenericError InvalidArgument InvalidInstructionData InvalidAccountData AccountDataTooSmall " +
  "InsufficientFunds IncorrectProgramId MissingRequiredSignature AccountAlreadyInitialized UninitializedAccount " +
  "UnbalancedInstruction ModifiedProgramId ExternalAccountLamportSpend ExternalAccountDataModified " +
  "ReadonlyLamportChange ReadonlyDataModified DuplicateAccountIndex ExecutableModified RentEpochModified " +
  "NotEnoughAccountKeys AccountDataSizeChanged AccountNotExecutable AccountBorrowFailed AccountBorrowOutstanding " +
  "DuplicateAccountOutOfSync InvalidError ExecutableDataModified ExecutableLamportChange " +
  "ExecutableAccountNotRentExempt UnsupportedProgramId CallDepth MissingAccount ReentrancyNotAllowed " +
  "MaxSeedLengthExceeded InvalidSeeds InvalidRealloc ComputationalBudgetExceeded PrivilegeEscalation " +
  "ProgramEnvironmentSetupFailure ProgramFailedToComplete ProgramFailedToCompile Immutable IncorrectAuthority " +
  "AccountNotRentExempt InvalidAccountOwner ArithmeticOverflow UnsupportedSysvar IllegalOwner " +
  "MaxAccountsDataAllocationsExceeded MaxAccountsExceeded MaxInstructionTraceLengthExceeded " +
  "BuiltinProgramsMustConsumeComputeUnits BorshIoError").split(" ");

// txErrJSON turns a LiteSVM transaction error into the standard RPC JSON form,
// e.g. "BlockhashNotFound" or {"InstructionError":[0,{"Custom":1}]}.
function txErrJSON(e) {
  if (typeof e === "number") return TX_ERR[e] ?? `Unknown${e}`;
  switch (e?.constructor?.name) {
    case "TransactionErrorInstructionError": {
      const ie = e.err();
      let j;
      if (typeof ie === "number") j = IX_ERR[ie] ?? `Unknown${ie}`;
      else if ("code" in ie) j = { Custom: ie.code };
      else j = { BorshIoError: ie.msg };
      return { InstructionError: [e.index, j] };
    }
    case "TransactionErrorDuplicateInstruction": return { DuplicateInstruction: e.index };
    case "TransactionErrorInsufficientFundsForRent": return { InsufficientFundsForRent: { account_index: e.accountIndex } };
    default: return { [String(e?.constructor?.name).replace(/^TransactionError/, "")]: { account_index: e?.accountIndex } };
  }
}

const TX_ERR_MSG = {
  BlockhashNotFound: "Blockhash not found",
  AlreadyProcessed: "This transaction has already been processed",
  InsufficientFundsForFee: "Insufficient funds for fee",
  AccountNotFound: "Attempt to debit an account but found no record of a prior credit.",
  SignatureFailure: "Transaction did not pass signature verification",
  ProgramAccountNotFound: "Attempt to load a program that does not exist",
};
const IX_ERR_MSG = {
  InsufficientFunds: "insufficient funds for instruction",
  InvalidAccountData: "invalid account data for instruction",
  InvalidInstructionData: "invalid instruction data",
  MissingRequiredSignature: "missing required signature for instruction",
  IncorrectProgramId: "incorrect program id for instruction",
  UninitializedAccount: "instruction requires an initialized account",
};
function txErrMessage(j) {
  if (typeof j === "string") return TX_ERR_MSG[j] ?? j;
  if (j.InstructionError) {
    const [i, ie] = j.InstructionError;
    const m = typeof ie === "string" ? (IX_ERR_MSG[ie] ?? ie)
      : ie.Custom !== undefined ? `custom program error: 0x${ie.Custom.toString(16)}` : JSON.stringify(ie);
    return `Error processing Instruction ${i}: ${m}`;
  }
  return JSON.stringify(j);
}

// preflightError is the error a validator returns when sendTransaction's simulation fails.
function preflightError(err, logs = [], unitsConsumed = 0) {
  return new RpcError(-32002, `Transaction simulation failed: ${txErrMessage(err)}`, {
    accounts: null, err, innerInstructions: null, logs, replacementBlockhash: null,
    returnData: null, unitsConsumed,
  });
}
const sigVerifyError = () => new RpcError(-32003, "Transaction signature verification failure");

// ---------- chain state ----------

const svm = new LiteSVM().withBlockhashCheck(false).withTransactionHistory(1_000_000n);
let slot = 1;
const blockhashes = new Map(); // blockhash -> lastValidBlockHeight
let latest = null; // { blockhash, lastValidBlockHeight }
const txs = new Map(); // signature -> record of a landed transaction
const byAddress = new Map(); // address -> signatures of landed transactions naming it, oldest first
const genesisHash = b58.dec.decode(createHash("sha256").update("stipend-localnet").digest());

function newBlockhash() {
  svm.expireBlockhash();
  latest = { blockhash: svm.latestBlockhash(), lastValidBlockHeight: slot + LIFETIME };
  blockhashes.set(latest.blockhash, latest.lastValidBlockHeight);
}

function advanceSlots(n) {
  slot += n;
  svm.setClock(new Clock(BigInt(slot), 0n, 0n, 0n, BigInt(Math.floor(Date.now() / 1000))));
  for (const [h, lv] of blockhashes) if (lv < slot) blockhashes.delete(h);
  newBlockhash();
}

const blockhashValid = (h) => (blockhashes.get(h) ?? -1) >= slot;
const context = () => ({ slot, apiVersion: API_VERSION });
const withContext = (value) => ({ context: context(), value });

// The mint authority also pays for the server's own transactions (mints, airdrops).
const authority = await generateKeyPairSigner();
svm.setAccount({
  address: authority.address, lamports: 10n ** 18n, programAddress: SYSTEM_PROGRAM,
  data: new Uint8Array(0), executable: false, space: 0n,
});
const mint = opt.mint ? parseAddress(opt.mint) : (await generateKeyPairSigner()).address;
// mintPrograms holds every mint this chain made, and its token program: the
// first (--mint) and those added by localnet_createMint.
const mintPrograms = new Map();
function putMint(address, decimals, program) {
  const data = getMintEncoder().encode({
    mintAuthority: some(authority.address), supply: 0n, decimals,
    isInitialized: true, freezeAuthority: none(),
  });
  svm.setAccount({
    address, lamports: svm.minimumBalanceForRentExemption(BigInt(data.length)),
    programAddress: program, data: new Uint8Array(data), executable: false,
    space: BigInt(data.length),
  });
  mintPrograms.set(address, program);
}
putMint(mint, DECIMALS, MINT_PROGRAM);
advanceSlots(0);

// ---------- helpers ----------

function parseAddress(s) {
  if (typeof s !== "string" || !isAddress(s)) throw invalidParams("Invalid param: Invalid");
  return address(s);
}

function parseAmount(v) {
  try {
    const n = BigInt(v);
    if (n < 0n || n >= 1n << 64n) throw new Error();
    return n;
  } catch { throw invalidParams(`Invalid param: bad amount ${JSON.stringify(v)}`); }
}

function decodeWire(str, encoding = "base58") {
  if (typeof str !== "string") throw invalidParams("invalid transaction: not a string");
  let bytes;
  try {
    if (encoding === "base64") bytes = Buffer.from(str, "base64");
    else if (encoding === "base58") bytes = b58.enc.encode(str);
    else throw new Error(`unsupported encoding: ${encoding}`);
  } catch (e) { throw invalidParams(`invalid transaction: ${e.message}`); }
  return new Uint8Array(bytes);
}

// parseTx decodes a wire transaction into kit's Transaction, its compiled message and signature.
function parseTx(bytes) {
  try {
    const tx = txDecoder.decode(bytes);
    const msg = msgDecoder.decode(tx.messageBytes);
    const first = Object.values(tx.signatures)[0];
    const signature = first ? b58.dec.decode(first) : b58.dec.decode(new Uint8Array(64));
    return { tx, msg, signature, signed: Object.values(tx.signatures).every((s) => s) };
  } catch (e) {
    throw invalidParams(`invalid transaction: failed to deserialize transaction: ${e.message}`);
  }
}

function uiAmountString(amount, decimals) {
  if (decimals === 0) return amount.toString();
  const s = amount.toString().padStart(decimals + 1, "0");
  const frac = s.slice(-decimals).replace(/0+$/, "");
  return frac ? `${s.slice(0, -decimals)}.${frac}` : s.slice(0, -decimals);
}
const uiTokenAmount = (amount, decimals) => ({
  amount: amount.toString(), decimals, uiAmount: Number(amount) / 10 ** decimals,
  uiAmountString: uiAmountString(amount, decimals),
});

// tokenAccount reads an SPL Token (or Token-2022) account: {mint, owner, amount, decimals, programId}.
function tokenAccount(addr) {
  const acc = svm.getAccount(addr);
  if (!acc.exists) return null;
  const prog = acc.programAddress;
  if (prog !== TOKEN_PROGRAM_ADDRESS && prog !== TOKEN_2022_ADDRESS) return null;
  if (acc.data.length < 165 || (acc.data.length > 165 && acc.data[165] !== 2)) return null;
  const t = tokenDecoder.decode(acc.data.slice(0, 165));
  const m = svm.getAccount(t.mint);
  const decimals = m.exists ? mintDecoder.decode(m.data.slice(0, 82)).decimals : 0;
  return { mint: t.mint, owner: t.owner, amount: t.amount, decimals, programId: prog };
}

function snapshot(keys) {
  const lamports = keys.map((k) => svm.getBalance(k) ?? 0n);
  const tokens = [];
  keys.forEach((k, i) => {
    const t = tokenAccount(k);
    if (t) tokens.push({ accountIndex: i, mint: t.mint, owner: t.owner, programId: t.programId, uiTokenAmount: uiTokenAmount(t.amount, t.decimals) });
  });
  return { lamports, tokens };
}

// computeBudget reads a message's compute-budget instructions as the runtime
// does: the unit price (micro-lamports per unit, 0 when unset) and the unit
// limit (when unset, 200,000 per other instruction, at most 1,400,000).
function computeBudget(msg) {
  let price = 0n, limit = null, other = 0;
  for (const ix of msg.instructions) {
    const prog = msg.staticAccounts[ix.programAddressIndex];
    const d = ix.data ?? new Uint8Array(0);
    if (prog === COMPUTE_BUDGET && d[0] === 2 && d.length >= 5) limit = BigInt(Buffer.from(d).readUInt32LE(1));
    else if (prog === COMPUTE_BUDGET && d[0] === 3 && d.length >= 9) price = Buffer.from(d).readBigUInt64LE(1);
    else if (prog !== COMPUTE_BUDGET) other++;
  }
  limit ??= BigInt(Math.min(200_000 * other, 1_400_000));
  return { price, limit };
}

// fee is what the runtime charges: 5000 lamports a signature plus the
// priority fee, ceil(unit price × unit limit / 1,000,000).
function fee(msg) {
  const { price, limit } = computeBudget(msg);
  return BigInt(msg.header.numSignerAccounts) * LAMPORTS_PER_SIGNATURE + (price * limit + 999_999n) / 1_000_000n;
}

// writableAccounts lists the accounts a legacy message may write.
function writableAccounts(msg) {
  const h = msg.header, n = msg.staticAccounts.length;
  return msg.staticAccounts.filter((_, i) => i < h.numSignerAccounts
    ? i < h.numSignerAccounts - h.numReadonlySignerAccounts
    : i < n - h.numReadonlyNonSignerAccounts);
}

// Prioritization fees of recent slots, as a validator's cache keeps them for
// getRecentPrioritizationFees: per slot, the lowest unit price of the
// transactions it holds, and per account they write, the lowest price among
// those writing it. Slots without transactions count as 0.
const FEE_SLOTS = 150;
const slotFees = new Map(); // slot -> { min: bigint, accounts: Map<address, bigint> }
function recordFee(atSlot, msg) {
  const { price } = computeBudget(msg);
  let f = slotFees.get(atSlot);
  if (!f) { f = { min: price, accounts: new Map() }; slotFees.set(atSlot, f); }
  if (price < f.min) f.min = price;
  for (const a of writableAccounts(msg)) {
    const cur = f.accounts.get(a);
    if (cur === undefined || price < cur) f.accounts.set(a, price);
  }
  for (const s of slotFees.keys()) if (s <= slot - FEE_SLOTS) slotFees.delete(s);
}
function recentPrioritizationFees(accounts) {
  const out = [];
  for (let s = Math.max(1, slot - FEE_SLOTS + 1); s <= slot; s++) {
    const f = slotFees.get(s);
    let fee = 0n;
    if (f) {
      fee = f.min;
      for (const a of accounts) { const v = f.accounts.get(a); if (v !== undefined && v > fee) fee = v; }
    }
    out.push({ slot: BigInt(s), prioritizationFee: fee });
  }
  return out;
}

// encodeAccount renders an account; "binary" (legacy base58 string) is getAccountInfo's default.
function encodeAccount(acc, encoding = "binary", dataSlice) {
  if (!acc.exists) return null;
  let data = acc.data;
  if (dataSlice) data = data.slice(dataSlice.offset ?? 0, (dataSlice.offset ?? 0) + (dataSlice.length ?? data.length));
  let out;
  switch (encoding) {
    case "binary": out = b58.dec.decode(data); break;
    case "base58": out = [b58.dec.decode(data), "base58"]; break;
    case "base64": case "jsonParsed": out = [Buffer.from(data).toString("base64"), "base64"]; break;
    default: throw invalidParams(`Invalid params: unsupported encoding ${encoding}`);
  }
  return {
    data: out, executable: acc.executable, lamports: acc.lamports, owner: acc.programAddress,
    rentEpoch: 18446744073709551615n, space: BigInt(acc.data.length),
  };
}

// ---------- transactions ----------

function simulate(tx, sigVerify) {
  svm.withSigverify(sigVerify);
  try {
    const r = svm.simulateTransaction(tx);
    if (r instanceof FailedTransactionMetadata) {
      const m = r.meta();
      return { err: txErrJSON(r.err()), logs: m.logs(), unitsConsumed: m.computeUnitsConsumed(), post: null };
    }
    const m = r.meta();
    return { err: null, logs: m.logs(), unitsConsumed: m.computeUnitsConsumed(), post: r.postAccounts() };
  } catch (e) {
    if (sigVerify && /signature/i.test(e.message)) throw sigVerifyError();
    throw e;
  } finally {
    svm.withSigverify(true);
  }
}

// submit is sendTransaction: it returns the signature or throws the standard errors.
function submit(bytes, { skipPreflight = false } = {}) {
  const { tx, msg, signature, signed } = parseTx(bytes);
  if (!signed) throw sigVerifyError();
  if (txs.has(signature)) {
    if (skipPreflight) return signature; // a validator drops a duplicate silently
    throw preflightError("AlreadyProcessed");
  }
  if (!blockhashValid(msg.lifetimeToken)) {
    if (skipPreflight) return signature; // never lands; its blockhash will stay expired
    throw preflightError("BlockhashNotFound");
  }
  if (!skipPreflight) {
    const sim = simulate(tx, true);
    if (sim.err === "SignatureFailure") throw sigVerifyError();
    if (sim.err) throw preflightError(sim.err, sim.logs, sim.unitsConsumed);
  }
  const keys = msg.staticAccounts;
  const pre = snapshot(keys);
  let r;
  try { r = svm.sendTransaction(tx); } catch (e) {
    if (/signature/i.test(e.message)) throw sigVerifyError();
    throw e;
  }
  const failed = r instanceof FailedTransactionMetadata;
  if (failed && !svm.getTransaction(signature)) {
    // Not included (e.g. fee payer cannot pay): nothing landed, like a dropped transaction.
    const err = txErrJSON(r.err());
    if (err === "SignatureFailure") throw sigVerifyError();
    return signature;
  }
  const meta = failed ? r.meta() : r;
  const post = snapshot(keys);
  const inner = meta.innerInstructions()
    .map((list, index) => ({
      index,
      instructions: list.map((ii) => {
        const ci = ii.instruction();
        return { programIdIndex: ci.programIdIndex(), accounts: [...ci.accounts()], data: b58.dec.decode(ci.data()), stackHeight: ii.stackHeight() };
      }),
    }))
    .filter((x) => x.instructions.length > 0);
  txs.set(signature, {
    slot, blockTime: Math.floor(Date.now() / 1000), bytes, msg,
    err: failed ? txErrJSON(r.err()) : null, logs: meta.logs(), unitsConsumed: meta.computeUnitsConsumed(),
    fee: fee(msg), pre, post, inner,
  });
  for (const k of new Set(keys)) {
    if (!byAddress.has(k)) byAddress.set(k, []);
    byAddress.get(k).push(signature);
  }
  recordFee(slot, msg);
  notifySignature(signature);
  return signature;
}

// sendOwn signs and submits a transaction of the server's own (mints, airdrops).
async function sendOwn(instructions) {
  for (let attempt = 0; ; attempt++) {
    const m = pipe(
      createTransactionMessage({ version: "legacy" }),
      (m) => setTransactionMessageFeePayerSigner(authority, m),
      (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: latest.blockhash, lastValidBlockHeight: BigInt(latest.lastValidBlockHeight) }, m),
      (m) => appendTransactionMessageInstructions(instructions, m),
    );
    const tx = await signTransactionMessageWithSigners(m);
    const bytes = new Uint8Array(txEncoder.encode(tx));
    const { signature } = parseTx(bytes);
    // The same instructions twice under one blockhash make the same transaction: take a fresh blockhash.
    if (txs.has(signature) && attempt < 3) { newBlockhash(); continue; }
    return submit(bytes);
  }
}

function transactionJSON(rec, sig) {
  const m = rec.msg;
  const message = {
    accountKeys: m.staticAccounts,
    header: {
      numReadonlySignedAccounts: m.header.numReadonlySignerAccounts,
      numReadonlyUnsignedAccounts: m.header.numReadonlyNonSignerAccounts,
      numRequiredSignatures: m.header.numSignerAccounts,
    },
    instructions: m.instructions.map((ix) => ({
      accounts: ix.accountIndices ?? [], data: b58.dec.decode(ix.data ?? new Uint8Array(0)),
      programIdIndex: ix.programAddressIndex, stackHeight: null,
    })),
    recentBlockhash: m.lifetimeToken,
  };
  if (m.version !== "legacy") {
    message.addressTableLookups = (m.addressTableLookups ?? []).map((l) => ({
      accountKey: l.lookupTableAddress, readonlyIndexes: l.readonlyIndexes, writableIndexes: l.writableIndexes,
    }));
  }
  const tx = txDecoder.decode(rec.bytes);
  return { message, signatures: Object.values(tx.signatures).map((s) => (s ? b58.dec.decode(s) : sig)) };
}

// ---------- methods ----------

const methods = {
  getHealth: () => "ok",
  getVersion: () => ({ "feature-set": 0, "solana-core": API_VERSION }),
  getGenesisHash: () => genesisHash,
  getSlot: () => slot,
  getBlockHeight: () => slot,
  getLatestBlockhash: () => withContext({ blockhash: latest.blockhash, lastValidBlockHeight: latest.lastValidBlockHeight }),
  isBlockhashValid: ([h]) => {
    if (typeof h !== "string") throw invalidParams("Invalid params: blockhash must be a string");
    return withContext(blockhashValid(h));
  },
  getMinimumBalanceForRentExemption: ([len = 0]) => {
    if (!Number.isInteger(len) || len < 0) throw invalidParams("Invalid params: data length must be an integer");
    return svm.minimumBalanceForRentExemption(BigInt(len));
  },
  getBalance: ([a]) => withContext(svm.getBalance(parseAddress(a)) ?? 0n),
  getAccountInfo: ([a, cfg = {}]) => withContext(encodeAccount(svm.getAccount(parseAddress(a)), cfg.encoding, cfg.dataSlice)),
  getMultipleAccounts: ([list, cfg = {}]) => {
    if (!Array.isArray(list)) throw invalidParams("Invalid params: expected an array of addresses");
    if (list.length > 100) throw invalidParams("Too many inputs provided; max 100");
    return withContext(list.map((a) => encodeAccount(svm.getAccount(parseAddress(a)), cfg.encoding ?? "base64", cfg.dataSlice)));
  },
  getTokenAccountBalance: ([a]) => {
    const addr = parseAddress(a);
    if (!svm.getAccount(addr).exists) throw invalidParams("Invalid param: could not find account");
    const t = tokenAccount(addr);
    if (!t) throw invalidParams("Invalid param: not a Token account");
    return withContext(uiTokenAmount(t.amount, t.decimals));
  },
  getFeeForMessage: ([m]) => {
    let msg;
    try { msg = msgDecoder.decode(new Uint8Array(Buffer.from(String(m), "base64"))); } catch (e) {
      throw invalidParams(`invalid message: ${e.message}`);
    }
    return withContext(blockhashValid(msg.lifetimeToken) ? fee(msg) : null);
  },
  requestAirdrop: async ([a, lamports]) => {
    const to = parseAddress(a);
    return sendOwn([getTransferSolInstruction({ source: authority, destination: to, amount: parseAmount(lamports) })]);
  },
  getRecentPrioritizationFees: ([list]) => {
    list ??= [];
    if (!Array.isArray(list)) throw invalidParams("Invalid params: expected an array of addresses");
    if (list.length > 128) throw invalidParams("Too many inputs provided; max 128");
    return recentPrioritizationFees(list.map(parseAddress));
  },
  sendTransaction: ([s, cfg = {}]) => submit(decodeWire(s, cfg.encoding), { skipPreflight: !!cfg.skipPreflight }),
  simulateTransaction: ([s, cfg = {}]) => {
    const sigVerify = !!cfg.sigVerify, replace = !!cfg.replaceRecentBlockhash;
    if (sigVerify && replace) throw invalidParams("sigVerify may not be used with replaceRecentBlockhash");
    let { tx, msg } = parseTx(decodeWire(s, cfg.encoding));
    let replacementBlockhash = null;
    if (replace) {
      msg = { ...msg, lifetimeToken: latest.blockhash };
      tx = { ...tx, messageBytes: msgEncoder.encode(msg) };
      replacementBlockhash = { blockhash: latest.blockhash, lastValidBlockHeight: latest.lastValidBlockHeight };
    }
    const value = { err: null, logs: [], accounts: null, unitsConsumed: 0, returnData: null, innerInstructions: null, replacementBlockhash };
    if (!blockhashValid(msg.lifetimeToken)) return withContext({ ...value, err: "BlockhashNotFound" });
    const sim = simulate(tx, sigVerify);
    Object.assign(value, { err: sim.err, logs: sim.logs, unitsConsumed: sim.unitsConsumed });
    if (cfg.accounts?.addresses) {
      const post = new Map((sim.post ?? []).map((a) => [a.address, a]));
      value.accounts = cfg.accounts.addresses.map((a) => {
        const addr = parseAddress(a);
        return encodeAccount(post.get(addr) ? { exists: true, ...post.get(addr) } : svm.getAccount(addr), cfg.accounts.encoding ?? "base64");
      });
    }
    return withContext(value);
  },
  getSignatureStatuses: ([sigs]) => {
    if (!Array.isArray(sigs)) throw invalidParams("Invalid params: expected an array of signatures");
    if (sigs.length > 256) throw invalidParams("Too many inputs provided; max 256");
    return withContext(sigs.map((s) => {
      const r = txs.get(s);
      if (!r) return null;
      return { slot: r.slot, confirmations: null, err: r.err, status: r.err ? { Err: r.err } : { Ok: null }, confirmationStatus: "finalized" };
    }));
  },
  getSignaturesForAddress: ([a, cfg = {}]) => {
    const list = byAddress.get(parseAddress(a)) ?? [];
    const limit = cfg.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalidParams("Invalid limit; max 1000");
    let end = list.length;
    if (cfg.before) {
      const i = list.lastIndexOf(cfg.before);
      if (i >= 0) end = i;
    }
    const out = [];
    for (let i = end - 1; i >= 0 && out.length < limit; i--) {
      if (cfg.until && list[i] === cfg.until) break;
      const r = txs.get(list[i]);
      out.push({ signature: list[i], slot: r.slot, err: r.err, memo: null, blockTime: r.blockTime, confirmationStatus: "finalized" });
    }
    return out;
  },
  getTransaction: ([s, cfg = {}]) => {
    if (typeof cfg === "string") cfg = { encoding: cfg };
    const r = txs.get(s);
    if (!r) return null;
    const version = r.msg.version;
    if (version !== "legacy" && cfg.maxSupportedTransactionVersion === undefined) {
      throw new RpcError(-32015, `Transaction version (${version}) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": ${version}`);
    }
    let transaction;
    switch (cfg.encoding ?? "json") {
      case "json": transaction = transactionJSON(r, s); break;
      case "base64": transaction = [Buffer.from(r.bytes).toString("base64"), "base64"]; break;
      case "base58": transaction = [b58.dec.decode(r.bytes), "base58"]; break;
      default: throw invalidParams(`Invalid params: encoding ${cfg.encoding} is not supported by localnet`);
    }
    const out = {
      slot: r.slot, blockTime: r.blockTime, transaction,
      meta: {
        err: r.err, status: r.err ? { Err: r.err } : { Ok: null }, fee: r.fee,
        preBalances: r.pre.lamports, postBalances: r.post.lamports, innerInstructions: r.inner,
        logMessages: r.logs, preTokenBalances: r.pre.tokens, postTokenBalances: r.post.tokens,
        rewards: [], loadedAddresses: { readonly: [], writable: [] }, computeUnitsConsumed: r.unitsConsumed,
      },
    };
    if (cfg.maxSupportedTransactionVersion !== undefined) out.version = version;
    return out;
  },

  // Non-standard helpers of this local chain.
  localnet_info: () => ({ mint, decimals: DECIMALS, token_program: MINT_PROGRAM }),
  // localnet_mintTo [owner, amount, mint?]: mints to owner's associated token
  // account of the mint (the first mint when omitted).
  localnet_mintTo: async ([owner, amount, which]) => {
    const o = parseAddress(owner);
    const m = which === undefined ? mint : parseAddress(which);
    const program = mintPrograms.get(m);
    if (!program) throw invalidParams("Invalid params: not a mint of this chain");
    const [ata] = await findAssociatedTokenPda({ owner: o, mint: m, tokenProgram: program });
    return sendOwn([
      getCreateAssociatedTokenIdempotentInstruction({ payer: authority, ata, owner: o, mint: m, tokenProgram: program }),
      getMintToInstruction({ mint: m, token: ata, mintAuthority: authority, amount: parseAmount(amount) }, { programAddress: program }),
    ]);
  },
  // localnet_createMint [decimals, "spl-token" | "token-2022"]: adds a mint
  // whose authority the server holds; returns {mint, decimals, token_program}.
  localnet_createMint: async ([decimals = 6, program = "spl-token"]) => {
    if (!Number.isInteger(decimals) || decimals < 0 || decimals > 18) throw invalidParams("Invalid params: decimals must be 0 to 18");
    const prog = { "spl-token": TOKEN_PROGRAM_ADDRESS, "token-2022": TOKEN_2022_ADDRESS }[program];
    if (!prog) throw invalidParams("Invalid params: token program must be spl-token or token-2022");
    const m = (await generateKeyPairSigner()).address;
    putMint(m, decimals, prog);
    return { mint: m, decimals, token_program: prog };
  },
  localnet_advanceSlots: ([n = 1]) => {
    if (!Number.isInteger(n) || n < 0) throw invalidParams("Invalid params: slot count must be a non-negative integer");
    advanceSlots(n);
    return slot;
  },
};

// ---------- JSON-RPC over HTTP ----------

// stringify writes BigInts as exact JSON numbers.
function stringify(v) {
  return JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `@@big:${x}@@` : x)).replace(/"@@big:(\d+)@@"/g, "$1");
}

const errorResponse = (id, code, message, data) =>
  ({ jsonrpc: "2.0", error: data === undefined ? { code, message } : { code, message, data }, id: id ?? null });

async function handle(req) {
  if (req === null || typeof req !== "object" || Array.isArray(req) || req.jsonrpc !== "2.0" || typeof req.method !== "string") {
    return errorResponse(req?.id, -32600, "Invalid request");
  }
  const fn = Object.hasOwn(methods, req.method) ? methods[req.method] : null;
  if (!fn) return errorResponse(req.id, -32601, "Method not found");
  const params = req.params ?? [];
  if (!Array.isArray(params)) return errorResponse(req.id, -32602, "Invalid params: expected an array");
  if (DEBUG) process.stderr.write(`localnet: ${req.method} ${stringify(params).slice(0, 300)}\n`);
  try {
    return { jsonrpc: "2.0", result: await fn(params), id: req.id ?? null };
  } catch (e) {
    if (e instanceof RpcError) return errorResponse(req.id, e.code, e.message, e.data);
    process.stderr.write(`localnet: ${req.method}: ${e.stack}\n`);
    return errorResponse(req.id, -32603, `Internal error: ${e.message}`);
  }
}

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (c) => chunks.push(c));
  request.on("end", async () => {
    let out;
    if (request.method !== "POST") {
      response.writeHead(405, { Allow: "POST" }).end();
      return;
    }
    let body;
    try { body = JSON.parse(Buffer.concat(chunks).toString("utf8")); } catch {
      out = errorResponse(null, -32700, "Parse error");
    }
    if (!out) {
      if (Array.isArray(body)) {
        out = body.length === 0 ? errorResponse(null, -32600, "Invalid request") : [];
        for (const r of body) out.push?.(await handle(r));
      } else {
        out = await handle(body);
      }
    }
    response.writeHead(200, { "Content-Type": "application/json" }).end(stringify(out));
  });
});

// ---------- JSON-RPC over WebSocket: signatureSubscribe ----------
// On the same port, as a validator's PubSub (ws://127.0.0.1:PORT): a
// subscription is notified once, when the transaction lands (at once if it
// has), then cancelled.

let nextSubscription = 0;
const signatureSubs = new Map(); // signature -> Map<subscription id, socket>

function notifySignature(sig) {
  const subs = signatureSubs.get(sig);
  const rec = txs.get(sig);
  if (!subs || !rec) return;
  signatureSubs.delete(sig);
  for (const [id, ws] of subs) {
    ws.send(stringify({
      jsonrpc: "2.0", method: "signatureNotification",
      params: { result: { context: { slot: rec.slot }, value: { err: rec.err } }, subscription: id },
    }));
  }
}

function handleSocket(ws, req) {
  if (req === null || typeof req !== "object" || req.jsonrpc !== "2.0" || typeof req.method !== "string") {
    return errorResponse(req?.id, -32600, "Invalid request");
  }
  const params = req.params ?? [];
  switch (req.method) {
    case "signatureSubscribe": {
      const [sig] = params;
      if (typeof sig !== "string" || b58.enc.encode(sig).length !== 64) {
        return errorResponse(req.id, -32602, "Invalid Request: Invalid signature");
      }
      const id = nextSubscription++;
      if (!signatureSubs.has(sig)) signatureSubs.set(sig, new Map());
      signatureSubs.get(sig).set(id, ws);
      setImmediate(() => notifySignature(sig)); // after the answer; at once if it has landed
      return { jsonrpc: "2.0", result: id, id: req.id };
    }
    case "signatureUnsubscribe": {
      const [id] = params;
      for (const [sig, subs] of signatureSubs) {
        if (subs.delete(id)) {
          if (subs.size === 0) signatureSubs.delete(sig);
          return { jsonrpc: "2.0", result: true, id: req.id };
        }
      }
      return errorResponse(req.id, -32602, "Invalid subscription id.");
    }
  }
  return errorResponse(req.id, -32601, "Method not found");
}

const wss = new WebSocketServer({ server });
wss.on("connection", (ws) => {
  ws.on("message", (data) => {
    let req;
    const text = data.toString("utf8");
    try { req = JSON.parse(text); } catch {
      ws.send(stringify(errorResponse(null, -32700, "Parse error")));
      return;
    }
    // Clients (solana-go) use u64 request ids: keep them exact, past 2^53.
    if (typeof req?.id === "number" && !Number.isSafeInteger(req.id)) {
      const m = /"id"\s*:\s*(\d+)/.exec(text);
      if (m) req.id = BigInt(m[1]);
    }
    if (DEBUG) process.stderr.write(`localnet ws: ${req?.method} ${stringify(req?.params ?? []).slice(0, 200)}\n`);
    ws.send(stringify(handleSocket(ws, req)));
  });
  ws.on("close", () => {
    for (const [sig, subs] of signatureSubs) {
      for (const [id, sock] of subs) if (sock === ws) subs.delete(id);
      if (subs.size === 0) signatureSubs.delete(sig);
    }
  });
});

server.listen(Number(opt.port), "127.0.0.1", () => {
  const { port } = server.address();
  process.stdout.write(JSON.stringify({ rpc_url: `http://127.0.0.1:${port}`, ws_url: `ws://127.0.0.1:${port}`, mint, decimals: DECIMALS, token_program: MINT_PROGRAM }) + "\n");
});
if (SLOT_MS > 0) setInterval(() => advanceSlots(1), SLOT_MS).unref();
const stop = () => { wss.close(); server.close(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (opt["parent-stdin"]) {
  // The launcher holds our stdin open: when it goes away, so do we.
  process.stdin.on("end", stop).on("error", stop).resume();
}
