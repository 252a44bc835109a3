import { describe, expect, it } from 'vitest';

import type { DiffMessage, TopologyEdge, TopologyNode } from './api-types';
import { GraphStore } from './graph-store';
import { makeEdge, makeNode } from './test-fixtures';

function diff(parts: {
  view?: string;
  nodes?: Partial<DiffMessage['nodes']>;
  edges?: Partial<DiffMessage['edges']>;
}): DiffMessage {
  return {
    type: 'diff',
    view: parts.view ?? 'containers',
    nodes: { add: [], update: [], remove: [], ...parts.nodes },
    edges: { add: [], update: [], remove: [], ...parts.edges },
  };
}

function storeWith(nodes: TopologyNode[], edges: TopologyEdge[]): GraphStore {
  const store = new GraphStore();
  store.apply({ type: 'full', view: 'containers', nodes, edges });
  return store;
}

function ids(map: ReadonlyMap<string, unknown>): string[] {
  return [...map.keys()].sort();
}

describe('GraphStore', () => {
  it('loads a full view', () => {
    const store = storeWith([makeNode('a'), makeNode('b')], [makeEdge('a', 'b')]);
    const snapshot = store.snapshot();
    expect(snapshot.view).toBe('containers');
    expect(ids(snapshot.nodes)).toEqual(['a', 'b']);
    expect(ids(snapshot.edges)).toEqual(['a>b']);
  });

  it('adds, updates and removes nodes and edges from a diff', () => {
    const store = storeWith([makeNode('a'), makeNode('b')], [makeEdge('a', 'b')]);
    const change = store.apply(
      diff({
        nodes: { add: [makeNode('c')], update: [makeNode('a', { label: 'renamed' })], remove: [] },
        edges: { add: [makeEdge('c', 'b')], update: [makeEdge('a', 'b', { connections: 9 })], remove: [] },
      }),
    );
    const snapshot = store.snapshot();
    expect(ids(snapshot.nodes)).toEqual(['a', 'b', 'c']);
    expect(snapshot.nodes.get('a')?.label).toBe('renamed');
    expect(snapshot.edges.get('a>b')?.connections).toBe(9);
    expect(ids(snapshot.edges)).toEqual(['a>b', 'c>b']);
    expect(change).toMatchObject({
      full: false,
      addedNodes: ['c'],
      updatedNodes: ['a'],
      addedEdges: ['c>b'],
      updatedEdges: ['a>b'],
      problems: [],
    });
  });

  it('drops the edges of a removed node even when the diff does not list them', () => {
    const store = storeWith(
      [makeNode('a'), makeNode('b'), makeNode('c')],
      [makeEdge('a', 'b'), makeEdge('b', 'c'), makeEdge('a', 'c')],
    );
    const change = store.apply(diff({ nodes: { remove: ['b'] }, edges: { remove: ['a>b'] } }));
    expect(ids(store.snapshot().nodes)).toEqual(['a', 'c']);
    expect(ids(store.snapshot().edges)).toEqual(['a>c']);
    expect(change.removedEdges.sort()).toEqual(['a>b', 'b>c']);
    expect(change.problems).toEqual([]);
  });

  it('applies removals before additions so an id can be replaced in one diff', () => {
    const store = storeWith([makeNode('a')], []);
    store.apply(diff({ nodes: { remove: ['a'], add: [makeNode('a', { label: 'new a' })] } }));
    expect(store.snapshot().nodes.get('a')?.label).toBe('new a');
  });

  it('tolerates inconsistent diffs and says what it tolerated', () => {
    const store = storeWith([makeNode('a')], []);
    const change = store.apply(
      diff({
        nodes: { add: [makeNode('a', { label: 'again' })], update: [makeNode('ghost')], remove: ['nobody'] },
        edges: { add: [makeEdge('a', 'missing')], remove: ['no-edge'] },
      }),
    );
    const snapshot = store.snapshot();
    expect(snapshot.nodes.get('a')?.label).toBe('again');
    // An update holds only what changed: a node it names that we lack cannot be drawn from it.
    expect(snapshot.nodes.has('ghost')).toBe(false);
    expect(snapshot.edges.size).toBe(0);
    expect(change.problems).toHaveLength(5);
    expect(change.addedNodes).toEqual([]);
    expect(change.updatedNodes).toEqual(['a']);
  });

  it('merges an update of only the changed fields into the held node and edge', () => {
    const store = storeWith([makeNode('a', { label: 'web' }), makeNode('b')], [makeEdge('a', 'b')]);
    const edgeId = [...store.snapshot().edges.keys()][0] ?? '';
    const change = store.apply(
      diff({
        nodes: { update: [{ id: 'a', metrics: { cpu: 42, memory: 1024 } }] },
        edges: { update: [{ id: edgeId, connections: 7 }] },
      }),
    );
    const snapshot = store.snapshot();
    expect(change.problems).toEqual([]);
    expect(snapshot.nodes.get('a')?.label).toBe('web');
    expect(snapshot.nodes.get('a')?.metrics.cpu).toBe(42);
    expect(snapshot.edges.get(edgeId)?.connections).toBe(7);
    expect(snapshot.edges.get(edgeId)?.source).toBe('a');
    expect(change.updatedNodes).toEqual(['a']);
    expect(change.updatedEdges).toEqual([edgeId]);
  });

  it('ignores a diff for another view or before any full view', () => {
    const empty = new GraphStore();
    expect(empty.apply(diff({ nodes: { add: [makeNode('a')] } })).problems).toHaveLength(1);
    expect(empty.snapshot().nodes.size).toBe(0);

    const store = storeWith([makeNode('a')], []);
    const change = store.apply(diff({ view: 'hosts', nodes: { remove: ['a'] } }));
    expect(change.problems[0]).toContain('hosts');
    expect(store.snapshot().nodes.has('a')).toBe(true);
  });

  it('reports what a later full view removed, kept and added', () => {
    const store = storeWith([makeNode('a'), makeNode('b')], [makeEdge('a', 'b')]);
    const change = store.apply({
      type: 'full',
      view: 'containers',
      nodes: [makeNode('b'), makeNode('c')],
      edges: [makeEdge('b', 'c')],
    });
    expect(change).toMatchObject({
      full: true,
      addedNodes: ['c'],
      updatedNodes: ['b'],
      removedNodes: ['a'],
      addedEdges: ['b>c'],
      removedEdges: ['a>b'],
    });
  });

  it('notifies subscribers with an increasing version', () => {
    const store = new GraphStore();
    const versions: number[] = [];
    const unsubscribe = store.subscribe((snapshot) => versions.push(snapshot.version));
    store.apply({ type: 'full', view: 'containers', nodes: [makeNode('a')], edges: [] });
    store.apply(diff({ nodes: { remove: ['a'] } }));
    unsubscribe();
    store.clear();
    expect(versions).toEqual([1, 2]);
    expect(store.snapshot().nodes.size).toBe(0);
  });
});
