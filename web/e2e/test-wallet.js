// A Solana wallet for browser tests, spoken to only through the Wallet Standard.
//
// This file is a plain browser script (not a module): it defines
// installStipendTestWallet(config), and the test injects
//   `${source}\ninstallStipendTestWallet(${JSON.stringify(config)})`
// with page.addInitScript, so the wallet exists before the page's own scripts run. It
// signs with the page's own signing module (web/static/sign.js, globalThis.stipendSign),
// which the test injects first, as the server under test serves it.
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
  const S = globalThis.stipendSign;
  if (!S) throw new Error('the signing module (sign.js) is not loaded');
  const name = config.name || 'Stipend Test Wallet';
  const mode = config.mode || 'ok';
  const delayMs = config.delayMs || 0;
  const chains = Object.freeze(config.chains || ['solana:mainnet', 'solana:devnet', 'solana:testnet', 'solana:localnet']);
  const icon = 'data:image/svg+xml;base64,' + btoa(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#7c3aed"/>' +
    '<text x="16" y="22" font-size="16" text-anchor="middle" fill="#fff" font-family="sans-serif">T</text></svg>');
  const record = { name, address: null, calls: [] };
  window.__stipendTestWallet = record;

  function parseSecret(text) {
    if (/^[0-9a-fA-F]+$/.test(text) && (text.length === 64 || text.length === 128)) {
      return Uint8Array.from(text.match(/../g).map((h) => parseInt(h, 16)));
    }
    return S.base58Decode(text);
  }

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
    if (secret.length === 64 && S.base58Encode(secret.slice(32)) !== S.base58Encode(publicKey)) {
      throw new Error('secretKey: the public half does not match the seed');
    }
    const address = S.base58Encode(publicKey);
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
      if (mode === 'tamper') {
        const { message } = S.wireParts(tx);
        message[message.length - 1] ^= 0x01;
      }
      outputs.push({ signedTransaction: await S.signWire(tx, publicKey, sign) });
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

  // Wallet Standard registration, both orders (the page's own handshake, sign.js).
  S.announceWallet(wallet);
  return wallet;
}
