// A Solana wallet for browser tests, spoken to only through the Wallet Standard.
//
// This file is a plain browser script (not a module): it defines
// installStipendTestWallet(config), and the test injects
//   `${source}\ninstallStipendTestWallet(${JSON.stringify(config)})`
// with page.addInitScript, so the wallet exists before the page's own scripts run.
//
// config:
//   secretKey  ed25519 secret: 64 bytes (seed || public key) or a 32-byte seed,
//              as base58 or hex (required)
//   name       the wallet's name (default "Stipend Test Wallet")
//   mode       "ok" (sign), "reject" (every signing request rejects as a user would),
//              "reject-connect" (connecting rejects), "tamper" (change one byte of the
//              message before signing it)
//   delayMs    wait this long before answering a signing request (default 0)
//   chains     chains to announce (default solana:mainnet, devnet, testnet, localnet)
//
// window.__stipendTestWallet records what the page asked: { address, calls: [...] }.
/* exported installStipendTestWallet */
// eslint-disable-next-line no-unused-vars
function installStipendTestWallet(config) {
  'use strict';
  const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
  const name = config.name || 'Stipend Test Wallet';
  const mode = config.mode || 'ok';
  const delayMs = config.delayMs || 0;
  const chains = Object.freeze(config.chains || ['solana:mainnet', 'solana:devnet', 'solana:testnet', 'solana:localnet']);
  const icon = 'data:image/svg+xml;base64,' + btoa(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#7c3aed"/>' +
    '<text x="16" y="22" font-size="16" text-anchor="middle" fill="#fff" font-family="sans-serif">T</text></svg>');
  const record = { name, address: null, calls: [] };
  window.__stipendTestWallet = record;

  function base58Decode(text) {
    const bytes = [];
    for (const ch of text) {
      let carry = B58.indexOf(ch);
      if (carry < 0) throw new Error('not base58');
      for (let j = 0; j < bytes.length; j++) {
        carry += bytes[j] * 58;
        bytes[j] = carry & 0xff;
        carry >>= 8;
      }
      while (carry > 0) {
        bytes.push(carry & 0xff);
        carry >>= 8;
      }
    }
    for (let i = 0; i < text.length && text[i] === '1'; i++) bytes.push(0);
    return Uint8Array.from(bytes.reverse());
  }

  function base58Encode(bytes) {
    let zeros = 0;
    while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
    const digits = [];
    for (let i = zeros; i < bytes.length; i++) {
      let carry = bytes[i];
      for (let j = 0; j < digits.length; j++) {
        carry += digits[j] * 256;
        digits[j] = carry % 58;
        carry = Math.floor(carry / 58);
      }
      while (carry > 0) {
        digits.push(carry % 58);
        carry = Math.floor(carry / 58);
      }
    }
    let out = '1'.repeat(zeros);
    for (let i = digits.length - 1; i >= 0; i--) out += B58[digits[i]];
    return out;
  }

  function parseSecret(text) {
    if (/^[0-9a-fA-F]+$/.test(text) && (text.length === 64 || text.length === 128)) {
      return Uint8Array.from(text.match(/../g).map((h) => parseInt(h, 16)));
    }
    return base58Decode(text);
  }

  const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const fromB64url = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

  // The key: import the 32-byte seed as PKCS#8, read the public key back out as a JWK.
  const keyReady = (async () => {
    const secret = parseSecret(config.secretKey);
    if (secret.length !== 32 && secret.length !== 64) throw new Error('secretKey must be 32 or 64 bytes');
    const seed = secret.slice(0, 32);
    const pkcs8 = new Uint8Array(48);
    pkcs8.set([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
    pkcs8.set(seed, 16);
    const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
    const jwk = await crypto.subtle.exportKey('jwk', privateKey);
    const publicKey = fromB64url(jwk.x);
    if (secret.length === 64 && base58Encode(secret.slice(32)) !== base58Encode(publicKey)) {
      throw new Error('secretKey: the public half does not match the seed');
    }
    const address = base58Encode(publicKey);
    record.address = address;
    const account = Object.freeze({
      address,
      publicKey: publicKey.slice(),
      chains,
      features: Object.freeze(['solana:signTransaction', 'solana:signMessage']),
      label: 'Test account',
    });
    return { privateKey, publicKey, address, account };
  })();
  keyReady.catch((err) => console.error('test wallet key', err));

  const sign = async (bytes) => {
    const { privateKey } = await keyReady;
    return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, privateKey, bytes));
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function readCompactU16(bytes, offset) {
    let value = 0;
    for (let i = 0; i < 3; i++) {
      const b = bytes[offset + i];
      if (b === undefined) throw new Error('truncated transaction');
      value |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return [value, i + 1];
    }
    throw new Error('bad compact-u16');
  }

  let connected = false;
  const listeners = { change: [] };
  const emit = (event, arg) => (listeners[event] || []).forEach((l) => { try { l(arg); } catch (e) { console.error(e); } });
  const rejection = () => Object.assign(new Error('User rejected the request.'), { code: 4001 });

  function ownAccount(account) {
    if (!connected) throw new Error('not connected');
    if (!account || account.address !== record.address) throw new Error('unknown account');
  }

  async function signTransaction(...inputs) {
    const { publicKey } = await keyReady;
    const outputs = [];
    for (const input of inputs) {
      record.calls.push({ method: 'signTransaction', chain: input.chain || null, bytes: input.transaction.length });
      ownAccount(input.account);
      if (delayMs) await sleep(delayMs);
      if (mode === 'reject') throw rejection();
      const tx = Uint8Array.from(input.transaction);
      const [numSigs, len] = readCompactU16(tx, 0);
      const msgStart = len + 64 * numSigs;
      const message = tx.subarray(msgStart);
      const h = message[0] & 0x80 ? 1 : 0; // versioned message: prefix byte
      const numRequired = message[h];
      const [numKeys, klen] = readCompactU16(message, h + 3);
      const keysStart = h + 3 + klen;
      let slot = -1;
      for (let i = 0; i < Math.min(numRequired, numKeys, numSigs); i++) {
        const key = message.subarray(keysStart + 32 * i, keysStart + 32 * (i + 1));
        if (key.every((b, j) => b === publicKey[j])) slot = i;
      }
      if (slot < 0) throw new Error('this wallet is not a signer of the transaction');
      if (mode === 'tamper') message[message.length - 1] ^= 0x01;
      tx.set(await sign(message), len + 64 * slot);
      outputs.push({ signedTransaction: tx });
    }
    return outputs;
  }

  async function signMessage(...inputs) {
    const outputs = [];
    for (const input of inputs) {
      record.calls.push({ method: 'signMessage', bytes: input.message.length });
      ownAccount(input.account);
      if (delayMs) await sleep(delayMs);
      if (mode === 'reject') throw rejection();
      const message = Uint8Array.from(input.message);
      if (mode === 'tamper') message[message.length - 1] ^= 0x01;
      outputs.push({ signedMessage: message, signature: await sign(message) });
    }
    return outputs;
  }

  const wallet = Object.freeze({
    version: '1.0.0',
    name,
    icon,
    chains,
    get accounts() {
      return connected && keyReadySync ? [keyReadySync.account] : [];
    },
    features: Object.freeze({
      'standard:connect': Object.freeze({
        version: '1.0.0',
        connect: async () => {
          record.calls.push({ method: 'connect' });
          const k = await keyReady;
          if (mode === 'reject-connect') throw rejection();
          connected = true;
          emit('change', { accounts: [k.account] });
          return { accounts: [k.account] };
        },
      }),
      'standard:disconnect': Object.freeze({
        version: '1.0.0',
        disconnect: async () => {
          connected = false;
          emit('change', { accounts: [] });
        },
      }),
      'standard:events': Object.freeze({
        version: '1.0.0',
        on: (event, listener) => {
          (listeners[event] ||= []).push(listener);
          return () => { listeners[event] = listeners[event].filter((l) => l !== listener); };
        },
      }),
      'solana:signTransaction': Object.freeze({
        version: '1.0.0',
        supportedTransactionVersions: Object.freeze(['legacy', 0]),
        signTransaction,
      }),
      'solana:signMessage': Object.freeze({ version: '1.0.0', signMessage }),
    }),
  });
  let keyReadySync = null;
  keyReady.then((k) => { keyReadySync = k; }, () => {});

  // Wallet Standard registration, both orders: announce now, and answer the app's
  // app-ready event should the app start listening later.
  class RegisterWalletEvent extends Event {
    #detail;
    constructor(callback) {
      super('wallet-standard:register-wallet', { bubbles: false, cancelable: false, composed: false });
      this.#detail = callback;
    }
    get detail() {
      return this.#detail;
    }
  }
  const callback = ({ register }) => register(wallet);
  window.dispatchEvent(new RegisterWalletEvent(callback));
  window.addEventListener('wallet-standard:app-ready', (event) => callback(event.detail));
  return wallet;
}
