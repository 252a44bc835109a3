// Latency as a person sees it: from `docker run` returning to the new
// container's row drawn in the containers table, in Debian's headless
// Chromium against a running app and probe. The wire bench
// (tests/src/bin/wire_bench.rs) runs this with PERISCOPE_URL set to its app;
// by hand: PERISCOPE_URL=http://127.0.0.1:4040/ node bench/latency.mjs.
//
// The page records when each row first appears (a MutationObserver, in the
// page's own clock, which on one machine is the same wall clock as this
// script's). Containers are named periscope-test-latency-… and removed after.

import { execFileSync } from 'node:child_process';
import { launchChromium } from '../tools/chromium.mjs';

const url = process.env.PERISCOPE_URL ?? 'http://127.0.0.1:4040/';
const runs = Number(process.env.PERISCOPE_LATENCY_RUNS ?? 20);
const image = process.env.PERISCOPE_IMAGE ?? 'periscope-test-busybox:latest';
const prefix = 'periscope-test-latency-';

const docker = (...args) => execFileSync('docker', args, { encoding: 'utf8' }).trim();

function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.round((sorted.length - 1) * q)];
}

const browser = await launchChromium();
const names = [];
try {
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  await page.addInitScript(() => {
    window.__seenRows = {};
    new MutationObserver(() => {
      for (const row of document.querySelectorAll('[data-testid="node-table"] tbody tr[data-node-id]')) {
        const id = row.dataset.nodeId;
        if (!(id in window.__seenRows)) window.__seenRows[id] = performance.timeOrigin + performance.now();
      }
    }).observe(document, { childList: true, subtree: true });
  });
  await page.goto(new URL('?view=containers&mode=table', url).toString());
  await page.waitForSelector('[data-testid="node-table"] tbody tr', { timeout: 60_000 });
  const latencies = [];
  for (let run = 0; run < runs; run++) {
    const name = `${prefix}${process.pid}-${run}`;
    names.push(name);
    const id = docker('run', '-d', '--name', name, image, 'sleep', '3600');
    const returned = Date.now();
    const node = `container:${id}`;
    const seen = await page.waitForFunction((node) => window.__seenRows[node], node, {
      timeout: 10_000,
      polling: 'raf',
    });
    latencies.push((await seen.jsonValue()) - returned);
  }
  const fmt = (ms) => `${ms.toFixed(1)} ms`;
  console.log(
    JSON.stringify({
      runs: latencies.length,
      median_ms: quantile(latencies, 0.5),
      p95_ms: quantile(latencies, 0.95),
      max_ms: Math.max(...latencies),
    }),
  );
  console.error(`browser: median ${fmt(quantile(latencies, 0.5))}, p95 ${fmt(quantile(latencies, 0.95))}`);
} finally {
  await browser.close();
  if (names.length > 0) docker('rm', '-f', ...names);
}
