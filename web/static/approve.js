// stipend approval page: find Solana wallets through the Wallet Standard, connect the
// owner's wallet, sign exactly what the server issued, post it back, show the outcome.
// Plain JS, no libraries, no other hosts.
(function () {
  'use strict';

  const dataEl = document.getElementById('approval-data');
  if (!dataEl) return;
  let data;
  try {
    data = JSON.parse(dataEl.textContent);
  } catch (err) {
    console.error('approval data unreadable', err);
    return;
  }

  const $ = (id) => document.getElementById(id);
  const main = $('main');
  const walletsEl = $('wallets');
  const emptyEl = $('wallets-empty');
  const progressEl = $('progress');
  const outcomeEl = $('outcome');
  const retryEl = $('retry');

  // The signing module (sign.js, loaded first): encodings, the Wallet Standard, the request.
  const sign = window.stipendSign;
  const short = (a) => (a && a.length > 12 ? a.slice(0, 4) + '…' + a.slice(-4) : a || '');

  // What this page decided when it was made: may it sign, and for which chain.
  const canSign = main.dataset.phase === 'ready';
  const chain = main.dataset.chain;
  const status = main.dataset.status;

  // ---- Wallet Standard: the app side --------------------------------------

  let wallets = () => [];
  const supports = (wallet) => sign.canSign(wallet, data.sign);

  // ---- page state -----------------------------------------------------------

  let busy = false;
  let walletsReady = false; // true once wallets had a moment to register
  let closed = !canSign;
  let lastPayload = null; // what was posted last, for "Try again"
  let confirmTimer = 0;

  function setPhase(phase) {
    if (main) main.dataset.phase = phase;
  }

  function progress(text, phase) {
    progressEl.textContent = text;
    if (phase) setPhase(phase);
  }

  function clearOutcome() {
    outcomeEl.hidden = true;
    outcomeEl.className = 'outcome';
    outcomeEl.removeAttribute('role');
    delete outcomeEl.dataset.state;
    delete outcomeEl.dataset.code;
    $('outcome-facts').hidden = true;
    $('outcome-facts').textContent = '';
    retryEl.hidden = true;
  }

  // show puts an outcome on the page. kind: success | error | info.
  function show(kind, code, title, text, facts, retry) {
    progress('');
    outcomeEl.className = 'outcome ' + kind;
    outcomeEl.dataset.state = kind;
    outcomeEl.dataset.code = code || '';
    outcomeEl.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    $('outcome-title').textContent = title;
    $('outcome-text').textContent = text;
    const dl = $('outcome-facts');
    dl.textContent = '';
    for (const [label, value] of facts || []) {
      const row = document.createElement('div');
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = label;
      dd.textContent = value;
      dd.className = 'mono';
      row.append(dt, dd);
      dl.append(row);
    }
    dl.hidden = !(facts && facts.length);
    retryEl.hidden = !retry;
    outcomeEl.hidden = false;
    setPhase(kind === 'success' ? 'done' : 'failed');
    outcomeEl.focus();
  }

  function close(heading) {
    closed = true;
    if ($('decline')) $('decline').hidden = true;
    if (heading && $('sign-title')) $('sign-title').textContent = heading;
    const intro = $('sign-intro');
    if (intro) intro.hidden = true;
    renderWallets();
  }

  function renderWallets() {
    if (!walletsEl) return;
    walletsEl.textContent = '';
    if (closed) {
      emptyEl.hidden = true;
      return;
    }
    const all = wallets();
    const usable = all.filter(supports);
    for (const wallet of usable) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'button';
      b.disabled = busy;
      if (typeof wallet.icon === 'string' && wallet.icon.startsWith('data:image/')) {
        const img = document.createElement('img');
        img.src = wallet.icon;
        img.alt = '';
        b.append(img);
      }
      const what = data.sign === 'message' ? 'Sign message with ' : 'Sign transaction with ';
      b.append(document.createTextNode(what + (wallet.name || 'wallet')));
      b.addEventListener('click', () => approve(wallet));
      walletsEl.append(b);
    }
    if (usable.length) {
      emptyEl.hidden = true;
    } else if (walletsReady) {
      emptyEl.hidden = false;
      emptyEl.textContent = all.length
        ? 'The wallets in this browser (' + all.map((w) => w.name).join(', ') + ') cannot ' +
          (data.sign === 'message' ? 'sign messages' : 'sign Solana transactions') +
          '. Use a Solana wallet such as Phantom, Solflare or Backpack.'
        : 'No Solana wallet found in this browser. Open this page where Phantom, Solflare, Backpack ' +
          'or another Solana wallet is installed, then reload it.';
    }
  }

  // ---- the flow ---------------------------------------------------------------

  async function approve(wallet) {
    if (busy || closed) return;
    busy = true;
    clearOutcome();
    renderWallets();
    try {
      await connectAndSign(wallet);
    } finally {
      busy = false;
      renderWallets();
    }
  }

  async function connectAndSign(wallet) {
    const name = wallet.name || 'your wallet';
    progress('Connecting to ' + name + '…', 'connecting');
    let accounts;
    try {
      const out = await wallet.features['standard:connect'].connect();
      accounts = (out && out.accounts && out.accounts.length ? out.accounts : wallet.accounts) || [];
    } catch (err) {
      console.warn('connect failed', err);
      show('error', 'rejected', 'Not connected',
        name + ' did not connect. Nothing was signed and nothing changed. You can try again.');
      return;
    }
    const account = accounts.find((a) => a && a.address === data.user_wallet);
    if (!account) {
      const got = accounts.length ? accounts.map((a) => short(a.address)).join(', ') : 'no account';
      show('error', 'wrong_wallet', 'Wrong wallet: connect ' + short(data.user_wallet),
        name + ' connected ' + got + ', not the wallet this request is for. Switch to that account ' +
        'in your wallet and try again. Nothing was signed or sent.',
        [['Wallet to connect', data.user_wallet], ['Connected', accounts.map((a) => a.address).join(', ') || 'none']]);
      return;
    }

    progress('Waiting for your wallet… approve the request in ' + name + '.', 'signing');
    let payload;
    try {
      payload = await sign.requestSignature(wallet, account, data, chain);
    } catch (err) {
      console.warn('signing failed', err);
      show('error', 'rejected', 'Not signed',
        'The request was declined in ' + name + '. Nothing was signed and nothing changed. ' +
        'If you meant to approve it, try again.');
      return;
    }
    await submit(payload);
  }

  async function submit(payload) {
    lastPayload = payload;
    progress(data.sign === 'message' ? 'Sending your signature…' : 'Sending to Solana…', 'sending');
    confirmTimer = setTimeout(() => progress('Confirming…', 'confirming'), 1500);
    let res;
    let body = null;
    try {
      res = await fetch(postURL(), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(payload),
        credentials: 'same-origin',
        cache: 'no-store',
      });
      body = await res.json().catch(() => null);
    } catch (err) {
      clearTimeout(confirmTimer);
      console.warn('post failed', err);
      show('error', 'network', 'Could not reach stipend',
        'Your signature did not reach the server. Check your connection, then try again.', null, true);
      return;
    }
    clearTimeout(confirmTimer);
    if (res.ok) {
      succeed(body || {});
    } else {
      fail(res.status, (body && body.error) || {});
    }
  }

  function postURL() {
    return window.location.pathname;
  }

  const DONE = {
    active: ['Done: the session key is active',
      'The funds are on the session key and the agent can spend them within its limits.'],
    confirmed: ['Done: confirmed on Solana', 'The transfer is confirmed on chain.'],
    linked: ['Done: linked', "From now on each payment must satisfy both the key's balance and the session's limits."],
    unlinked: ['Done: unlinked', "The session's limits no longer apply to this key."],
    limits_changed: ['Done: limits changed', 'The new limits apply from now on.'],
  };

  function succeed(body) {
    let [title, text] = DONE[body.status] || ['Done', 'Your approval was accepted.'];
    if (body.status === 'active' && data.kind === 'top_up') {
      title = 'Done: the session key is topped up';
      text = 'The added funds are on the session key.';
    } else if (body.status === 'confirmed' && data.kind === 'payment') {
      title = 'Done: payment approved';
      text = 'The payment was sent and confirmed on Solana.';
    } else if (body.status === 'confirmed' && data.kind === 'own_payment') {
      title = 'Done: payment confirmed';
      text = 'The payment from your wallet is confirmed on Solana.';
    }
    const r = body.result || {};
    const facts = [];
    if (r.payment_id) facts.push(['Payment', r.payment_id]);
    if (r.session_key_id) facts.push(['Session key', r.session_key_id]);
    if (r.signature) facts.push(['Transaction signature', r.signature]);
    show('success', body.status || 'ok', title, text + ' You can close this page.', facts);
    close('Signed');
  }

  function fail(httpStatus, err) {
    const code = err.code || (httpStatus >= 500 ? 'unavailable' : 'error');
    const said = err.message ? [['The server said', err.message]] : null;
    switch (code) {
      case 'wrong_signer':
        show('error', code, 'Wrong wallet: connect ' + short(data.user_wallet),
          'This was signed by a wallet other than ' + data.user_wallet + ', so it was refused. ' +
          'Nothing was sent and nothing changed.');
        return;
      case 'tampered':
        show('error', code, 'Refused: what was signed is not what this page shows',
          'The signed ' + (data.sign === 'message' ? 'message' : 'transaction') + ' differs from the one issued ' +
          'for this link, so the server refused it. Nothing was sent and nothing changed. Your wallet or a ' +
          'browser extension altered it: do not approve it that way.');
        return;
      case 'invalid_signature':
        show('error', code, 'The signature is not valid',
          'The server could not verify the signature, so nothing changed. Try again, or use another wallet.');
        return;
      case 'expired':
        show('error', code, 'This link has expired',
          'It expired before your signature arrived, so nothing changed. Ask the agent for a new link.');
        close('No longer open');
        return;
      case 'conflict':
        show('error', code, 'Already used',
          'This link was already used or is being processed right now, so nothing more was done. ' +
          'Reload the page to see its state.');
        close('No longer open');
        return;
      case 'not_found':
        show('error', code, 'This link does not exist',
          'There is no such approval (any more). Nothing changed. Ask the agent for a new link.');
        close('No longer open');
        return;
      case 'unavailable':
        show('error', code, 'Solana did not answer',
          'The chain failed before anything happened: nothing changed and no money moved. Try again.',
          said, true);
        return;
      case 'invalid_argument':
        show('error', code, 'Not accepted', 'The server did not accept the request. Nothing changed.', said);
        return;
      default:
        show('error', code, 'Something went wrong',
          'The server answered ' + httpStatus + (code !== 'error' ? ' (' + code + ')' : '') + '. ' +
          (httpStatus >= 500 ? 'Try again in a moment.' : 'Nothing changed.'), said, httpStatus >= 500);
    }
  }

  // Try again: ask the server for the approval's state first. If it is still
  // pending with the same bytes, post the same signature again; if the server
  // issued new bytes, the wallet must sign again; otherwise show its state.
  async function retry() {
    if (busy) return;
    busy = true;
    clearOutcome();
    renderWallets();
    try {
      progress('Checking the request…', 'checking');
      let cur;
      try {
        const res = await fetch(postURL(), { headers: { Accept: 'application/json' }, cache: 'no-store' });
        cur = await res.json();
        if (!res.ok) {
          fail(res.status, (cur && cur.error) || {});
          return;
        }
      } catch (err) {
        show('error', 'network', 'Could not reach stipend',
          'Check your connection, then try again.', null, true);
        return;
      }
      if (cur.status !== 'pending') {
        window.location.reload();
        return;
      }
      const same = data.sign === 'message' ? cur.message === data.message : cur.transaction === data.transaction;
      if (same && lastPayload) {
        await submit(lastPayload);
        return;
      }
      data.transaction = cur.transaction;
      data.message = cur.message;
      progress('');
      if (!describe()) return;
      show('info', 'renewed', 'Sign again', 'The request was renewed. Sign it again with your wallet.');
    } finally {
      busy = false;
      renderWallets();
    }
  }

  // ---- what is signed, read from the bytes ---------------------------------------

  // describe shows, step by step, what the bytes to be signed do (decode.js), and
  // closes the page when they cannot be described: nothing is offered for signing.
  function describe() {
    const section = $('decoded');
    if (!section) return true;
    const dec = window.stipendDecode;
    let d;
    if (!dec) {
      d = { ok: false, steps: [], reason: 'The page could not load its transaction reader.' };
    } else {
      const s = data.summary || {};
      const names = s.session_key_address ? { [s.session_key_address]: 'the session key' } : {};
      const ctx = { userWallet: data.user_wallet, names, mint: data.mint, token: s.token || 'USDC' };
      d = data.sign === 'message' ? dec.describeMessage(data.message || '', ctx) : dec.describeTransaction(data.transaction || '', ctx);
    }
    const list = $('decoded-list');
    list.textContent = '';
    for (const step of d.steps || []) {
      const li = document.createElement('li');
      li.dataset.program = step.program;
      const what = document.createElement('strong');
      what.textContent = step.program + ' · ' + step.action + ': ';
      li.append(what, document.createTextNode(step.text));
      list.append(li);
    }
    $('decoded-fee').textContent = d.ok && d.fee ? d.fee.text : '';
    section.hidden = false;
    if (!d.ok) {
      show('error', 'unknown_instruction', 'Not offered for signing',
        d.reason + ' Nothing was signed and nothing changed. Do not sign it elsewhere; ask the agent for a new link.');
      close('Not offered for signing');
      return false;
    }
    return true;
  }

  // decline tells the server the owner says no: the link is cancelled and a
  // payment it held is released. Only this page can: a JSON body, same origin.
  async function decline() {
    if (busy || closed) return;
    busy = true;
    clearOutcome();
    renderWallets();
    progress('Declining…', 'declining');
    try {
      const res = await fetch(postURL() + '/reject', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ reason: 'declined on the approval page' }),
        credentials: 'same-origin',
        cache: 'no-store',
      });
      const body = await res.json().catch(() => null);
      if (res.ok) {
        show('success', 'cancelled', 'Declined', 'Nothing was signed and nothing changed. The agent is told you declined. You can close this page.');
        close('Declined');
      } else {
        fail(res.status, (body && body.error) || {});
      }
    } catch (err) {
      show('error', 'network', 'Could not reach stipend', 'Check your connection, then try again.');
    } finally {
      busy = false;
      renderWallets();
    }
  }

  // ---- start --------------------------------------------------------------------

  if (retryEl) retryEl.addEventListener('click', retry);
  if ($('decline')) $('decline').addEventListener('click', decline);

  const offered = canSign && walletsEl && describe();

  if (offered) {
    wallets = sign.watchWallets(renderWallets);
    // Wallets usually register at once; give slow ones a moment before saying none is there.
    setTimeout(() => {
      walletsReady = true;
      renderWallets();
    }, 800);
    renderWallets();

    // A link that expires while the page is open stops offering to sign.
    if (data.expires_at) {
      const left = Date.parse(data.expires_at) - Date.now();
      if (left > 0 && left < 2 ** 31 - 1) {
        setTimeout(() => {
          if (busy || main.dataset.phase === 'done') return;
          show('error', 'expired', 'This link has expired',
            'Nothing was signed and nothing changed. Ask the agent for a new link.');
          close('No longer open');
        }, left);
      }
    }
  }

  // A request being processed: look again every few seconds, reload when it is settled.
  if (status === 'processing') {
    let polls = 0;
    const timer = setInterval(async () => {
      if (++polls > 100) {
        clearInterval(timer);
        return;
      }
      try {
        const res = await fetch(postURL(), { headers: { Accept: 'application/json' }, cache: 'no-store' });
        const cur = await res.json();
        if (cur && cur.status && cur.status !== 'processing') {
          clearInterval(timer);
          window.location.reload();
        }
      } catch (err) {
        /* try again on the next tick */
      }
    }, 3000);
  }
})();
