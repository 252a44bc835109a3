// Browser tests of the UI against the real app, its probe and real
// containers (started by the Rust test harness, which then runs
// `npm run e2e`). Not against a fake: PERISCOPE_URL is the app.
//
// Environment:
//   PERISCOPE_URL         the app, e.g. http://127.0.0.1:4040/   (required)
//   PERISCOPE_E2E_SERVER  name of a server container              (required)
//   PERISCOPE_E2E_CLIENT  name of a container that connects to it (required)
//   PERISCOPE_E2E_LATE    name for the container started after page load
//                         (default: periscope-e2e-late-<pid>)
//   PERISCOPE_E2E_LATE_CMD  shell command that starts it (default:
//                         docker run -d --name $NAME periscope-test-busybox sleep 300);
//                         with the default command this script also removes the
//                         container afterwards; with a custom one the harness does.
//   CHROMIUM_PATH         default /usr/bin/chromium
//   PERISCOPE_E2E_SCREENSHOTS  directory for graph.png, details.png and table.png
//                         (default: the workspace's target/screenshots/, so a test
//                         run leaves tracked files alone; copy one to
//                         e2e/screenshots/ by hand to refresh the README's)

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { launchChromium } from '../tools/chromium.mjs';

const run = promisify(execFile);
const SCREENSHOTS = `${process.env.PERISCOPE_E2E_SCREENSHOTS || fileURLToPath(new URL('../../target/screenshots/', import.meta.url))}/`;

const APP_URL = requiredEnv('PERISCOPE_URL');
const SERVER = requiredEnv('PERISCOPE_E2E_SERVER');
const CLIENT = requiredEnv('PERISCOPE_E2E_CLIENT');
const LATE = process.env.PERISCOPE_E2E_LATE || `periscope-e2e-late-${process.pid}`;
const LATE_CMD = process.env.PERISCOPE_E2E_LATE_CMD;
// Edges need the probe to see a live connection and the app to resolve it;
// give real parts time, but never wait forever.
const DEADLINE_MS = Number(process.env.PERISCOPE_E2E_TIMEOUT_MS ?? 60_000);

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set (see the header of e2e/topology.test.mjs)`);
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

/** Container labels may keep Docker's leading slash; compare without it. */
function sameName(label, name) {
  return label.replace(/^\//, '') === name.replace(/^\//, '');
}

/** The graph as the page draws it, read through the test handle. */
function graphState(page) {
  return page.evaluate(() => {
    const graph = window.periscopeGraph;
    if (!graph) return null;
    return {
      nodes: graph.debugNodes(),
      edges: graph.cy.edges().map((edge) => ({ source: edge.source().id(), target: edge.target().id() })),
    };
  });
}

async function findNode(page, name) {
  const state = await graphState(page);
  return state?.nodes.find((node) => sameName(node.label, name) && node.visible) ?? null;
}

/** Docker's own view of a container, to check the details panel against. */
async function dockerFacts(name) {
  try {
    const { stdout } = await run('docker', [
      'inspect',
      '-f',
      '{{.Config.Image}}|{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}',
      name,
    ]);
    const [image = '', ips = ''] = stdout.trim().split('|');
    return { image, ips: ips.split(' ').filter(Boolean) };
  } catch {
    return null;
  }
}

describe('Periscope UI against the real app', () => {
  let browser;
  let page;
  let startedLate = false;

  before(async () => {
    await mkdir(SCREENSHOTS, { recursive: true });
    browser = await launchChromium({ viewport: { width: 1200, height: 760 } });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (error) => console.error('page error:', error.message));
  });

  after(async () => {
    if (startedLate) await run('docker', ['rm', '-f', LATE]).catch(() => {});
    await browser?.close();
  });

  test('the page loads and goes live', async () => {
    await page.goto(APP_URL);
    await page.waitForSelector('[data-testid="graph"]');
    await waitFor('the view WebSocket to be open', () =>
      page.getAttribute('[data-testid="connection"]', 'data-state').then((state) => state === 'open'),
    );
    // Marks this document: if anything reloads the page, the mark is gone.
    await page.evaluate(() => {
      window.__periscopeE2eMark = true;
    });
  });

  test('server and client containers appear with an edge from client to server', async () => {
    const { server, client } = await waitFor(`nodes ${SERVER} and ${CLIENT} with an edge`, async () => {
      const state = await graphState(page);
      if (!state) return null;
      const server = state.nodes.find((node) => sameName(node.label, SERVER) && node.visible);
      const client = state.nodes.find((node) => sameName(node.label, CLIENT) && node.visible);
      if (!server || !client) return null;
      const linked = state.edges.some((edge) => edge.source === client.id && edge.target === server.id);
      return linked ? { server, client } : null;
    });
    assert.notEqual(server.id, client.id);
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${SCREENSHOTS}graph.png` });
  });

  test('clicking a node opens details with its image and IP', async () => {
    const box = await page.locator('[data-testid="graph"]').boundingBox();
    assert.ok(box, 'graph container has a box');
    // Click where the canvas draws the node: a real click, as a person would.
    await page.evaluate(() => window.periscopeGraph?.fit());
    await page.waitForTimeout(200);
    const server = await findNode(page, SERVER);
    assert.ok(server, `${SERVER} is drawn`);
    await page.mouse.click(box.x + server.x, box.y + server.y);
    await page.waitForSelector('[data-testid="details"]');
    await waitFor('the details title', async () =>
      sameName((await page.textContent('[data-testid="details-title"]')) ?? '', SERVER),
    );
    const metadata = await waitFor('image and IP rows in details', async () => {
      const rows = await page.$$eval('[data-testid="details-metadata"] .metadata-row', (elements) =>
        Object.fromEntries(
          elements.map((element) => [element.getAttribute('data-key'), element.querySelector('dd')?.textContent ?? '']),
        ),
      );
      const image = Object.entries(rows).find(([key]) => /image/i.test(key ?? ''))?.[1];
      const ip = Object.entries(rows).find(([key]) => /(^|_)ips?($|_)|address/i.test(key ?? ''))?.[1];
      return image && ip ? { image, ip } : null;
    });
    const facts = await dockerFacts(SERVER);
    if (facts) {
      assert.ok(
        metadata.image.includes(facts.image) || facts.image.includes(metadata.image),
        `details image "${metadata.image}" matches docker's "${facts.image}"`,
      );
      if (facts.ips.length > 0) {
        assert.ok(
          facts.ips.some((ip) => metadata.ip.includes(ip)),
          `details IP "${metadata.ip}" is one of docker's ${facts.ips.join(', ')}`,
        );
      }
    } else {
      assert.match(metadata.ip, /\d+\.\d+\.\d+\.\d+|:/, 'IP looks like an address');
    }
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${SCREENSHOTS}details.png` });
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="details"]', { state: 'detached' });
  });

  test('searching narrows the nodes', async () => {
    const before = (await graphState(page)).nodes.filter((node) => node.visible).length;
    await page.keyboard.press('/');
    await page.keyboard.type(SERVER.replace(/^\//, ''));
    await page.check('[data-testid="filter-toggle"]');
    const narrowed = await waitFor('search to filter nodes', async () => {
      const state = await graphState(page);
      const shown = state.nodes.filter((node) => node.visible);
      return shown.length < before ? shown : null;
    });
    assert.ok(
      narrowed.some((node) => sameName(node.label, SERVER)),
      'the searched-for server stays visible',
    );
    assert.ok(!narrowed.some((node) => sameName(node.label, CLIENT)) || CLIENT.includes(SERVER));
    assert.match((await page.textContent('[data-testid="match-count"]')) ?? '', /\d+ match/);
    await page.fill('[data-testid="search"]', '');
    await page.uncheck('[data-testid="filter-toggle"]');
    await waitFor('all nodes back', async () => {
      const state = await graphState(page);
      return state.nodes.filter((node) => node.visible).length >= before;
    });
  });

  test('a container started after the page loaded appears without a reload', async () => {
    if (LATE_CMD) {
      await run('sh', ['-c', LATE_CMD], { env: { ...process.env, NAME: LATE } });
    } else {
      await run('docker', ['run', '-d', '--name', LATE, 'periscope-test-busybox', 'sleep', '300']);
      startedLate = true;
    }
    await waitFor(`node ${LATE}`, () => findNode(page, LATE));
    assert.equal(await page.evaluate(() => window.__periscopeE2eMark), true, 'the page was not reloaded');
  });

  test('the table view lists the same nodes', async () => {
    await waitFor('table rows equal to graph nodes', async () => {
      const graphIds = (await graphState(page)).nodes.map((node) => node.id).sort();
      await page.click('[data-mode="table"]');
      await page.waitForSelector('[data-testid="node-table"]');
      const tableIds = (
        await page.$$eval('[data-testid="node-table"] tbody tr', (rows) => rows.map((row) => row.dataset.nodeId))
      ).sort();
      const same = JSON.stringify(graphIds) === JSON.stringify(tableIds);
      if (!same) await page.click('[data-mode="graph"]');
      return same;
    });
    const names = await page.$$eval('[data-testid="node-table"] .node-name', (cells) => cells.map((c) => c.textContent));
    for (const name of [SERVER, CLIENT, LATE]) {
      assert.ok(names.some((label) => sameName(label ?? '', name)), `table lists ${name}`);
    }
    await page.screenshot({ path: `${SCREENSHOTS}table.png` });
  });
});
