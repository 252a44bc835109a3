// A browser watching, for as long as it is left running: the soak bench
// (tests/src/bin/soak_bench.rs) starts this beside its churn so the app
// serves a real UI the whole time, and reads what it prints. Logs in with
// PERISCOPE_TOKEN when the app asks, opens the containers view, and every
// PERISCOPE_WATCH_EVERY seconds (default 10) prints one line:
//
//   sample <seconds> <JS heap bytes used> <DOM elements> <the node count shown>
//
// By hand: PERISCOPE_URL=http://127.0.0.1:4040/ node bench/watch.mjs

import { launchChromium } from '../tools/chromium.mjs';

const url = process.env.PERISCOPE_URL ?? 'http://127.0.0.1:4040/';
const token = process.env.PERISCOPE_TOKEN ?? '';
const every = Number(process.env.PERISCOPE_WATCH_EVERY ?? 10) * 1000;

// Precise heap figures: without the flag Chromium rounds them to hide them from pages.
const browser = await launchChromium({ viewport: { width: 1200, height: 800 }, args: ['--enable-precise-memory-info'] });

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await browser.close().catch(() => {});
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

const page = browser.context.pages()[0] ?? (await browser.context.newPage());
page.on('pageerror', (error) => console.error('page error:', error.message));
await page.goto(url);
if (new URL(page.url()).pathname.endsWith('login')) {
  await page.fill('#token', token);
  await Promise.all([page.waitForURL((at) => !at.pathname.endsWith('login')), page.click('button[type="submit"]')]);
}
await page.waitForSelector('.topbar');
console.log('watching', page.url());

const started = Date.now();
while (!stopping) {
  await new Promise((resolve) => setTimeout(resolve, every));
  if (stopping) break;
  const sample = await page
    .evaluate(() => ({
      heap: performance.memory?.usedJSHeapSize ?? 0,
      dom: document.getElementsByTagName('*').length,
      shown: document.querySelector('[data-testid="node-count"]')?.textContent?.replace(/\D+/g, ' ').trim().split(' ')[0] ?? '?',
    }))
    .catch(() => null);
  if (sample) {
    console.log(`sample ${Math.round((Date.now() - started) / 1000)} ${sample.heap} ${sample.dom} ${sample.shown}`);
  }
}
