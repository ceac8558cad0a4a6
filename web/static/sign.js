// stipend approval page: the signing module. One file for both sides of a signature,
// used by the page and by the test wallet of its browser tests (web/e2e loads this very
// file from the server it tests): the encodings, where a wire transaction keeps its
// signatures and its message, the Wallet Standard handshake of an app and a wallet, the
// page's request to a wallet, and a wallet's signature of a wire transaction.
// Plain JS, no libraries, browser or Node; sets globalThis.stipendSign.
(function (root) {
  'use strict';

  // ---- encodings ------------------------------------------------------------

  const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

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

  function base58Decode(text) {
    const bytes = [];
    for (const ch of text) {
      let carry = B58.indexOf(ch);
      if (carry < 0) throw new Error('not base58: ' + JSON.stringify(ch));
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

  function base64Encode(bytes) {
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(bin);
  }

  function base64Decode(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // toBytes takes what a wallet returns for bytes (Uint8Array, ArrayBuffer, a view, an array).
  function toBytes(v) {
    if (v instanceof Uint8Array) return v;
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    if (Array.isArray(v)) return Uint8Array.from(v);
    throw new TypeError('wallet returned no bytes');
  }

  // ---- the wire transaction ------------------------------------------------------
  // A compact-u16 count of signatures, the signatures (64 bytes each), then the
  // message: [version byte], three header bytes (signatures required first), a
  // compact-u16 count of account keys, the keys; the first keys are the signers,
  // in the order of the signatures.

  // compactU16 reads Solana's compact-u16 at bytes[at]: [value, its length].
  function compactU16(bytes, at) {
    let value = 0;
    for (let i = 0; i < 3; i++) {
      const b = bytes[at + i];
      if (b === undefined) throw new Error('the transaction is cut short');
      value |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) return [value, i + 1];
    }
    throw new Error('bad compact-u16');
  }

  // wireParts says where a wire transaction keeps its signatures (signaturesAt, one slot
  // per signer) and its message (a view into wire), and which keys sign (signers).
  function wireParts(wire) {
    const [count, len] = compactU16(wire, 0);
    const messageAt = len + 64 * count;
    if (messageAt >= wire.length) throw new Error('the transaction is cut short');
    const message = wire.subarray(messageAt);
    const h = message[0] & 0x80 ? 1 : 0; // a versioned message starts with its version
    const [keys, klen] = compactU16(message, h + 3);
    const signers = [];
    for (let i = 0; i < Math.min(message[h], keys, count); i++) {
      const at = h + 3 + klen + 32 * i;
      if (at + 32 > message.length) throw new Error('the transaction is cut short');
      signers.push(message.subarray(at, at + 32));
    }
    return { signaturesAt: len, message, signers };
  }

  // signWire is a wallet's side: a copy of wire signed by publicKey's holder, whose
  // sign(message) resolves to the ed25519 signature; it goes in that key's slot.
  async function signWire(wire, publicKey, sign) {
    const tx = Uint8Array.from(wire);
    const { signaturesAt, message, signers } = wireParts(tx);
    const slot = signers.findIndex((k) => k.length === publicKey.length && k.every((b, i) => b === publicKey[i]));
    if (slot < 0) throw new Error('this wallet is not a signer of the transaction');
    tx.set(toBytes(await sign(message)), signaturesAt + 64 * slot);
    return tx;
  }

  // ---- the Wallet Standard handshake ------------------------------------------------
  // An app and a wallet find each other through two window events, in either order:
  // a wallet announces itself (register-wallet), an app that starts later asks (app-ready).

  class AppReadyEvent extends Event {
    #detail;
    constructor(detail) {
      super('wallet-standard:app-ready', { bubbles: false, cancelable: false, composed: false });
      this.#detail = detail;
    }
    get detail() {
      return this.#detail;
    }
  }

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

  // watchWallets is the app's side: every wallet that registers, now or later, is kept, and
  // onChange(wallets) hears each change. Returns a function that lists them.
  function watchWallets(onChange) {
    const registered = new Set();
    const changed = () => onChange([...registered]);
    const api = Object.freeze({
      register(...wallets) {
        const added = wallets.filter((w) => w && !registered.has(w));
        if (!added.length) return function unregister() {};
        added.forEach((w) => registered.add(w));
        changed();
        return function unregister() {
          added.forEach((w) => registered.delete(w));
          changed();
        };
      },
    });
    root.addEventListener('wallet-standard:register-wallet', (event) => {
      try {
        event.detail(api);
      } catch (err) {
        console.error('wallet registration failed', err);
      }
    });
    try {
      root.dispatchEvent(new AppReadyEvent(api));
    } catch (err) {
      console.error('wallet-standard:app-ready could not be dispatched', err);
    }
    return () => [...registered];
  }

  // announceWallet is a wallet's side: register with an app listening now, and with one
  // that starts later.
  function announceWallet(wallet) {
    const callback = ({ register }) => register(wallet);
    root.dispatchEvent(new RegisterWalletEvent(callback));
    root.addEventListener('wallet-standard:app-ready', (event) => callback(event.detail));
  }

  // ---- the page's request ----------------------------------------------------------------

  // featureFor is the wallet feature that signs what an approval asks: sign is
  // 'message' or 'transaction'.
  const featureFor = (sign) => (sign === 'message' ? 'solana:signMessage' : 'solana:signTransaction');

  // canSign reports whether wallet can connect and sign what an approval asks.
  function canSign(wallet, sign) {
    const f = wallet && wallet.features;
    return !!(f && f['standard:connect'] && f[featureFor(sign)]);
  }

  // requestSignature asks wallet to sign, as account, exactly what the server issued:
  // approval.message (its UTF-8 bytes) or approval.transaction (base64 wire bytes, for
  // chain). Resolves to the body to post back: {signature} (base58) or
  // {signed_transaction} (base64).
  async function requestSignature(wallet, account, approval, chain) {
    if (approval.sign === 'message') {
      const message = new TextEncoder().encode(approval.message);
      const [out] = await wallet.features['solana:signMessage'].signMessage({ account, message });
      return { signature: base58Encode(toBytes(out.signature)) };
    }
    const transaction = base64Decode(approval.transaction);
    const [out] = await wallet.features['solana:signTransaction'].signTransaction({ account, transaction, chain });
    return { signed_transaction: base64Encode(toBytes(out.signedTransaction)) };
  }

  root.stipendSign = Object.freeze({
    base58Encode, base58Decode, base64Encode, base64Decode, toBytes,
    compactU16, wireParts, signWire,
    watchWallets, announceWallet,
    canSign, requestSignature,
  });
})(globalThis);
