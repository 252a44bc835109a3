// A throwaway stand-in for the app, for developing the UI only: serves
// dist/ and docs/api.md-shaped JSON and WebSocket diffs on 127.0.0.1.
// Browser tests never use it; they run against the real app (PERISCOPE_URL).
//
//   npm run build && npm run fake-server   (PORT=4041 by default)
//   FAKE_NO_PROBES=1 / FAKE_NO_DOCKER=1 show the empty states.

import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

import { WebSocketServer } from 'ws';

import { serveStatic } from './static-files.mjs';

const PORT = Number(process.env.PORT ?? 4041);
const DIST = fileURLToPath(new URL('../dist', import.meta.url));

let seed = 7;
const random = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);

const nodes = new Map();
const edges = new Map();
const samples = new Map();

function container(name, image, ip, host = 'host-a') {
  const id = `container:${name}`;
  nodes.set(id, {
    id,
    label: name,
    minor_label: host,
    kind: 'container',
    shape: 'hexagon',
    stack: 1,
    rank: image,
    pseudo: false,
    metrics: { cpu: random() * 10, memory: Math.round(20e6 + random() * 200e6) },
    connections: 0,
    parents: [{ view: 'hosts', id: `host:${host}`, label: host }],
    metadata: { image, ip, state: 'running', host },
  });
  return id;
}

function link(source, target, port) {
  const id = `${source}>${target}`;
  edges.set(id, { id, source, target, connections: 1 + Math.floor(random() * 4), ports: [port], rtt_us: null });
}

const lb = container('lb', 'haproxy:2', '172.17.0.2');
const web1 = container('web-1', 'nginx:latest', '172.17.0.3');
const web2 = container('web-2', 'nginx:latest', '172.17.0.4');
const api = container('api', 'periscope/api:1', '172.17.0.5', 'host-b');
const db = container('db', 'postgres:16', '172.17.0.6', 'host-b');
const cache = container('cache', 'redis:7', '172.17.0.7', 'host-b');
container('lonely', 'busybox', '172.17.0.8');
nodes.set('pseudo:internet', {
  id: 'pseudo:internet', label: 'The Internet', minor_label: 'inbound', kind: 'pseudo', shape: 'cloud',
  stack: 1, rank: '', pseudo: true, metrics: { cpu: null, memory: null }, connections: 0, parents: [], metadata: {},
});
nodes.set('image:nginx', {
  id: 'image:nginx', label: 'nginx group', minor_label: '2 containers', kind: 'image', shape: 'heptagon',
  stack: 2, rank: 'nginx', pseudo: false, metrics: { cpu: 2, memory: 1e8 }, connections: 0, parents: [], metadata: {},
});
link('pseudo:internet', lb, 80);
link(lb, web1, 8080);
link(lb, web2, 8080);
link(web1, api, 9000);
link(web2, api, 9000);
link(api, db, 5432);
link(api, cache, 6379);
recount();

function recount() {
  for (const node of nodes.values()) node.connections = 0;
  for (const edge of edges.values()) {
    nodes.get(edge.source).connections += 1;
    nodes.get(edge.target).connections += 1;
  }
}

function details(id) {
  const node = nodes.get(id);
  if (!node) return null;
  const series = samples.get(id) ?? [];
  const connection = (edge, other) => ({
    node: other, label: nodes.get(other)?.label ?? other, address: nodes.get(other)?.metadata.ip ?? '?',
    port: edge.ports[0] ?? null, count: edge.connections, rtt_us: 150, bytes_sent: 12000, bytes_received: 56000,
    retransmits: 0,
  });
  return {
    node,
    metadata: Object.entries(node.metadata).map(([key, value]) => ({
      key, label: key[0].toUpperCase() + key.slice(1), value,
    })),
    metrics: [
      { id: 'cpu', label: 'CPU', unit: '%', value: node.metrics.cpu, samples: series.map((s) => ({ t: s.t, v: s.cpu })) },
      { id: 'memory', label: 'Memory', unit: 'bytes', value: node.metrics.memory, samples: series.map((s) => ({ t: s.t, v: s.memory })) },
    ],
    connections: {
      inbound: [...edges.values()].filter((e) => e.target === id).map((e) => connection(e, e.source)),
      outbound: [...edges.values()].filter((e) => e.source === id).map((e) => connection(e, e.target)),
    },
    children: node.kind === 'container'
      ? [{ view: 'processes', label: 'Processes', nodes: [{ ...node, id: `process:${id}:1`, label: 'init', kind: 'process', shape: 'circle' }] }]
      : [],
    parents: node.parents,
    controls: node.kind === 'container' ? [{ id: 'restart', label: 'Restart' }, { id: 'exec', label: 'Exec shell' }] : [],
  };
}

const sockets = new Set();
function broadcast(diff) {
  const text = JSON.stringify({ type: 'diff', view: 'containers', ...diff });
  for (const socket of sockets) socket.send(text);
}

// Every second: metrics move; every 7 s a container comes or goes.
let tick = 0;
setInterval(() => {
  tick += 1;
  const now = Date.now();
  const updated = [];
  for (const node of nodes.values()) {
    if (node.metrics.cpu === null) continue;
    node.metrics.cpu = Math.max(0, node.metrics.cpu + (random() - 0.5) * 2);
    node.metrics.memory = Math.max(1e6, node.metrics.memory + Math.round((random() - 0.5) * 4e6));
    const series = samples.get(node.id) ?? [];
    series.push({ t: now, cpu: node.metrics.cpu, memory: node.metrics.memory });
    samples.set(node.id, series.slice(-60));
    updated.push(node);
  }
  const diff = { nodes: { add: [], update: updated, remove: [] }, edges: { add: [], update: [], remove: [] } };
  if (tick % 7 === 0) {
    const id = 'container:worker';
    if (nodes.has(id)) {
      diff.nodes.remove.push(id);
      diff.edges.remove.push(`${id}>${db}`);
      nodes.delete(id);
      edges.delete(`${id}>${db}`);
    } else {
      diff.nodes.add.push(nodes.get(container('worker', 'periscope/worker:1', '172.17.0.9', 'host-b')));
      link(id, db, 5432);
      diff.edges.add.push(edges.get(`${id}>${db}`));
    }
    recount();
  }
  broadcast(diff);
}, 1000);

function json(response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

const server = createServer(async (request, response) => {
  const url = new URL(request.url, 'http://local');
  const path = url.pathname;
  if (path === '/api') return json(response, 200, { id: 'fake', version: '0.0.0-fake', capabilities: ['topology'], read_only: false });
  if (path === '/api/probes') {
    if (process.env.FAKE_NO_PROBES) return json(response, 200, []);
    return json(response, 200, [{
      id: 'probe-1', host: 'host-a', hostname: 'host-a', version: '0.0.0', last_seen: Date.now(),
      sources: ['proc'], docker: process.env.FAKE_NO_DOCKER ? 'unavailable' : 'connected',
    }]);
  }
  if (path === '/api/topology') {
    const views = [['processes', 'Processes'], ['processes-by-name', 'By name'], ['containers', 'Containers'],
      ['containers-by-image', 'By image'], ['containers-by-hostname', 'By hostname'], ['compose', 'Compose'], ['hosts', 'Hosts']];
    return json(response, 200, views.map(([id, label]) => ({
      id, label, nodes: id === 'containers' ? nodes.size : 0, edges: id === 'containers' ? edges.size : 0,
      options: [
        { id: 'stopped', values: ['hide', 'show', 'only'], default: 'hide' },
        { id: 'system', values: ['hide', 'show'], default: 'hide' },
        { id: 'unconnected', values: ['hide', 'show'], default: 'show' },
      ],
    })));
  }
  const detail = /^\/api\/topology\/([^/]+)\/([^/]+)$/.exec(path);
  if (detail) {
    const body = details(decodeURIComponent(detail[2]));
    return body ? json(response, 200, body) : json(response, 404, { error: 'no such node' });
  }
  const view = /^\/api\/topology\/([^/]+)$/.exec(path);
  if (view) return json(response, 200, { view: view[1], nodes: [...nodes.values()], edges: [...edges.values()] });
  if (await serveStatic(DIST, request, response)) return;
  json(response, 404, { error: 'not found' });
});

const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (request, socket, head) => {
  const path = new URL(request.url, 'http://local').pathname;
  const match = /^\/api\/topology\/([^/]+)\/ws$/.exec(path);
  if (!match) return socket.destroy();
  wss.handleUpgrade(request, socket, head, (ws) => {
    const viewName = match[1];
    const empty = viewName !== 'containers';
    ws.send(JSON.stringify({
      type: 'full', view: viewName, nodes: empty ? [] : [...nodes.values()], edges: empty ? [] : [...edges.values()],
    }));
    if (!empty) {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
    }
  });
});

server.listen(PORT, '127.0.0.1', () => console.log(`fake Periscope app on http://127.0.0.1:${PORT}/`));
