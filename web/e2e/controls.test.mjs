// Browser tests of controls, logs, the terminal and the login page against
// the real app (with a UI token), its probe and a real container, all
// started by tests/tests/web_controls_e2e.rs, which then runs
// `npm run e2e:controls`.
//
// Environment:
//   PERISCOPE_URL        the app, e.g. http://127.0.0.1:4040/   (required)
//   PERISCOPE_TOKEN      the app's UI token                     (required)
//   PERISCOPE_E2E_NODE   the container's node ID (container:…)  (required)
//   CHROMIUM_PATH        default /usr/bin/chromium

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchChromium } from '../tools/chromium.mjs';

const APP_URL = requiredEnv('PERISCOPE_URL');
const TOKEN = requiredEnv('PERISCOPE_TOKEN');
const NODE = requiredEnv('PERISCOPE_E2E_NODE');
const DEADLINE_MS = Number(process.env.PERISCOPE_E2E_TIMEOUT_MS ?? 60_000);

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set (see the header of e2e/controls.test.mjs)`);
  return value;
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
async function waitFor(what, check, timeoutMs = DEADLINE_MS) {
  const started = Date.now();
  let last;
  while (Date.now() - started < timeoutMs) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
}

describe('controls, logs and terminal against the real app', () => {
  let browser;
  let page;

  before(async () => {
    browser = await launchChromium({ viewport: { width: 1200, height: 800 } });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (error) => console.error('page error:', error.message));
  });

  after(async () => {
    await browser?.close();
  });

  test('the login page refuses a wrong token and lets the right one in', async () => {
    await page.goto(APP_URL);
    assert.match(page.url(), /\/login$/, 'without a session the page is the login page');
    await page.fill('#token', 'not-the-token-not-the-token');
    await Promise.all([page.waitForLoadState(), page.click('button[type="submit"]')]);
    await page.waitForSelector('#login-error');
    assert.match(page.url(), /\/api\/login$|\/login$/);
    await page.fill('#token', TOKEN);
    await Promise.all([page.waitForURL((url) => !url.pathname.endsWith('login')), page.click('button[type="submit"]')]);
    await page.waitForSelector('.topbar');
    const cookies = await browser.context.cookies();
    const session = cookies.find((cookie) => cookie.name === 'periscope_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
  });

  test('clicking Restart restarts the container: its start time changes', async () => {
    await page.goto(`${APP_URL}?view=containers&stopped=show&node=${encodeURIComponent(NODE)}`);
    await page.waitForSelector('[data-testid="details"] [data-control="restart"]', { timeout: DEADLINE_MS });
    const startedText = () => page.textContent('[data-testid="details-metadata"] [data-key="started"] dd');
    const before = await waitFor('a start time', startedText);
    page.once('dialog', (dialog) => dialog.accept());
    await page.click('[data-control="restart"]');
    const after = await waitFor('a new start time', async () => {
      const now = await startedText();
      return now && now !== before ? now : null;
    });
    assert.notEqual(after, before);
  });

  test('Logs opens a panel with the container output', async () => {
    await page.waitForSelector('[data-control="logs"]:not([disabled])');
    await page.click('[data-control="logs"]');
    await waitFor('log lines', async () => ((await page.textContent('[data-testid="log-lines"]')) ?? '').includes('log-line-'));
    // Search narrows the lines to the matches.
    await page.fill('[data-testid="log-search"]', 'log-line-');
    const text = await page.textContent('[data-testid="log-lines"]');
    assert.ok(text.split('\n').every((line) => line.includes('log-line-')), text);
    await page.click('[data-testid="log-panel"] .close');
  });

  test('Terminal opens a shell: a typed command shows its output', async () => {
    await page.waitForSelector('[data-control="exec"]:not([disabled])');
    await page.click('[data-control="exec"]');
    await page.waitForSelector('[data-testid="terminal"] .xterm-rows');
    await page.click('[data-testid="terminal"]');
    await page.keyboard.type('echo term-$((6*7))\n');
    await waitFor('the command output in the terminal', async () =>
      ((await page.textContent('[data-testid="terminal"] .xterm-rows')) ?? '').includes('term-42'),
    );
    if (process.env.PERISCOPE_E2E_SCREENSHOT) await page.screenshot({ path: process.env.PERISCOPE_E2E_SCREENSHOT });
  });
});
