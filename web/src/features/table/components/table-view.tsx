// The same nodes as the graph, as a sortable table.

import { useMemo, useState } from 'preact/hooks';

import type { TopologyNode } from '../../../lib/api-types';
import { formatBytes, formatCpu } from '../../../lib/format';
import type { GraphStore } from '../../../lib/graph-store';
import { type SortColumn, type SortDirection, sortNodes } from '../table-sort';

export interface TableViewProps {
  store: GraphStore;
  /** Re-render trigger: the store's version. */
  version: number;
  matcher: ((node: TopologyNode) => boolean) | null;
  filterMode: boolean;
  selected: string | null;
  onSelect: (id: string | null) => void;
}

const COLUMNS: Array<{ id: SortColumn; label: string; numeric: boolean }> = [
  { id: 'name', label: 'Name', numeric: false },
  { id: 'cpu', label: 'CPU', numeric: true },
  { id: 'memory', label: 'Memory', numeric: true },
  { id: 'connections', label: 'Connections', numeric: true },
];

export function TableView({ store, version, matcher, filterMode, selected, onSelect }: TableViewProps) {
  const [column, setColumn] = useState<SortColumn>('name');
  const [direction, setDirection] = useState<SortDirection>('asc');

  const rows = useMemo(() => {
    const all = [...store.snapshot().nodes.values()];
    const shown = matcher && filterMode ? all.filter(matcher) : all;
    return sortNodes(shown, column, direction);
  }, [store, version, matcher, filterMode, column, direction]);

  const sortBy = (next: SortColumn) => {
    if (next === column) setDirection(direction === 'asc' ? 'desc' : 'asc');
    else {
      setColumn(next);
      // Big numbers first is what one looks for in metric columns.
      setDirection(next === 'name' ? 'asc' : 'desc');
    }
  };

  return (
    <div class="table-view">
      <table data-testid="node-table">
        <thead>
          <tr>
            {COLUMNS.map((spec) => (
              <th
                key={spec.id}
                class={spec.numeric ? 'numeric' : ''}
                aria-sort={column === spec.id ? (direction === 'asc' ? 'ascending' : 'descending') : 'none'}
              >
                <button type="button" onClick={() => sortBy(spec.id)}>
                  {spec.label}
                  {column === spec.id ? (direction === 'asc' ? ' ▲' : ' ▼') : ''}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((node) => {
            const dimmed = matcher !== null && !filterMode && !matcher(node);
            const classes = [node.id === selected ? 'selected' : '', dimmed ? 'dimmed' : ''].join(' ');
            return (
              <tr key={node.id} class={classes} data-node-id={node.id} onClick={() => onSelect(node.id)}>
                <td>
                  <div class="node-name">{node.label}</div>
                  <div class="node-minor">{node.minor_label}</div>
                </td>
                <td class="numeric">{formatCpu(node.metrics.cpu)}</td>
                <td class="numeric">{formatBytes(node.metrics.memory)}</td>
                <td class="numeric">{node.connections}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {rows.length === 0 ? <p class="table-empty">No nodes to list.</p> : null}
    </div>
  );
}
