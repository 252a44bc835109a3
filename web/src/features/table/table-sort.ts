// Table columns and sorting; unknown values always sort last, whichever way.
// The sort lives in the URL (`sort=cpu-desc`), so it survives switching to
// the graph and back, and a link keeps it.

import type { TopologyNode } from '../../lib/api-types';

export type SortColumn = 'name' | 'kind' | 'host' | 'state' | 'image' | 'cpu' | 'memory' | 'connections';
export type SortDirection = 'asc' | 'desc';

export const COLUMNS: Array<{ id: SortColumn; label: string; numeric: boolean }> = [
  { id: 'name', label: 'Name', numeric: false },
  { id: 'kind', label: 'Kind', numeric: false },
  { id: 'host', label: 'Host', numeric: false },
  { id: 'state', label: 'State', numeric: false },
  { id: 'image', label: 'Image / command', numeric: false },
  { id: 'cpu', label: 'CPU', numeric: true },
  { id: 'memory', label: 'Memory', numeric: true },
  { id: 'connections', label: 'Connections', numeric: true },
];

/** What a text column shows for a node ('' when it does not apply). */
export function columnText(node: TopologyNode, column: SortColumn): string {
  switch (column) {
    case 'name':
      return node.label;
    case 'kind':
      return node.kind;
    case 'host':
      return node.parents.find((parent) => parent.view === 'hosts')?.label ?? node.metadata.host ?? '';
    case 'state':
      return node.metadata.state ?? '';
    case 'image':
      return node.metadata.image ?? node.metadata.command ?? '';
    default:
      return '';
  }
}

function sortValue(node: TopologyNode, column: SortColumn): string | number | null {
  switch (column) {
    case 'cpu':
      return node.metrics.cpu;
    case 'memory':
      return node.metrics.memory;
    case 'connections':
      return node.connections;
    default: {
      const text = columnText(node, column).toLowerCase();
      return text === '' && column !== 'name' ? null : text;
    }
  }
}

export function parseSort(text: string): { column: SortColumn; direction: SortDirection } {
  const [column, direction] = text.split('-');
  const known = COLUMNS.find((spec) => spec.id === column);
  return { column: known?.id ?? 'name', direction: direction === 'desc' ? 'desc' : 'asc' };
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
