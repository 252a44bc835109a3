// Browser test of the timeline strip (features/timeline) against the real
// app with history, its probe and a real container that started, died and
// was removed (the Rust harness tests/tests/web_timeline.rs sets that up).
//
// Environment:
//   PERISCOPE_URL        the app, e.g. http://127.0.0.1:4040/   (required)
//   PERISCOPE_E2E_DEAD   name of the container that lived and went (required)
//   PERISCOPE_E2E_SHOTS  directory for screenshots (default: none taken)
//   CHROMIUM_PATH        default /usr/bin/chromium

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchChromium } from '../tools/chromium.mjs';

const APP_URL = process.env.PERISCOPE_URL;
const DEAD = process.env.PERISCOPE_E2E_DEAD;
const SHOTS = process.env.PERISCOPE_E2E_SHOTS;
const DEADLINE_MS = 30_000;
assert.ok(APP_URL && DEAD, 'PERISCOPE_URL and PERISCOPE_E2E_DEAD are required');

let browser;
let page;

before(async () => {
  browser = await launchChromium({ viewport: { width: 1280, height: 800 } });
  page = await browser.context.newPage();
  await page.goto(APP_URL);
  await page.waitForSelector('[data-testid=timeline]', { timeout: DEADLINE_MS });
});

after(async () => {
  await browser?.close();
});

/** The marker of `kind` whose title names the dead container. */
async function markerOf(kind) {
  const handle = await page.waitForFunction(
    ([kind, name]) =>
      [...document.querySelectorAll(`.timeline-marker[data-kind=${kind}]`)].find((m) => m.title.includes(name)) ?? null,
    [kind, DEAD],
    { timeout: DEADLINE_MS },
  );
  return handle.asElement();
}

test('a death marker opens the past with the container selected, Live returns', async () => {
  const died = await markerOf('container_died');
  assert.match(await died.getAttribute('title'), /died \(exit \d+/);
  await died.click();
  await page.waitForSelector('[data-testid=timeline-past]', { timeout: DEADLINE_MS });
  assert.equal(await page.locator('.stage.stage-past').count(), 1, 'the map is marked as the past');
  await page.waitForFunction(
    (name) => document.querySelector('[data-testid=details-title]')?.textContent === name,
    DEAD,
    { timeout: DEADLINE_MS },
  );
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/timeline-past.png` });
  await page.click('[data-testid=timeline-live]');
  await page.waitForSelector('[data-testid=timeline-past]', { state: 'detached', timeout: DEADLINE_MS });
  assert.equal(await page.locator('.stage.stage-past').count(), 0);
});

test('compare from a moment it ran lists it as vanished', async () => {
  const started = await markerOf('container_started');
  await started.click();
  await page.waitForSelector('[data-testid=timeline-past]', { timeout: DEADLINE_MS });
  await page.click('[data-testid=timeline-compare]');
  await page.waitForFunction(
    (name) => document.querySelector('[data-testid=compare-vanished]')?.textContent.includes(name),
    DEAD,
    { timeout: DEADLINE_MS },
  );
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/timeline-compare.png` });
  await page.click('[data-testid=timeline-live]');
  await page.waitForSelector('[data-testid=compare]', { state: 'detached', timeout: DEADLINE_MS });
});
