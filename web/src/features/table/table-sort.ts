// Sorting of table rows; unknown metrics always sort last, whichever way.

import type { TopologyNode } from '../../lib/api-types';

export type SortColumn = 'name' | 'cpu' | 'memory' | 'connections';
export type SortDirection = 'asc' | 'desc';

function sortValue(node: TopologyNode, column: SortColumn): string | number | null {
  switch (column) {
    case 'name':
      return node.label.toLowerCase();
    case 'cpu':
      return node.metrics.cpu;
    case 'memory':
      return node.metrics.memory;
    case 'connections':
      return node.connections;
  }
}

export function sortNodes(nodes: TopologyNode[], column: SortColumn, direction: SortDirection): TopologyNode[] {
  const sign = direction === 'asc' ? 1 : -1;
  return [...nodes].sort((a, b) => {
    const left = sortValue(a, column);
    const right = sortValue(b, column);
    if (left === null && right === null) return a.label.localeCompare(b.label);
    if (left === null) return 1;
    if (right === null) return -1;
    const order = left < right ? -1 : left > right ? 1 : 0;
    return order * sign || a.id.localeCompare(b.id);
  });
}
