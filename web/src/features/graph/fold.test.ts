import { describe, expect, it } from 'vitest';

import type { TopologyEdge, TopologyNode } from '../../lib/api-types';
import { makeEdge, makeNode } from '../../lib/test-fixtures';
import { FINE_GROUPS_MAX, foldGraph, plainNode, shouldFold } from './fold';

function container(id: string, rank: string, host: string): TopologyNode {
  return makeNode(id, { rank, parents: [{ view: 'hosts', id: `host:${host}`, label: host }] });
}

function maps(nodes: TopologyNode[], edges: TopologyEdge[]) {
  return [new Map(nodes.map((node) => [node.id, node])), new Map(edges.map((edge) => [edge.id, edge]))] as const;
}

const nodes = [
  container('web-1', 'nginx', 'a'),
  container('web-2', 'nginx', 'a'),
  container('web-3', 'nginx', 'b'),
  container('db-1', 'postgres', 'a'),
  container('db-2', 'postgres', 'a'),
  makeNode('internet', { pseudo: true, kind: 'pseudo', shape: 'cloud', rank: 'nginx' }),
];
const edges = [
  makeEdge('internet', 'web-1', { connections: 2 }),
  makeEdge('internet', 'web-3'),
  makeEdge('web-1', 'db-1', { connections: 3 }),
  makeEdge('web-2', 'db-2', { connections: 4 }),
  makeEdge('web-1', 'web-2'),
];

describe('foldGraph', () => {
  it('draws every node and edge as sent when not folding', () => {
    const folded = foldGraph(...maps(nodes, edges), { fold: false, expanded: new Set() });
    expect([...folded.nodes.keys()]).toEqual(nodes.map((node) => node.id));
    expect([...folded.edges.keys()]).toEqual(edges.map((edge) => edge.id));
    expect(folded.groupOf.size).toBe(0);
  });

  it('groups by host and rank, merges edges and drops edges inside a group', () => {
    const folded = foldGraph(...maps(nodes, edges), { fold: true, expanded: new Set() });
    const webs = folded.groupOf.get('web-1');
    const dbs = folded.groupOf.get('db-1');
    expect(webs).toBeDefined();
    expect(folded.groupOf.get('web-2')).toBe(webs);
    expect(folded.groupOf.get('db-2')).toBe(dbs);
    // Alone on its host, and pseudo nodes never fold.
    expect(folded.groupOf.has('web-3')).toBe(false);
    expect(folded.groupOf.has('internet')).toBe(false);
    const group = folded.nodes.get(webs as string);
    expect(group).toMatchObject({ label: 'nginx ×2', stack: 2, members: ['web-1', 'web-2'] });
    expect(group?.caption).toBe('nginx ×2\ncontainers on a');
    expect([...folded.nodes.keys()].sort()).toEqual([webs, dbs, 'web-3', 'internet'].sort());
    const drawnEdges = [...folded.edges.values()].map((edge) => [edge.source, edge.target, edge.connections]);
    expect(drawnEdges).toEqual([
      ['internet', webs, 2],
      ['internet', 'web-3', 1],
      [webs, dbs, 7],
    ]);
    // An edge between two unfolded nodes keeps its API id.
    expect(folded.edges.has('internet>web-3')).toBe(true);
  });

  it('draws the members of an opened group one by one', () => {
    const first = foldGraph(...maps(nodes, edges), { fold: true, expanded: new Set() });
    const webs = first.groupOf.get('web-1') as string;
    const opened = foldGraph(...maps(nodes, edges), { fold: true, expanded: new Set([webs]) });
    expect(opened.nodes.has('web-1')).toBe(true);
    expect(opened.nodes.has('web-2')).toBe(true);
    expect(opened.nodes.has(webs)).toBe(false);
    expect(opened.edges.has('web-1>web-2')).toBe(true);
    expect(opened.edges.has('internet>web-1')).toBe(true);
  });

  it('groups by rank alone when host groups would still be too many', () => {
    const many = Array.from({ length: (FINE_GROUPS_MAX + 1) * 2 }, (_, i) =>
      container(`c${i}`, `image-${i % 4}`, `host-${Math.floor(i / 2)}`),
    );
    const folded = foldGraph(...maps(many, []), { fold: true, expanded: new Set() });
    expect(folded.nodes.size).toBe(4);
    expect(folded.nodes.get(folded.groupOf.get('c0') as string)?.caption).toMatch(/^image-0 ×\d+\ncontainers$/);
  });
});

describe('shouldFold', () => {
  it('folds above the limit and unfolds only well below it', () => {
    expect(shouldFold(1000, false, 1000)).toBe(false);
    expect(shouldFold(1001, false, 1000)).toBe(true);
    expect(shouldFold(900, true, 1000)).toBe(true);
    expect(shouldFold(799, true, 1000)).toBe(false);
    expect(shouldFold(5, false)).toBe(false);
    expect(shouldFold(5, true, Infinity)).toBe(false);
  });

  it('draws a container that is not running with its state in the label', () => {
    const exited = plainNode(makeNode('c1', { label: 'web-1', metadata: { state: 'exited' } }));
    expect([exited.state, exited.caption.split('\n')[0]]).toEqual(['exited', 'web-1 (exited)']);
    const running = plainNode(makeNode('c2', { label: 'web-2', metadata: { state: 'running' } }));
    expect([running.state, running.caption.split('\n')[0]]).toEqual(['', 'web-2']);
  });

  it('merges edge facts between groups: ports, bytes, failures', () => {
    const nodes = new Map(
      ['a1', 'a2', 'b1'].map((id) => [id, makeNode(id, { rank: id.slice(0, 1), parents: [{ view: 'hosts', id: 'host:h', label: 'h' }] })]),
    );
    const edges = new Map([
      ['a1>b1', makeEdge('a1', 'b1', { ports: [80], bytes_sent: 10, failures: 1 })],
      ['a2>b1', makeEdge('a2', 'b1', { ports: [443], bytes_sent: 5, failures: null })],
    ]);
    const folded = foldGraph(nodes, edges, { fold: true, expanded: new Set() });
    const merged = [...folded.edges.values()];
    expect(merged).toHaveLength(1);
    expect([merged[0]?.ports, merged[0]?.bytesSent, merged[0]?.failures, merged[0]?.merged]).toEqual([[80, 443], 15, 1, 2]);
  });

  it('folds only the kinds asked for: compose services into their projects', () => {
    const service = (id: string, project: string) => makeNode(id, { kind: 'compose-service', rank: project });
    const nodes = new Map(
      [service('s1', 'shop'), service('s2', 'shop'), service('s3', 'blog'), makeNode('c1', { rank: 'shop' }), makeNode('c2', { rank: 'shop' })].map(
        (node) => [node.id, node],
      ),
    );
    const folded = foldGraph(nodes, new Map(), { fold: true, expanded: new Set(), kinds: new Set(['compose-service']) });
    const labels = [...folded.nodes.values()].map((node) => node.label).sort();
    expect(labels).toEqual(['c1', 'c2', 's3', 'shop ×2']);
    const project = [...folded.nodes.values()].find((node) => node.members);
    expect(project?.caption).toContain('compose services');
  });
});
