// The same nodes as the graph, as a sortable table. The sort is in the URL
// (it outlives switching to the graph and back); rows are reachable by Tab
// and open their details with Enter.

import { useMemo } from 'preact/hooks';

import type { TopologyNode } from '../../../lib/api-types';
import { formatBytes, formatCpu } from '../../../lib/format';
import type { GraphStore } from '../../../lib/graph-store';
import { COLUMNS, columnText, parseSort, type SortColumn, sortNodes } from '../table-sort';

export interface TableViewProps {
  store: GraphStore;
  /** Re-render trigger: the store's version. */
  version: number;
  matcher: ((node: TopologyNode) => boolean) | null;
  filterMode: boolean;
  selected: string | null;
  onSelect: (id: string | null) => void;
  /** `column-asc` / `column-desc`. */
  sort: string;
  onSortChange: (sort: string) => void;
}

export function TableView({ store, version, matcher, filterMode, selected, onSelect, sort, onSortChange }: TableViewProps) {
  const { column, direction } = parseSort(sort);

  const rows = useMemo(() => {
    const all = [...store.snapshot().nodes.values()];
    const shown = matcher && filterMode ? all.filter(matcher) : all;
    return sortNodes(shown, column, direction);
  }, [store, version, matcher, filterMode, column, direction]);

  const sortBy = (next: SortColumn) => {
    if (next === column) onSortChange(`${next}-${direction === 'asc' ? 'desc' : 'asc'}`);
    // Big numbers first is what one looks for in metric columns.
    else onSortChange(`${next}-${COLUMNS.find((spec) => spec.id === next)?.numeric ? 'desc' : 'asc'}`);
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
                data-column={spec.id}
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
              <tr
                key={node.id}
                class={classes}
                data-node-id={node.id}
                tabIndex={0}
                aria-selected={node.id === selected}
                onClick={() => onSelect(node.id)}
                onKeyDown={(event) => {
                  if (event.key === 'Enter' || event.key === ' ') {
                    event.preventDefault();
                    onSelect(node.id);
                  }
                }}
              >
                <td>
                  <div class="node-name">{node.label}</div>
                  <div class="node-minor">{node.minor_label}</div>
                </td>
                <td>{columnText(node, 'kind')}</td>
                <td>{columnText(node, 'host')}</td>
                <td data-state={node.metadata.state ?? ''}>{columnText(node, 'state')}</td>
                <td class="node-image" title={columnText(node, 'image')}>
                  {columnText(node, 'image')}
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
