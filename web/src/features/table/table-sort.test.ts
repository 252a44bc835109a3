import { describe, expect, it } from 'vitest';

import { makeNode } from '../../lib/test-fixtures';
import { sortNodes } from './table-sort';

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
});
