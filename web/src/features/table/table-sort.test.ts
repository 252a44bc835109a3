import { describe, expect, it } from 'vitest';

import { makeNode } from '../../lib/test-fixtures';
import { columnText, parseSort, sortNodes } from './table-sort';

const nodes = [
  makeNode('b', { label: 'beta', metrics: { cpu: 5, memory: null }, connections: 2 }),
  makeNode('a', { label: 'Alpha', metrics: { cpu: null, memory: 10 }, connections: 0 }),
  makeNode('c', { label: 'gamma', metrics: { cpu: 50, memory: 5 }, connections: 1 }),
];

const labels = (list: { label: string }[]) => list.map((node) => node.label);

describe('sortNodes', () => {
  it('sorts names case-insensitively both ways', () => {
    expect(labels(sortNodes(nodes, 'name', 'asc'))).toEqual(['Alpha', 'beta', 'gamma']);
    expect(labels(sortNodes(nodes, 'name', 'desc'))).toEqual(['gamma', 'beta', 'Alpha']);
  });

  it('keeps unknown metrics last in either direction', () => {
    expect(labels(sortNodes(nodes, 'cpu', 'desc'))).toEqual(['gamma', 'beta', 'Alpha']);
    expect(labels(sortNodes(nodes, 'cpu', 'asc'))).toEqual(['beta', 'gamma', 'Alpha']);
    expect(labels(sortNodes(nodes, 'memory', 'asc'))).toEqual(['gamma', 'Alpha', 'beta']);
  });

  it('sorts by connections', () => {
    expect(labels(sortNodes(nodes, 'connections', 'desc'))).toEqual(['beta', 'gamma', 'Alpha']);
  });

  it('sorts by host and state, with nodes lacking them last', () => {
    const host = (label: string) => [{ view: 'hosts', id: `host:${label}`, label }];
    const list = [
      makeNode('x', { label: 'x', parents: host('zeta'), metadata: { state: 'running' } }),
      makeNode('y', { label: 'y', parents: host('alpha'), metadata: { state: 'exited' } }),
      makeNode('z', { label: 'z', kind: 'pseudo' }),
    ];
    expect(labels(sortNodes(list, 'host', 'asc'))).toEqual(['y', 'x', 'z']);
    expect(labels(sortNodes(list, 'state', 'desc'))).toEqual(['x', 'y', 'z']);
    expect(columnText(list[0]!, 'host')).toBe('zeta');
  });

  it('reads the sort back from its URL form', () => {
    expect(parseSort('cpu-desc')).toEqual({ column: 'cpu', direction: 'desc' });
    expect(parseSort('nonsense')).toEqual({ column: 'name', direction: 'asc' });
  });
});
