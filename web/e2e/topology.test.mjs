// Browser tests of the UI against the real app, its probe and real
// containers (started by the Rust test harness tests/tests/web_e2e.rs, which
// then runs `npm run e2e`). Not against a fake: PERISCOPE_URL is the app.
//
// Environment:
//   PERISCOPE_URL           the app, e.g. http://127.0.0.1:4040/   (required)
//   PERISCOPE_E2E_SERVER    name of a server container              (required)
//   PERISCOPE_E2E_CLIENT    name of a container that connects to it (required)
//   PERISCOPE_E2E_STOPPED   name of a stopped container             (required)
//   PERISCOPE_E2E_CONTROL   host:port of the harness's control channel: lines
//                           `burst` (six more clients of the server), `stop-app`,
//                           `start-app`                             (required)
//   PERISCOPE_E2E_LATE      name for the container started after page load
//                           (default: periscope-e2e-late-<pid>); this script
//                           removes it afterwards
//   PERISCOPE_E2E_SCREENSHOTS  where screenshots go (default: ../target/web-e2e,
//                           never a tracked directory)
//   CHROMIUM_PATH           default /usr/bin/chromium
//
// The production UI has no test handle: the graph is read through the
// cytoscape instance that cytoscape itself registers on its container.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { launchChromium } from '../tools/chromium.mjs';

const run = promisify(execFile);
const SCREENSHOTS =
  process.env.PERISCOPE_E2E_SCREENSHOTS || fileURLToPath(new URL('../../target/web-e2e/', import.meta.url));

const APP_URL = requiredEnv('PERISCOPE_URL');
const SERVER = requiredEnv('PERISCOPE_E2E_SERVER');
const CLIENT = requiredEnv('PERISCOPE_E2E_CLIENT');
const STOPPED = requiredEnv('PERISCOPE_E2E_STOPPED');
const CONTROL = requiredEnv('PERISCOPE_E2E_CONTROL');
const LATE = process.env.PERISCOPE_E2E_LATE || `periscope-e2e-late-${process.pid}`;
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

/** Sends one command to the harness and returns its reply line. */
function control(command) {
  const [host, port] = CONTROL.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), host, () => socket.write(`${command}\n`));
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.includes('\n')) {
        socket.end();
        const line = reply.trim();
        if (line.startsWith('ok')) resolve(line.slice(2).trim());
        else reject(new Error(`control ${command}: ${line}`));
      }
    });
    socket.on('error', reject);
  });
}

/** Container labels may keep Docker's leading slash; compare without it. */
function sameName(label, name) {
  return String(label).replace(/^\//, '').replace(/ \(\w+\)$/, '') === name.replace(/^\//, '');
}

/** The graph as the page draws it: nodes with model and screen positions, edges, the viewport. */
function graphState(page) {
  return page.evaluate(() => {
    const cy = document.querySelector('[data-testid="graph"]')?._cyreg?.cy;
    if (!cy) return null;
    return {
      zoom: cy.zoom(),
      pan: cy.pan(),
      nodes: cy.nodes().map((node) => ({
        id: node.id(),
        label: String(node.data('label')),
        caption: String(node.data('caption')),
        position: { ...node.position() },
        x: node.renderedPosition().x,
        y: node.renderedPosition().y,
        visible: node.visible(),
        edges: node.connectedEdges().length,
      })),
      edges: cy.edges().map((edge) => ({ id: edge.id(), source: edge.source().id(), target: edge.target().id() })),
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

  test('the page loads and goes live, with no test handle in the build', async () => {
    await page.goto(APP_URL);
    await page.waitForSelector('[data-testid="graph"]');
    await waitFor('the view WebSocket to be open', () =>
      page.getAttribute('[data-testid="connection"]', 'data-state').then((state) => state === 'open'),
    );
    assert.equal(await page.evaluate(() => 'periscopeGraph' in window), false, 'no window.periscopeGraph');
    const name = await page.getAttribute('[data-testid="graph"]', 'aria-label');
    assert.match(name ?? '', /Containers: \d+ nodes/, 'the map has an accessible name');
    // Marks this document: if anything reloads the page, the mark is gone.
    await page.evaluate(() => {
      window.__periscopeE2eMark = true;
    });
  });

  test('server and client containers appear with an edge from client to server', async () => {
    await waitFor(`nodes ${SERVER} and ${CLIENT} with an edge`, async () => {
      const state = await graphState(page);
      if (!state) return null;
      const server = state.nodes.find((node) => sameName(node.label, SERVER) && node.visible);
      const client = state.nodes.find((node) => sameName(node.label, CLIENT) && node.visible);
      if (!server || !client) return null;
      return state.edges.some((edge) => edge.source === client.id && edge.target === server.id);
    });
    await page.screenshot({ path: `${SCREENSHOTS}/graph.png` });
  });

  test('Fit keeps every node clear of the map buttons', async () => {
    await page.click('[data-testid="fit"]');
    const tools = await page.locator('.graph-tools').boundingBox();
    const graph = await page.locator('[data-testid="graph"]').boundingBox();
    const boxes = await page.evaluate(() => {
      const cy = document.querySelector('[data-testid="graph"]')._cyreg.cy;
      return cy.nodes().map((node) => node.renderedBoundingBox({ includeLabels: true }));
    });
    for (const box of boxes) {
      const overlaps =
        graph.x + box.x1 < tools.x + tools.width &&
        graph.x + box.x2 > tools.x &&
        graph.y + box.y1 < tools.y + tools.height &&
        graph.y + box.y2 > tools.y;
      assert.ok(!overlaps, `a node at ${JSON.stringify(box)} is under the buttons ${JSON.stringify(tools)}`);
    }
  });

  test('clicking a node opens details with its image and IP', async () => {
    const box = await page.locator('[data-testid="graph"]').boundingBox();
    const server = await findNode(page, SERVER);
    assert.ok(server, `${SERVER} is drawn`);
    // Click where the canvas draws the node: a real click, as a person would.
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
      return rows.image && rows.ip ? { image: rows.image, ip: rows.ip } : null;
    });
    const facts = await dockerFacts(SERVER);
    if (facts) {
      assert.ok(
        metadata.image.includes(facts.image) || facts.image.includes(metadata.image),
        `details image "${metadata.image}" matches docker's "${facts.image}"`,
      );
      if (facts.ips.length > 0) assert.ok(facts.ips.some((ip) => metadata.ip.includes(ip)));
    }
    await page.screenshot({ path: `${SCREENSHOTS}/details.png` });
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="details"]', { state: 'detached' });
  });

  test('hovering an edge shows its ports; clicking it opens the edge details', async () => {
    const box = await page.locator('[data-testid="graph"]').boundingBox();
    const middle = await page.evaluate(
      ([server, client]) => {
        const cy = document.querySelector('[data-testid="graph"]')._cyreg.cy;
        const strip = (text) => String(text).replace(/^\//, '').replace(/ \(\w+\)$/, '');
        const edge = cy
          .edges()
          .filter((e) => strip(e.source().data('label')) === client && strip(e.target().data('label')) === server)[0];
        return edge ? edge.renderedMidpoint() : null;
      },
      [SERVER.replace(/^\//, ''), CLIENT.replace(/^\//, '')],
    );
    assert.ok(middle, 'the client → server edge is drawn');
    await page.mouse.move(box.x + middle.x - 3, box.y + middle.y - 3);
    await page.mouse.move(box.x + middle.x, box.y + middle.y);
    await page.waitForSelector('[data-testid="edge-tooltip"]');
    assert.match((await page.textContent('[data-testid="edge-ports"]')) ?? '', /\b80\b/);
    await page.screenshot({ path: `${SCREENSHOTS}/edge.png` });
    await page.mouse.click(box.x + middle.x, box.y + middle.y);
    await waitFor('edge details', async () => (await page.textContent('[data-testid="details-title"]'))?.includes('→'));
    assert.match((await page.textContent('[data-testid="edge-facts"]')) ?? '', /80/);
    await page.keyboard.press('Escape');
    await page.mouse.move(box.x + 5, box.y + 5);
    await page.waitForSelector('[data-testid="details"]', { state: 'detached' });
  });

  test('searching narrows the nodes; a half-typed comparison explains itself; no matches says so', async () => {
    const visibleCount = async () => (await graphState(page)).nodes.filter((node) => node.visible).length;
    const before = await visibleCount();
    await page.keyboard.press('/');
    await page.keyboard.type(SERVER.replace(/^\//, ''));
    await page.check('[data-testid="filter-toggle"]');
    const narrowed = await waitFor('search to filter nodes', async () => {
      const shown = (await graphState(page)).nodes.filter((node) => node.visible);
      return shown.length < before ? shown : null;
    });
    assert.ok(narrowed.some((node) => sameName(node.label, SERVER)), 'the searched-for server stays visible');
    assert.match((await page.textContent('[data-testid="match-count"]')) ?? '', /\d+ match/);
    await page.fill('[data-testid="search"]', 'cpu >');
    await waitFor('the half-typed comparison message', async () =>
      /needs a number/.test((await page.textContent('.search-errors').catch(() => '')) ?? ''),
    );
    await page.fill('[data-testid="search"]', 'no-such-node-anywhere');
    await page.waitForSelector('[data-testid="no-matches"]');
    await page.fill('[data-testid="search"]', '');
    await page.uncheck('[data-testid="filter-toggle"]');
    await waitFor('all nodes back', async () => (await visibleCount()) >= before);
  });

  test('a burst of six connected containers moves no node and keeps the zoom', async () => {
    const before = await graphState(page);
    const server = before.nodes.find((node) => sameName(node.label, SERVER));
    const names = (await control('burst')).split(' ');
    assert.equal(names.length, 6);
    const after = await waitFor('six new nodes with edges to the server', async () => {
      const state = await graphState(page);
      const fresh = names.map((name) => state.nodes.find((node) => sameName(node.label, name)));
      if (fresh.some((node) => !node)) return null;
      const linked = fresh.every((node) => state.edges.some((e) => e.source === node.id && e.target === server.id));
      return linked ? { state, fresh } : null;
    });
    for (const node of before.nodes) {
      const now = after.state.nodes.find((other) => other.id === node.id);
      if (!now) continue; // Gone meanwhile (a container that ended).
      assert.deepEqual(now.position, node.position, `${node.label} did not move`);
    }
    assert.equal(after.state.zoom, before.zoom, 'zoom unchanged');
    assert.deepEqual(after.state.pan, before.pan, 'pan unchanged');
    // Placed near the server they talk to (the map may be crowded with
    // other tests' containers, so free space can be some way off).
    const fromServer = (node) => Math.hypot(node.position.x - server.position.x, node.position.y - server.position.y);
    const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
    const others = before.nodes.filter((node) => node.id !== server.id).map(fromServer);
    const fresh = after.fresh.map(fromServer);
    for (const [index, distance] of fresh.entries()) {
      assert.ok(distance < 2000, `${after.fresh[index].label} is ${Math.round(distance)} from its server`);
    }
    // Within about six node spacings on average, or nearer than the rest of a crowded map.
    const bound = Math.max(700, others.length > 0 ? mean(others) : 0);
    assert.ok(
      mean(fresh) < bound,
      `new nodes ${Math.round(mean(fresh))} from the server on average, others ${Math.round(mean(others))}`,
    );
    await page.screenshot({ path: `${SCREENSHOTS}/burst.png` });
  });

  test('a container started after the page loaded appears without a reload', async () => {
    await run('docker', ['run', '-d', '--name', LATE, 'periscope-test-busybox', 'sleep', '300']);
    startedLate = true;
    await waitFor(`node ${LATE}`, () => findNode(page, LATE));
    assert.equal(await page.evaluate(() => window.__periscopeE2eMark), true, 'the page was not reloaded');
  });

  test('the keyboard reaches nodes: arrows move, Enter opens, ? lists shortcuts', async () => {
    await page.focus('[data-testid="graph"]');
    await page.keyboard.press('ArrowDown');
    await waitFor('a focused node read out', async () => ((await page.textContent('[data-testid="graph-focus"]')) ?? '').length > 0);
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="details"]');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="details"]', { state: 'detached' });
    await page.keyboard.press('?');
    await page.waitForSelector('[data-testid="shortcuts"]');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="shortcuts"]', { state: 'detached' });
  });

  test('the table lists the same nodes, with more columns, and keeps its sort', async () => {
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
    const headers = await page.$$eval('[data-testid="node-table"] th', (cells) => cells.map((c) => c.dataset.column));
    assert.deepEqual(headers, ['name', 'kind', 'host', 'state', 'image', 'cpu', 'memory', 'connections']);
    await page.click('th[data-column="cpu"] button');
    await page.click('[data-mode="graph"]');
    await page.click('[data-mode="table"]');
    assert.equal(await page.getAttribute('th[data-column="cpu"]', 'aria-sort'), 'descending');
    await page.screenshot({ path: `${SCREENSHOTS}/table.png` });
    await page.click('[data-mode="graph"]');
  });

  test('a stopped container is drawn differently from a running one', async () => {
    await page.selectOption('select[data-option="stopped"]', 'show');
    const looks = await waitFor(`${STOPPED} drawn`, () =>
      page.evaluate(
        ([stopped, running]) => {
          const cy = document.querySelector('[data-testid="graph"]')._cyreg.cy;
          const strip = (text) => String(text).replace(/^\//, '');
          const find = (name) => cy.nodes().filter((n) => strip(n.data('label')) === name)[0];
          const [a, b] = [find(stopped), find(running)];
          if (!a || !b) return null;
          const look = (n) => ({
            border: n.style('border-style'),
            fill: n.style('background-color'),
            caption: n.data('caption'),
          });
          return { stopped: look(a), running: look(b) };
        },
        [STOPPED.replace(/^\//, ''), SERVER.replace(/^\//, '')],
      ),
    );
    assert.notDeepEqual(
      [looks.stopped.border, looks.stopped.fill],
      [looks.running.border, looks.running.fill],
      'stopped and running containers look different',
    );
    assert.match(looks.stopped.caption, /\((exited|created|dead)\)/, 'the state is in the label');
    await page.screenshot({ path: `${SCREENSHOTS}/stopped.png` });
    await page.selectOption('select[data-option="stopped"]', 'hide');
  });

  test('the processes view shows only connected processes by default', async () => {
    await page.click('[data-view="processes"]');
    const state = await waitFor('processes drawn', async () => {
      const graph = await graphState(page);
      return graph && graph.nodes.length > 0 && graph.nodes.every((node) => node.edges > 0) ? graph : null;
    });
    const all = await (await fetch(new URL('api/topology/processes?unconnected=show', APP_URL))).json();
    assert.ok(all.nodes.length > state.nodes.length, `${state.nodes.length} drawn of ${all.nodes.length} processes`);
    const count = Number(await page.textContent('[data-testid="count-processes"]'));
    assert.equal(count, state.nodes.length, 'the view button counts what is drawn');
  });

  test('the resource view draws the host with its containers', async () => {
    await page.click('[data-mode="resources"]');
    // Other tests' containers may share the host: search for ours, as a
    // person would; what a search finds always gets its own bar.
    const [server, client] = [SERVER, CLIENT].map((name) => name.replace(/^\//, ''));
    let common = 0;
    while (common < server.length && server[common] === client[common]) common += 1;
    await page.fill('[data-testid="search"]', server.slice(0, common));
    const bars = await waitFor('host and container bars', async () => {
      const found = await page.$$eval('[data-testid="resources"] .resource-host', (hosts) =>
        hosts.map((host) => ({
          host: host.getAttribute('data-host'),
          containers: [...host.querySelectorAll('[data-level="container"]')].map((bar) => bar.querySelector('.resource-label')?.textContent),
        })),
      );
      const names = found.flatMap((host) => host.containers.map((name) => String(name).replace(/^\//, '')));
      return found.length > 0 && names.includes(SERVER.replace(/^\//, '')) && names.includes(CLIENT.replace(/^\//, ''))
        ? found
        : null;
    });
    assert.ok(bars[0].host, 'the host bar is labelled');
    await page.screenshot({ path: `${SCREENSHOTS}/resources.png` });
    await page.fill('[data-testid="search"]', '');
    await page.click('[data-mode="graph"]');
    await page.click('[data-view="containers"]');
  });

  test('killing the app shows the banner and greys the graph; restarting clears both', async () => {
    await waitFor('live again on containers', async () => (await findNode(page, SERVER)) !== null);
    await control('stop-app');
    try {
      await page.waitForSelector('[data-testid="outage-banner"]', { timeout: DEADLINE_MS });
      await page.waitForSelector('.graph-view.stale', { timeout: DEADLINE_MS });
      // Switching view during the outage shows that view's last data, still stale.
      await page.click('[data-view="processes"]');
      await page.waitForSelector('.graph-view.stale');
      await waitFor('the processes view to show its last data', async () => (await graphState(page))?.nodes.length > 0);
      await page.screenshot({ path: `${SCREENSHOTS}/outage.png` });
    } finally {
      // Whatever failed above, later tests need the app back.
      await control('start-app');
    }
    await page.waitForSelector('[data-testid="outage-banner"]', { state: 'detached', timeout: DEADLINE_MS });
    await page.waitForSelector('.graph-view:not(.stale)', { timeout: DEADLINE_MS });
    await waitFor('the view WebSocket to be open', () =>
      page.getAttribute('[data-testid="connection"]', 'data-state').then((state) => state === 'open'),
    );
  });

  test('an unknown view says so and does not retry a refused WebSocket', async () => {
    const sockets = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    await page.goto(new URL('?view=nonsense', APP_URL).toString());
    await waitFor('the unknown-view message', async () =>
      /no such view/i.test((await page.textContent('[data-testid="view-error"]').catch(() => '')) ?? ''),
    );
    assert.deepEqual(sockets.filter((url) => url.includes('nonsense')), []);
  });
});
