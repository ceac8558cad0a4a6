// stipend approval page: say in plain words what the human signs, read from the bytes
// that will be signed: the base64 wire transaction, or the message text. Nothing here
// comes from the service's summary. A transaction holding an instruction this file
// cannot describe is not described at all: the page then offers nothing to sign.
// Plain JS, no libraries; reads its encodings from sign.js; sets window.stipendDecode.
(function () {
  'use strict';

  // The encodings are the signing module's (sign.js, loaded first).
  const { base58Encode, base58Decode, base64Decode } = globalThis.stipendSign;

  // SHA-256 (FIPS 180-4), synchronous: to check associated token account addresses.
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);

  function sha256(data) {
    const len = data.length;
    const total = ((len + 9 + 63) >> 6) << 6;
    const m = new Uint8Array(total);
    m.set(data);
    m[len] = 0x80;
    const bits = len * 8;
    m[total - 4] = bits >>> 24; m[total - 3] = bits >>> 16; m[total - 2] = bits >>> 8; m[total - 1] = bits;
    m[total - 5] = Math.floor(bits / 2 ** 32);
    const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    const w = new Uint32Array(64);
    const rotr = (x, n) => (x >>> n) | (x << (32 - n));
    for (let o = 0; o < total; o += 64) {
      for (let i = 0; i < 16; i++) w[i] = (m[o + 4 * i] << 24) | (m[o + 4 * i + 1] << 16) | (m[o + 4 * i + 2] << 8) | m[o + 4 * i + 3];
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let [a, b, c, d, e, f, g, hh] = h;
      for (let i = 0; i < 64; i++) {
        const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }
    const out = new Uint8Array(32);
    for (let i = 0; i < 8; i++) {
      out[4 * i] = h[i] >>> 24; out[4 * i + 1] = h[i] >>> 16; out[4 * i + 2] = h[i] >>> 8; out[4 * i + 3] = h[i];
    }
    return out;
  }

  const SYSTEM = '11111111111111111111111111111111';
  const TOKEN = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
  const TOKEN_2022 = 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb';
  const ATA = 'ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL';
  const MEMO = 'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr';
  const MEMO_V1 = 'Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo';
  const COMPUTE_BUDGET = 'ComputeBudget111111111111111111111111111111';
  const LAMPORTS_PER_SIGNATURE = 5000n;
  const DEFAULT_UNITS_PER_INSTRUCTION = 200000n;
  const MAX_UNITS = 1400000n;

  // isATA reports whether ata is the associated token account of owner for mint
  // under tokenProgram (any bump: a match is a program address of exactly these seeds).
  function isATA(ata, owner, mint, tokenProgram) {
    const seeds = [base58Decode(owner), base58Decode(tokenProgram), base58Decode(mint)];
    const tail = new TextEncoder().encode('ProgramDerivedAddress');
    const program = base58Decode(ATA);
    for (let bump = 255; bump >= 0; bump--) {
      const buf = new Uint8Array(32 * 3 + 1 + 32 + tail.length);
      let o = 0;
      for (const s of seeds) { buf.set(s, o); o += 32; }
      buf[o++] = bump;
      buf.set(program, o); o += 32;
      buf.set(tail, o);
      if (base58Encode(sha256(buf)) === ata) return true;
    }
    return false;
  }

  // formatUnits writes an integer amount of base units with decimals, e.g. 10000000n, 9 → "0.01".
  function formatUnits(units, decimals) {
    const s = units.toString().padStart(decimals + 1, '0');
    const int = s.slice(0, s.length - decimals) || '0';
    let frac = decimals ? s.slice(s.length - decimals) : '';
    frac = frac.replace(/0+$/, '');
    if (frac.length < 2 && decimals >= 2) frac = frac.padEnd(2, '0');
    return frac ? int + '.' + frac : int;
  }
  const sol = (lamports) => formatUnits(lamports, 9) + ' SOL';

  class Reader {
    constructor(bytes) { this.b = bytes; this.o = 0; }
    need(n) { if (this.o + n > this.b.length) throw new Error('the transaction is cut short'); }
    u8() { this.need(1); return this.b[this.o++]; }
    bytes(n) { this.need(n); const v = this.b.subarray(this.o, this.o + n); this.o += n; return v; }
    shortvec() {
      let v = 0;
      for (let i = 0; i < 3; i++) {
        const x = this.u8();
        v |= (x & 0x7f) << (7 * i);
        if (!(x & 0x80)) return v;
      }
      throw new Error('bad length');
    }
  }
  const u32 = (d, o) => d[o] | (d[o + 1] << 8) | (d[o + 2] << 16) | (d[o + 3] * 2 ** 24);
  function u64(d, o) {
    let v = 0n;
    for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(d[o + i]);
    return v;
  }

  // parseTransaction reads a wire transaction: signatures, then a legacy or v0 message.
  function parseTransaction(wire) {
    const r = new Reader(wire);
    const nsig = r.shortvec();
    r.bytes(64 * nsig);
    const first = r.b[r.o];
    let version = 'legacy';
    if (first & 0x80) {
      version = first & 0x7f;
      r.u8();
      if (version !== 0) throw new Error('transaction version ' + version + ' is unknown');
    }
    const header = { signers: r.u8(), readonlySigned: r.u8(), readonlyUnsigned: r.u8() };
    const keys = [];
    const nkeys = r.shortvec();
    for (let i = 0; i < nkeys; i++) keys.push(base58Encode(r.bytes(32)));
    r.bytes(32); // recent blockhash
    const ixs = [];
    const nix = r.shortvec();
    for (let i = 0; i < nix; i++) {
      const program = r.u8();
      const accts = [];
      const na = r.shortvec();
      for (let j = 0; j < na; j++) accts.push(r.u8());
      const data = r.bytes(r.shortvec());
      ixs.push({ program, accts, data });
    }
    if (version === 0 && r.shortvec() > 0) {
      throw new Error('it reads accounts from address lookup tables, which this page cannot show');
    }
    if (r.o !== wire.length) throw new Error('it has bytes after the message');
    const at = (i) => {
      if (i >= keys.length) throw new Error('an instruction names an account that is not in the transaction');
      return keys[i];
    };
    return {
      header, keys,
      instructions: ixs.map((ix) => ({ program: at(ix.program), accounts: ix.accts.map(at), data: ix.data })),
    };
  }

  const SAFE_TEXT = /^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]*$/;

  /**
   * describeTransaction says what a base64 wire transaction does.
   * ctx: {userWallet, names: {address: label}, mint, token}
   * Returns {ok, reason, steps: [{program, action, text}], fee: {lamports, payer, text}}.
   */
  function describeTransaction(b64, ctx) {
    let tx;
    try {
      tx = parseTransaction(base64Decode(b64));
    } catch (err) {
      return { ok: false, reason: 'The transaction cannot be read: ' + err.message + '.', steps: [] };
    }
    const names = Object.assign({}, ctx.names || {});
    if (ctx.userWallet) names[ctx.userWallet] = 'your wallet';
    const owners = {}; // token account → owner, learned from account creations checked by address
    const who = (a) => (names[a] ? names[a] + ' (' + a + ')' : a);
    const tokenAccount = (a) => 'the token account ' + a + (owners[a] ? ' of ' + who(owners[a]) : ' (its owner is not shown in this transaction)');
    const Who = (a) => { const w = who(a); return w.charAt(0).toUpperCase() + w.slice(1); };
    const unit = (mint) => (ctx.mint && mint === ctx.mint && ctx.token ? ctx.token : 'tokens of the mint ' + mint);
    const steps = [];
    const unknown = [];
    let unitLimit = null;
    let microLamports = 0n;
    let otherInstructions = 0;
    // Account creations first, so transfers can name the owners of the accounts they use.
    for (const ix of tx.instructions) {
      if (ix.program === ATA && ix.accounts.length >= 6 && (ix.data.length === 0 || ix.data[0] <= 1)) {
        const [, ata, owner, mint, , tokenProgram] = ix.accounts;
        if (isATA(ata, owner, mint, tokenProgram)) owners[ata] = owner;
      }
    }
    for (const ix of tx.instructions) {
      const d = ix.data;
      const a = ix.accounts;
      if (ix.program !== COMPUTE_BUDGET) otherInstructions++;
      if (ix.program === SYSTEM && d.length === 12 && u32(d, 0) === 2 && a.length >= 2) {
        steps.push({ program: 'System Program', action: 'Transfer',
          text: 'Send ' + sol(u64(d, 4)) + ' from ' + who(a[0]) + ' to ' + who(a[1]) + '.' });
      } else if (ix.program === ATA && a.length >= 6 && (d.length === 0 || (d.length === 1 && d[0] <= 1))) {
        const [payer, ata, owner, mint, , tokenProgram] = a;
        if (!owners[ata] || (tokenProgram !== TOKEN && tokenProgram !== TOKEN_2022)) {
          unknown.push('an account creation whose address is not the token account it claims to be');
          continue;
        }
        const idem = d.length === 1 && d[0] === 1;
        steps.push({ program: 'Associated Token Account Program', action: idem ? 'Create (if missing)' : 'Create',
          text: (idem ? 'Create, unless it exists already, ' : 'Create ') + 'the token account of ' + who(owner) + ' for ' +
            unit(mint) + ' (' + ata + '). ' + Who(payer) + ' pays its rent deposit (about 0.00203928 SOL) if it is created.' });
      } else if ((ix.program === TOKEN || ix.program === TOKEN_2022) && d.length === 10 && d[0] === 12 && a.length >= 4) {
        const [from, mint, to, authority] = a;
        if (!owners[from] && isATA(from, authority, mint, ix.program)) owners[from] = authority;
        steps.push({ program: ix.program === TOKEN ? 'SPL Token Program' : 'Token-2022 Program', action: 'Transfer (checked)',
          text: 'Move ' + formatUnits(u64(d, 1), d[9]) + ' ' + unit(mint) + ' from ' + tokenAccount(from) + ' to ' +
            tokenAccount(to) + ', signed by ' + who(authority) + '.' });
      } else if (ix.program === MEMO || ix.program === MEMO_V1) {
        let note;
        try {
          note = new TextDecoder('utf-8', { fatal: true }).decode(d);
        } catch (err) {
          unknown.push('a memo that is not text');
          continue;
        }
        if (!SAFE_TEXT.test(note)) {
          unknown.push('a memo with control or direction-changing characters');
          continue;
        }
        steps.push({ program: 'SPL Memo Program', action: 'Memo', text: 'Attach the note “' + note + '” to the transaction.' });
      } else if (ix.program === COMPUTE_BUDGET && d.length === 5 && d[0] === 2) {
        unitLimit = BigInt(u32(d, 1));
        steps.push({ program: 'Compute Budget Program', action: 'Set compute unit limit',
          text: 'Allow at most ' + unitLimit.toString() + ' compute units.' });
      } else if (ix.program === COMPUTE_BUDGET && d.length === 9 && d[0] === 3) {
        microLamports = u64(d, 1);
        steps.push({ program: 'Compute Budget Program', action: 'Set compute unit price',
          text: 'Pay a priority fee of ' + microLamports.toString() + ' micro-lamports per compute unit.' });
      } else {
        unknown.push('an instruction of the program ' + ix.program);
      }
    }
    if (unknown.length) {
      return { ok: false, steps, reason: 'The transaction holds ' + unknown.join(', ') + ', which this page cannot describe.' };
    }
    const limit = unitLimit !== null ? unitLimit
      : (BigInt(otherInstructions) * DEFAULT_UNITS_PER_INSTRUCTION > MAX_UNITS ? MAX_UNITS : BigInt(otherInstructions) * DEFAULT_UNITS_PER_INSTRUCTION);
    const priority = (limit * microLamports + 999999n) / 1000000n;
    const lamports = BigInt(tx.header.signers) * LAMPORTS_PER_SIGNATURE + priority;
    const payer = tx.keys[0];
    return {
      ok: true, steps,
      fee: { lamports: lamports.toString(), payer, text: 'Network fee: at most ' + sol(lamports) + ', paid by ' + who(payer) +
        (priority > 0n ? ' (' + sol(BigInt(tx.header.signers) * LAMPORTS_PER_SIGNATURE) + ' base fee and ' + sol(priority) + ' priority fee).' : '.') },
    };
  }

  /**
   * describeMessage reads a Sign-In-With-Solana shaped message as the wallet will sign
   * it. Returns {ok, reason, steps, fee}; the message must name the owner's wallet and
   * hold no control or direction-changing characters.
   */
  function describeMessage(text, ctx) {
    const bytes = new TextEncoder().encode(text);
    const shown = new TextDecoder().decode(bytes);
    if (!SAFE_TEXT.test(shown)) {
      return { ok: false, steps: [], reason: 'The message holds control or direction-changing characters, so it may not read as it looks.' };
    }
    const lines = shown.split('\n');
    const head = /^(.+) wants you to approve with your Solana account:$/.exec(lines[0] || '');
    if (!head || lines[1] !== ctx.userWallet || lines[2] !== '') {
      return { ok: false, steps: [], reason: 'The message is not an approval for your wallet ' + ctx.userWallet + '.' };
    }
    let i = 3;
    const statement = [];
    while (i < lines.length && lines[i] !== '') statement.push(lines[i++]);
    const fields = {};
    for (i++; i < lines.length; i++) {
      const m = /^([A-Za-z ]+): (.*)$/.exec(lines[i]);
      if (m) fields[m[1]] = m[2];
    }
    const steps = [{ program: 'Message', action: 'Sign a message',
      text: 'Sign, with your wallet ' + ctx.userWallet + ', a message for ' + head[1] + ' that says: “' + statement.join(' ') + '”' }];
    if (fields['Expiration Time']) steps.push({ program: 'Message', action: 'Valid until', text: 'The message is valid until ' + fields['Expiration Time'] + '.' });
    return { ok: statement.length > 0, steps, reason: statement.length ? '' : 'The message says nothing.',
      fee: { lamports: '0', text: 'No transaction: signing moves no money and costs no fee.' } };
  }

  window.stipendDecode = Object.freeze({ describeTransaction, describeMessage, formatUnits, sha256, isATA });
})();
