// A synthetic containers view for the benchmark, shaped like a real estate
// of services rather than a random graph: apps of 20 containers in tiers
// (load balancer → web → api → data stores), some calls between apps'
// APIs, and clients from The Internet. Deterministic for a given size.

import type { FullMessage, TopologyEdge, TopologyNode } from '../../src/lib/api-types';

const APP_SIZE = 20;

export function syntheticTopology(nodeCount: number, seed = 1): FullMessage {
  let state = seed;
  const random = () => ((state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)] as T;

  const nodes: TopologyNode[] = [];
  const edges = new Map<string, TopologyEdge>();
  const node = (id: string, label: string, image: string, host: string): string => {
    nodes.push({
      id,
      label,
      minor_label: host,
      kind: 'container',
      shape: 'hexagon',
      stack: random() < 0.05 ? 3 : 1,
      rank: image,
      pseudo: false,
      metrics: { cpu: random() * 50, memory: Math.round(random() * 500e6) },
      connections: 0,
      parents: [{ view: 'hosts', id: `host:${host}`, label: host }],
      metadata: { image, host, state: 'running', ip: `10.${(nodes.length >> 8) & 255}.${nodes.length & 255}.2` },
    });
    return id;
  };
  const link = (source: string, target: string, port: number) => {
    const id = `${source}>${target}`;
    if (source === target || edges.has(id)) return;
    edges.set(id, { id, source, target, connections: 1 + Math.floor(random() * 5), ports: [port] });
  };

  const internet = 'pseudo:internet';
  nodes.push({
    id: internet,
    label: 'The Internet',
    minor_label: '',
    kind: 'pseudo',
    shape: 'cloud',
    stack: 1,
    rank: '',
    pseudo: true,
    metrics: { cpu: null, memory: null },
    connections: 0,
    parents: [],
    metadata: {},
  });

  const apps = Math.max(1, Math.floor((nodeCount - 1) / APP_SIZE));
  const apis: string[][] = [];
  for (let app = 0; app < apps; app++) {
    const host = `host-${app % 40}`;
    const name = `app${app}`;
    const lb = node(`c:${name}-lb`, `${name}-lb`, 'haproxy:2', host);
    const webs = Array.from({ length: 8 }, (_, i) => node(`c:${name}-web-${i}`, `${name}-web-${i}`, 'nginx:1', host));
    const apiNodes = Array.from({ length: 6 }, (_, i) =>
      node(`c:${name}-api-${i}`, `${name}-api-${i}`, `${name}/api:1`, host),
    );
    const stores = [
      node(`c:${name}-db-0`, `${name}-db-0`, 'postgres:16', host),
      node(`c:${name}-db-1`, `${name}-db-1`, 'postgres:16', host),
      node(`c:${name}-cache-0`, `${name}-cache-0`, 'redis:7', host),
      node(`c:${name}-cache-1`, `${name}-cache-1`, 'redis:7', host),
      node(`c:${name}-queue`, `${name}-queue`, 'rabbitmq:3', host),
    ];
    if (app % 2 === 0) link(internet, lb, 443);
    for (const web of webs) {
      link(lb, web, 8080);
      link(web, pick(apiNodes), 9000);
      if (random() < 0.5) link(web, pick(apiNodes), 9000);
    }
    for (const api of apiNodes) {
      link(api, pick(stores), 5432);
      if (random() < 0.5) link(api, pick(stores), 6379);
    }
    apis.push(apiNodes);
  }
  // Calls between apps tie most of the estate into one big component, the
  // hard case for layout.
  for (let call = 0; call < apps; call++) {
    link(pick(pick(apis)), pick(pick(apis)), 9000);
  }
  while (nodes.length < nodeCount) node(`c:extra-${nodes.length}`, `extra-${nodes.length}`, 'busybox', 'host-0');

  const list = [...edges.values()];
  const degree = new Map<string, number>();
  for (const edge of list) {
    degree.set(edge.source, (degree.get(edge.source) ?? 0) + 1);
    degree.set(edge.target, (degree.get(edge.target) ?? 0) + 1);
  }
  for (const each of nodes) each.connections = degree.get(each.id) ?? 0;
  return { type: 'full', view: 'containers', nodes, edges: list };
}
