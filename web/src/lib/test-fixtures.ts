// Small builders for API-shaped nodes and edges, used by unit tests only.

import type { TopologyEdge, TopologyNode } from './api-types';

export function makeNode(id: string, overrides: Partial<TopologyNode> = {}): TopologyNode {
  return {
    id,
    label: id,
    minor_label: 'host-a',
    kind: 'container',
    shape: 'hexagon',
    stack: 1,
    rank: '',
    pseudo: false,
    metrics: { cpu: null, memory: null },
    connections: 0,
    parents: [],
    metadata: {},
    ...overrides,
  };
}

export function makeEdge(source: string, target: string, overrides: Partial<TopologyEdge> = {}): TopologyEdge {
  return {
    id: `${source}>${target}`,
    source,
    target,
    connections: 1,
    ports: [],
    ...overrides,
  };
}
