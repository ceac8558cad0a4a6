// Drive stipend approval pages in headless Debian Chromium with a Wallet Standard test
// wallet. Reusable: give it a page URL and the owner's secret key, get back what the page
// said. Never downloads a browser: it runs /usr/bin/chromium (or $CHROMIUM_PATH).
import { chromium } from 'playwright-core';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// The page's signing module (it sets globalThis.stipendSign): its base58 names keys here.
import '../static/sign.js';

const here = dirname(fileURLToPath(import.meta.url));
const { base58Encode, base58Decode } = globalThis.stipendSign;
export { base58Encode, base58Decode };

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// Without the background-networking flags Chromium misbehaves on a closed network.
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };
export const TEST_WALLET_NAME = 'Stipend Test Wallet';

/** Where screenshots go: $STIPEND_ARTIFACTS, else web/e2e/artifacts. */
export function artifactsDir() {
  const dir = process.env.STIPEND_ARTIFACTS || join(here, 'artifacts');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Launch headless Chromium. Close it with browser.close(). */
export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/** A fresh ed25519 keypair: secretKey is 64 bytes (seed || public key) in base58, as Solana CLIs write it. */
export function generateKeypair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const d = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url');
  const x = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  return { secretKey: base58Encode(Buffer.concat([d, x])), publicKey: base58Encode(x) };
}

let walletSource;
/**
 * The init script that installs the test wallet with this config (see test-wallet.js),
 * after signSource, the signing module it signs with (signModule). One script: the order
 * of several init scripts is not defined.
 */
export function walletScript(config, signSource) {
  walletSource ||= readFileSync(join(here, 'test-wallet.js'), 'utf8');
  return `${signSource}\n${walletSource}\ninstallStipendTestWallet(${JSON.stringify(config)});`;
}

const signModules = new Map();
/**
 * The signing module (web/static/sign.js) as the server of url serves it to its pages:
 * the test wallet signs with the very module the page uses, not a copy.
 */
export async function signModule(url) {
  const src = new URL('/approve/static/sign.js', url).href;
  if (!signModules.has(src)) {
    const res = await fetch(src, { cache: 'no-store' });
    if (!res.ok) throw new Error(`GET ${src}: ${res.status}`);
    signModules.set(src, await res.text());
  }
  return signModules.get(src);
}

// Records every text the page's progress region shows, for assertions.
const progressRecorder = `(() => {
  window.__stipendProgress = [];
  document.addEventListener('DOMContentLoaded', () => {
    const el = document.getElementById('progress');
    if (!el) return;
    new MutationObserver(() => { if (el.textContent) window.__stipendProgress.push(el.textContent); })
      .observe(el, { childList: true, characterData: true, subtree: true });
  });
})();`;

/**
 * Open an approval page with the test wallet installed. Returns {context, page, problems}:
 * problems collects console errors (CSP violations among them) and page errors.
 */
export async function openApproval({ browser, url, secretKey, walletMode = 'ok', viewport = DESKTOP, delayMs = 0 }) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, isMobile: viewport.width < 600, hasTouch: viewport.width < 600 });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    // An error status from the approval endpoint itself is an answer the page handles
    // (expired, conflict, unavailable…), not a problem of the page.
    const where = msg.location() && msg.location().url;
    if (msg.text().startsWith('Failed to load resource') && where && new URL(where).pathname === new URL(url).pathname) return;
    problems.push(msg.text());
  });
  page.on('pageerror', (err) => problems.push(String(err)));
  await page.addInitScript(progressRecorder);
  if (secretKey) {
    await page.addInitScript(walletScript({ secretKey, mode: walletMode, delayMs, name: TEST_WALLET_NAME }, await signModule(url)));
  }
  const res = await page.goto(url, { waitUntil: 'load' });
  if (!res || !res.ok()) throw new Error(`GET ${url}: ${res ? res.status() : 'no response'}`);
  return { context, page, problems, response: res };
}

async function readOutcome(page) {
  return page.evaluate(() => {
    const o = document.getElementById('outcome');
    const state = document.getElementById('state');
    const main = document.getElementById('main');
    return {
      phase: main ? main.dataset.phase : '',
      state: o && !o.hidden ? o.dataset.state : (state ? 'closed' : ''),
      code: o && !o.hidden ? o.dataset.code : (main ? main.dataset.status : ''),
      title: o && !o.hidden ? document.getElementById('outcome-title').textContent
        : (state ? state.querySelector('h2').textContent : ''),
      text: o && !o.hidden ? document.getElementById('outcome-text').textContent
        : (state ? state.querySelector('p').textContent : ''),
      progress: window.__stipendProgress || [],
      decoded: [...document.querySelectorAll('#decoded-list > li')].map((li) => li.textContent),
      fee: document.getElementById('decoded-fee') ? document.getElementById('decoded-fee').textContent : '',
      walletCalls: window.__stipendTestWallet ? window.__stipendTestWallet.calls : [],
    };
  });
}

async function shoot(page, dir, name) {
  if (!dir || !name) return null;
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Open an approval page and approve it (or fail to) with the test wallet.
 *
 *   url        page URL (absolute)
 *   secretKey  the owner's ed25519 secret (64 bytes or 32-byte seed; base58 or hex)
 *   mode       'ok' | 'decline' (the owner presses "Decline this request") | 'reject' (the wallet rejects) | 'tamper' (the wallet changes a byte
 *              before signing) | 'wrong-wallet' (a wallet holding another, random key) |
 *              'view' (only open and screenshot) | 'no-wallet' (no wallet in the browser:
 *              the page must say so)
 *   browser    a launched browser to reuse (else one is launched and closed)
 *   viewport   {width, height}; DESKTOP (default) or PHONE
 *   keyboard   reach the sign button with Tab and press Enter instead of clicking
 *   retry      when the page offers "Try again" (code unavailable), press it once; when
 *              the link was issued anew meanwhile (code renewed), sign the new bytes
 *   delayMs    the wallet waits this long before signing
 *   name       artifact name; screenshots `${name}-before.png`, `${name}-after.png`
 *   screenshotDir  defaults to artifactsDir()
 *   timeoutMs  how long to wait for the outcome (default 60 s: a real chain confirms)
 *
 * Returns {state: 'success'|'error'|'closed'|'ready'|'no-wallet', code, title, text, statusText,
 * progress, walletCalls, problems, screenshots: {before, after, retry?}, screenshot}.
 */
export async function approveInBrowser(opts) {
  const {
    url, secretKey, mode = 'ok', viewport = DESKTOP, keyboard = false, retry = false,
    delayMs = 0, name, timeoutMs = 60_000,
  } = opts;
  const dir = opts.screenshotDir || (name ? artifactsDir() : null);
  const browser = opts.browser || (await launchBrowser());
  const walletMode = mode === 'reject' || mode === 'tamper' ? mode : 'ok';
  const key = mode === 'no-wallet' ? null : mode === 'wrong-wallet' ? generateKeypair().secretKey : secretKey;
  const { context, page, problems } = await openApproval({ browser, url, secretKey: key, walletMode, viewport, delayMs });
  try {
    const screenshots = {};
    const main = page.locator('#main');
    await main.waitFor();
    const phase = await main.getAttribute('data-phase');
    let button = null;
    if (phase === 'ready' && mode === 'no-wallet') {
      const empty = page.locator('#wallets-empty');
      await empty.waitFor({ state: 'visible', timeout: 10_000 });
      screenshots.before = await shoot(page, dir, name && `${name}-before`);
      const text = await empty.textContent();
      return finish({ state: 'no-wallet', code: 'no_wallet', title: '', text, progress: [], walletCalls: [] },
        screenshots, problems, 'no-wallet');
    }
    if (phase === 'ready') {
      button = page.locator('#wallets button', { hasText: TEST_WALLET_NAME });
      await button.waitFor({ timeout: 10_000 });
    }
    screenshots.before = await shoot(page, dir, name && `${name}-before`);
    if (phase === 'ready' && mode === 'decline') {
      await page.locator('#decline').click();
      await page.locator('#outcome[data-state]').waitFor({ state: 'visible', timeout: timeoutMs });
      const out = await readOutcome(page);
      screenshots.after = await shoot(page, dir, name && `${name}-after`);
      return finish(out, screenshots, problems);
    }
    if (phase !== 'ready' || mode === 'view') {
      const out = await readOutcome(page);
      return finish(out, screenshots, problems, phase === 'ready' ? 'ready' : 'closed');
    }

    if (keyboard) {
      await page.locator('body').focus();
      let focused = false;
      for (let i = 0; i < 60 && !focused; i++) {
        await page.keyboard.press('Tab');
        focused = await button.evaluate((b) => b === document.activeElement);
      }
      if (!focused) throw new Error('the sign button cannot be reached with the Tab key');
      await page.keyboard.press('Enter');
    } else {
      await button.click();
    }
    await page.locator('#outcome[data-state]').waitFor({ state: 'visible', timeout: timeoutMs });
    let out = await readOutcome(page);
    if (retry && out.code === 'unavailable') {
      screenshots.retry = await shoot(page, dir, name && `${name}-unavailable`);
      const first = out;
      await page.locator('#retry').click();
      await page.waitForFunction(() => {
        const o = document.getElementById('outcome');
        return o && !o.hidden && o.dataset.code !== 'unavailable';
      }, null, { timeout: timeoutMs });
      out = await readOutcome(page);
      if (out.code === 'renewed') {
        // The link was issued anew meanwhile (its blockhash expired): sign the new bytes.
        await button.click();
        await page.waitForFunction(() => {
          const o = document.getElementById('outcome');
          return o && !o.hidden && o.dataset.code !== 'renewed';
        }, null, { timeout: timeoutMs });
        out = await readOutcome(page);
        out.renewed = true;
      }
      out.first = { code: first.code, title: first.title, text: first.text };
    }
    screenshots.after = await shoot(page, dir, name && `${name}-after`);
    return finish(out, screenshots, problems);
  } finally {
    await context.close();
    if (!opts.browser) await browser.close();
  }
}

function finish(out, screenshots, problems, state) {
  const result = { ...out, problems, screenshots };
  if (state) result.state = state;
  result.statusText = [result.title, result.text].filter(Boolean).join(': ');
  result.screenshot = screenshots.after || screenshots.before || null;
  return result;
}

/** Screenshot a page as it first shows (no signing), e.g. at PHONE size. */
export async function screenshotPage({ browser, url, path, viewport = DESKTOP, secretKey }) {
  const { context, page, problems } = await openApproval({ browser, url, secretKey, viewport });
  try {
    if (secretKey && (await page.locator('#main').getAttribute('data-phase')) === 'ready') {
      await page.locator('#wallets button').first().waitFor({ timeout: 10_000 });
    }
    await page.screenshot({ path, fullPage: true });
    return { path, problems };
  } finally {
    await context.close();
  }
}
