import { describe, expect, it } from 'vitest';

import { computeLayout } from './compute-layout';
import { halfRoom, type LayoutEdge, type LayoutNode, type LayoutResult, NODE_SPACING, type Point } from './layout-types';
import { BOX_ABOVE, BOX_BELOW } from './place-new';

function nodes(...ids: string[]): LayoutNode[] {
  return ids.map((id) => ({ id, rank: '' }));
}

/** Nodes with labels of `width` px. */
function wide(width: number, ...ids: string[]): LayoutNode[] {
  return ids.map((id) => ({ id, rank: '', width }));
}

/**
 * Pairs of nodes on one row (centres within a row's height) closer than
 * their labels need: each must have half its room clear on either side.
 */
function crowdedPairs(result: LayoutResult, list: LayoutNode[]): string[] {
  const crowded: string[] = [];
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i] as LayoutNode;
      const b = list[j] as LayoutNode;
      const pa = result.positions[a.id] as Point;
      const pb = result.positions[b.id] as Point;
      if (Math.abs(pa.y - pb.y) >= 60) continue;
      const needed = (a.width ?? 0) / 2 + (b.width ?? 0) / 2;
      if (Math.abs(pa.x - pb.x) < needed) crowded.push(`${a.id}/${b.id}: ${Math.abs(pa.x - pb.x)} < ${needed}`);
    }
  }
  return crowded;
}

function edge(source: string, target: string): LayoutEdge {
  return { source, target };
}

function distance(a: Point | undefined, b: Point | undefined): number {
  if (!a || !b) throw new Error('missing position');
  return Math.hypot(a.x - b.x, a.y - b.y);
}

/** A connected graph of `count` nodes, deterministic, ~1.5 edges per node. */
function bigGraph(count: number): { nodes: LayoutNode[]; edges: LayoutEdge[] } {
  const list = nodes(...Array.from({ length: count }, (_, i) => `n${i}`));
  const edges: LayoutEdge[] = [];
  for (let i = 1; i < count; i++) edges.push(edge(`n${i}`, `n${Math.floor(i / 3)}`));
  for (let i = 0; i < count / 2; i++) edges.push(edge(`n${(i * 7) % count}`, `n${(i * 13 + 5) % count}`));
  return { nodes: list, edges };
}

describe('computeLayout', () => {
  it('puts clients above their servers in small views', () => {
    const result = computeLayout({
      requestId: 1,
      nodes: nodes('client', 'api', 'db'),
      edges: [edge('client', 'api'), edge('api', 'db')],
      previous: {},
    });
    expect(result.algorithm).toBe('layered');
    const { client, api, db } = result.positions;
    expect(client!.y).toBeLessThan(api!.y);
    expect(api!.y).toBeLessThan(db!.y);
  });

  it('survives cycles and gives every node a distinct spot', () => {
    const result = computeLayout({
      requestId: 2,
      nodes: nodes('a', 'b', 'c', 'lonely'),
      edges: [edge('a', 'b'), edge('b', 'c'), edge('c', 'a')],
      previous: {},
    });
    const spots = new Set(Object.values(result.positions).map((p) => `${p.x},${p.y}`));
    expect(spots.size).toBe(4);
  });

  it('keeps known nodes exactly in place and puts a new node near its neighbour', () => {
    const first = computeLayout({
      requestId: 3,
      nodes: nodes('a', 'b', 'c', 'd'),
      edges: [edge('a', 'b'), edge('b', 'c'), edge('c', 'd')],
      previous: {},
    });
    const second = computeLayout({
      requestId: 4,
      nodes: nodes('a', 'b', 'c', 'd', 'e'),
      edges: [edge('a', 'b'), edge('b', 'c'), edge('c', 'd'), edge('e', 'a')],
      previous: first.positions,
    });
    expect(second.algorithm).toBe('incremental');
    for (const id of ['a', 'b', 'c', 'd']) expect(second.positions[id]).toEqual(first.positions[id]);
    expect(distance(second.positions.e, second.positions.a)).toBeLessThan(
      distance(second.positions.e, second.positions.d),
    );
  });

  it('starts hinted nodes around their hint and keeps known nodes in place', () => {
    const previous = { a: { x: 0, y: 0 }, b: { x: 1000, y: 0 } };
    const result = computeLayout({
      requestId: 8,
      nodes: nodes('a', 'b', 'm1', 'm2', 'm3'),
      // Unlinked, so only the hint can put them near b.
      edges: [edge('a', 'b')],
      previous,
      // The members of a group that was drawn next to b.
      hints: { m1: { x: 1000, y: 300 }, m2: { x: 1000, y: 300 }, m3: { x: 1000, y: 300 } },
    });
    expect(result.algorithm).toBe('incremental');
    expect(result.positions.a).toEqual(previous.a);
    expect(result.positions.b).toEqual(previous.b);
    for (const id of ['m1', 'm2', 'm3']) {
      expect(distance(result.positions[id], { x: 1000, y: 300 })).toBeLessThan(400);
    }
    expect(distance(result.positions.m1, result.positions.m2)).toBeGreaterThan(20);
  });

  it('places a new unconnected component away from the existing nodes', () => {
    const first = computeLayout({ requestId: 5, nodes: nodes('a', 'b'), edges: [edge('a', 'b')], previous: {} });
    const second = computeLayout({
      requestId: 6,
      nodes: nodes('a', 'b', 'x'),
      edges: [edge('a', 'b')],
      previous: first.positions,
    });
    expect(distance(second.positions.x, second.positions.a)).toBeGreaterThan(50);
    expect(distance(second.positions.x, second.positions.b)).toBeGreaterThan(50);
  });

  it('spaces nodes in a row by their label widths, within and across components', () => {
    // The containers view of the e2e test: three peers talking to one
    // address, a client and server with long names, the host's uncontained
    // processes talking to a resolver.
    const list = [
      ...wide(96, 'peer-2', 'peer-3', 'peer-4', 'peer-1'),
      ...wide(211, 'web-client', 'web-server'),
      ...wide(70, 'uncontained'),
      ...wide(96, 'resolver'),
      ...wide(211, 'x-long', 'y-long', 'z-long'),
      ...wide(30, 'tiny-a', 'tiny-b'),
    ];
    const edges = [
      edge('peer-2', 'peer-1'),
      edge('peer-3', 'peer-1'),
      edge('peer-4', 'peer-1'),
      edge('web-client', 'web-server'),
      edge('uncontained', 'resolver'),
      edge('x-long', 'tiny-a'),
      edge('y-long', 'tiny-a'),
      edge('z-long', 'tiny-a'),
    ];
    const result = computeLayout({ requestId: 10, nodes: list, edges, previous: {} });
    expect(result.algorithm).toBe('layered');
    expect(crowdedPairs(result, list)).toEqual([]);
    // Short labels keep the old, compact spacing.
    expect(Math.abs(result.positions['peer-2']!.x - result.positions['peer-3']!.x)).toBe(halfRoom(96) * 2);
  });

  it('keeps label room for a new component packed below known nodes', () => {
    const first = [...wide(211, 'a', 'b', 'p', 'q', 'r')];
    const known = [edge('a', 'b'), edge('p', 'q')];
    const before = computeLayout({ requestId: 11, nodes: first, edges: known, previous: {} });
    // Half new (more would lay out from scratch): three clients of a server, and a lone node.
    const later = [...first, ...wide(211, 'c1', 'c2', 'c3', 'srv', 'lone')];
    const result = computeLayout({
      requestId: 12,
      nodes: later,
      edges: [...known, edge('c1', 'srv'), edge('c2', 'srv'), edge('c3', 'srv')],
      previous: before.positions,
    });
    expect(result.algorithm).toBe('incremental');
    for (const id of ['a', 'b', 'p', 'q', 'r']) expect(result.positions[id]).toEqual(before.positions[id]);
    expect(crowdedPairs(result, later)).toEqual([]);
  });

  it('lays out 2,000 nodes quickly, with linked nodes closer than average', () => {
    const graph = bigGraph(2000);
    const result = computeLayout({ requestId: 7, ...graph, previous: {} });
    expect(result.algorithm).toBe('force');
    expect(result.millis).toBeLessThan(2000);
    const points = Object.values(result.positions);
    expect(points.every((p) => Number.isFinite(p.x) && Number.isFinite(p.y))).toBe(true);
    const linked = graph.edges.slice(0, 200).map((e) => distance(result.positions[e.source], result.positions[e.target]));
    const random = graph.edges
      .slice(0, 200)
      .map((_, i) => distance(result.positions[`n${(i * 37) % 2000}`], result.positions[`n${(i * 91 + 500) % 2000}`]));
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean(linked)).toBeLessThan(mean(random) / 2);
  });

  it('leaves no rows or columns from its repulsion grid in a big layout', () => {
    // Share of nearby pairs lined up within 2 px on x or y: about 1% for
    // scattered points; a fixed grid gave 2.5%, visible as faint lines.
    const result = computeLayout({ requestId: 9, ...bigGraph(2000), previous: {} });
    const points = Object.values(result.positions);
    let close = 0;
    let aligned = 0;
    for (let i = 0; i < points.length; i++) {
      for (let j = i + 1; j < points.length; j++) {
        const dx = Math.abs(points[i]!.x - points[j]!.x);
        const dy = Math.abs(points[i]!.y - points[j]!.y);
        if (dx > 400 || dy > 400) continue;
        close += 1;
        if (dx < 2 || dy < 2) aligned += 1;
      }
    }
    expect(aligned / close).toBeLessThan(0.016);
  });

  it('keeps every known node in place when most of the picture is new', () => {
    const first = computeLayout({ requestId: 20, nodes: nodes('a', 'b'), edges: [edge('a', 'b')], previous: {} });
    const burst = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
    const second = computeLayout({
      requestId: 21,
      nodes: nodes('a', 'b', ...burst),
      edges: [edge('a', 'b'), ...burst.map((id) => edge(id, 'b'))],
      previous: first.positions,
    });
    expect(second.algorithm).toBe('incremental');
    expect(second.positions.a).toEqual(first.positions.a);
    expect(second.positions.b).toEqual(first.positions.b);
    // Clients of b go beside it, above its row where there is room: short edges.
    for (const id of burst) {
      expect(distance(second.positions[id], second.positions.b)).toBeLessThan(3 * NODE_SPACING);
      expect(second.positions[id]!.y).toBeLessThanOrEqual(second.positions.b!.y);
    }
    expect(overlaps(second, nodes('a', 'b', ...burst))).toEqual([]);
  });

  it('places a burst of 50 new nodes into 1,000 in free space without moving any', () => {
    const graph = bigGraph(1000);
    const first = computeLayout({ requestId: 22, ...graph, previous: {} });
    const fresh = Array.from({ length: 50 }, (_, i) => `new${i}`);
    const edges = [...graph.edges, ...fresh.map((id, i) => edge(id, `n${(i * 17) % 1000}`))];
    const second = computeLayout({
      requestId: 23,
      nodes: [...graph.nodes, ...nodes(...fresh)],
      edges,
      previous: first.positions,
    });
    for (const node of graph.nodes) expect(second.positions[node.id]).toEqual(first.positions[node.id]);
    const all = [...graph.nodes, ...nodes(...fresh)];
    // New boxes overlap nothing (old ones may, from the force layout).
    expect(overlaps(second, all).filter((pair) => pair.includes('new'))).toEqual([]);
    // The force layout packs old nodes tighter than boxes allow, so free
    // space may be some way off; still far nearer than a random node.
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const toNeighbour = fresh.map((id, i) => distance(second.positions[id], second.positions[`n${(i * 17) % 1000}`]));
    const toOther = fresh.map((id, i) => distance(second.positions[id], second.positions[`n${(i * 31 + 500) % 1000}`]));
    expect(mean(toNeighbour)).toBeLessThan(mean(toOther) / 2);
  });

  it('puts a lone newcomer next to nodes of its rank, or on a shelf below the map', () => {
    const list = [
      { id: 'web-1', rank: 'nginx' },
      { id: 'db', rank: 'postgres' },
    ];
    const first = computeLayout({ requestId: 24, nodes: list, edges: [edge('web-1', 'db')], previous: {} });
    const second = computeLayout({
      requestId: 25,
      nodes: [...list, { id: 'web-2', rank: 'nginx' }, { id: 'cron', rank: 'busybox' }],
      edges: [edge('web-1', 'db')],
      previous: first.positions,
    });
    expect(distance(second.positions['web-2'], second.positions['web-1'])).toBeLessThan(2 * NODE_SPACING);
    const lowest = Math.max(first.positions['web-1']!.y, first.positions.db!.y);
    expect(second.positions.cron!.y).toBeGreaterThan(lowest);
  });

  it('wraps a layer wider than a screen onto several rows', () => {
    const clients = Array.from({ length: 60 }, (_, i) => `c${i}`);
    const result = computeLayout({
      requestId: 26,
      nodes: nodes('server', ...clients),
      edges: clients.map((id) => edge(id, 'server')),
      previous: {},
    });
    const xs = clients.map((id) => result.positions[id]!.x);
    expect(Math.max(...xs) - Math.min(...xs)).toBeLessThanOrEqual(1500);
    for (const id of clients) expect(result.positions[id]!.y).toBeLessThan(result.positions.server!.y);
  });
});

/** Pairs of nodes whose boxes (shape and caption, see place-new.ts) overlap. */
function overlaps(result: LayoutResult, list: LayoutNode[]): string[] {
  const found: string[] = [];
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i] as LayoutNode;
      const b = list[j] as LayoutNode;
      const pa = result.positions[a.id] as Point;
      const pb = result.positions[b.id] as Point;
      if (Math.abs(pa.y - pb.y) >= BOX_ABOVE + BOX_BELOW) continue;
      if (Math.abs(pa.x - pb.x) < halfRoom(a.width) + halfRoom(b.width)) found.push(`${a.id}/${b.id}`);
    }
  }
  return found;
}
