// Runs the approval cases a server describes in $STIPEND_E2E_CASES (a JSON file path, or
// the JSON itself), in headless Chromium with the Wallet Standard test wallet.
//
//   {"base_url": "http://127.0.0.1:PORT",
//    "cases": [{"name": "fund-ok", "url": "/approve/ap_…", "secret_key": "<base58|hex>",
//               "mode": "ok|reject|tamper|wrong-wallet|view", "viewport": "desktop|phone",
//               "keyboard": false, "retry": false, "delay_ms": 0, "skip_other_size": false,
//               "expect": {"state": "success|error|closed", "code": "active",
//                          "title_includes": "…", "text_includes": "…",
//                          "progress_includes": ["Waiting for your wallet…"]}}]}
//
// Before each case (unless skip_other_size) it also saves the untouched page at the other
// size (phone or desktop); every case saves
// before/after screenshots under $STIPEND_ARTIFACTS (default web/e2e/artifacts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  approveInBrowser, launchBrowser, screenshotPage, artifactsDir, DESKTOP, PHONE,
} from './approve.js';

function loadCases() {
  const raw = process.env.STIPEND_E2E_CASES;
  if (!raw) return null;
  return JSON.parse(raw.trim().startsWith('{') ? raw : readFileSync(raw, 'utf8'));
}

const spec = loadCases();
let browser;

before(async () => {
  if (spec) browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
});

if (!spec) {
  test('approval pages', { skip: 'STIPEND_E2E_CASES is not set: run through `go test ./web/ -run TestBrowser`' }, () => {});
} else {
  for (const c of spec.cases) {
    test(c.name, async () => {
      const url = new URL(c.url, spec.base_url).href;
      const dir = artifactsDir();
      const viewport = c.viewport === 'phone' ? PHONE : DESKTOP;
      // The page as the human first sees it, at the other size (links are single-use,
      // so only one size can go through the whole flow); once per kind of page.
      if (!c.skip_other_size) {
        const other = viewport === PHONE ? DESKTOP : PHONE;
        const shot = await screenshotPage({
          browser, url, viewport: other, secretKey: c.secret_key,
          path: join(dir, `${c.name}-${other === PHONE ? 'phone' : 'desktop'}.png`),
        });
        assert.deepEqual(shot.problems, [], 'console errors while showing the page');
      }

      const got = await approveInBrowser({
        browser, url, secretKey: c.secret_key, mode: c.mode || 'ok', viewport,
        keyboard: !!c.keyboard, retry: !!c.retry, delayMs: c.delay_ms || 0,
        name: `${c.name}-${viewport === PHONE ? 'phone' : 'desktop'}`, screenshotDir: dir,
      });
      const e = c.expect || {};
      const show = JSON.stringify({ state: got.state, code: got.code, status: got.statusText, progress: got.progress });
      if (e.state) assert.equal(got.state, e.state, show);
      if (e.code) assert.equal(got.code, e.code, show);
      if (e.title_includes) assert.ok(got.title.includes(e.title_includes), `title: ${show}`);
      if (e.text_includes) assert.ok(got.text.includes(e.text_includes), `text: ${show}`);
      for (const p of e.progress_includes || []) {
        assert.ok(got.progress.some((t) => t.startsWith(p)), `progress should show ${JSON.stringify(p)}: ${show}`);
      }
      if (e.first_code) assert.equal(got.first && got.first.code, e.first_code, show);
      // What the page read from the signed bytes: every step, and the fee.
      const decoded = JSON.stringify({ steps: got.decoded, fee: got.fee });
      for (const want of e.decoded_includes || []) {
        assert.ok(got.decoded.some((s) => s.includes(want)), `decoded steps should include ${JSON.stringify(want)}: ${decoded}`);
      }
      if (e.decoded_steps !== undefined) assert.equal(got.decoded.length, e.decoded_steps, decoded);
      if (e.fee_includes) assert.ok(got.fee.includes(e.fee_includes), `fee should include ${JSON.stringify(e.fee_includes)}: ${decoded}`);
      if (e.offered === false) {
        assert.ok(!got.walletCalls.some((k) => k.method.startsWith('sign')), 'a transaction the page cannot describe must not be signed');
      }
      if (c.mode === 'wrong-wallet') {
        assert.ok(!got.walletCalls.some((k) => k.method.startsWith('sign')), 'a wrong wallet must not be asked to sign');
      }
      if (got.walletCalls.some((k) => k.method === 'signTransaction') && e.chain) {
        assert.equal(got.walletCalls.find((k) => k.method === 'signTransaction').chain, e.chain);
      }
      assert.deepEqual(got.problems, [], 'console errors (CSP violations, failed loads, exceptions)');
    });
  }
}
