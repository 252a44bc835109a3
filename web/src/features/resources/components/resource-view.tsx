// The resource view: each host a bar, its containers bars nested inside it,
// their processes inside those, widths by CPU or memory (the Fill selector).
// Plain DOM, so every bar is a button reachable by keyboard, with the same
// search (dim or hide), selection and details as the graph.

import type { TopologyNode } from '../../../lib/api-types';
import type { GraphStore } from '../../../lib/graph-store';
import type { Metric } from '../../../lib/url-state';
import { formatBytes, formatCpu } from '../../../lib/format';
import { type ResourceItem, resourceTree } from '../resource-tree';

export interface ResourceViewProps {
  store: GraphStore;
  version: number;
  metric: Metric;
  matcher: ((node: TopologyNode) => boolean) | null;
  filterMode: boolean;
  selected: string | null;
  onOpen: (view: string, id: string) => void;
}

/** Bars narrower than this share of their parent are summed into one "more" bar. */
const MIN_SHARE = 0.02;

export function ResourceView(props: ResourceViewProps) {
  const metric = props.metric === 'none' ? 'cpu' : props.metric;
  const tree = resourceTree(props.store.snapshot().nodes.values(), metric);
  const format = (value: number) => (metric === 'memory' ? formatBytes(value) : formatCpu(value));
  const matches = (item: ResourceItem): boolean =>
    !props.matcher || (item.node ? props.matcher(item.node) : item.children.some(matches));
  return (
    <div class="resource-view" data-testid="resources">
      <p class="muted resource-legend">
        Hosts, their containers and processes, as bars by {metric === 'memory' ? 'memory' : 'CPU'} (change with Fill).
      </p>
      {tree.length === 0 ? <p class="muted">No processes reported yet.</p> : null}
      {tree.map((host) => (
        <section class="resource-host" key={host.id} data-host={host.label}>
          <Bar item={host} total={host.value} level="host" format={format} {...props} matches={matches} />
          <div class="resource-row">
            {visible(host.children, host.value).map((group) => (
              <div class="resource-column" key={group.id} style={{ flexGrow: Math.max(group.value, host.value * MIN_SHARE) }}>
                <Bar item={group} total={host.value} level="container" format={format} {...props} matches={matches} />
                <div class="resource-row">
                  {visible(group.children, group.value).map((process) => (
                    <div class="resource-column" key={process.id} style={{ flexGrow: Math.max(process.value, group.value * MIN_SHARE) }}>
                      <Bar item={process} total={host.value} level="process" format={format} {...props} matches={matches} />
                    </div>
                  ))}
                </div>
              </div>
            ))}
          </div>
        </section>
      ))}
    </div>
  );
}

/** Items worth a bar of their own, plus one bar summing the rest. */
function visible(items: ResourceItem[], total: number): ResourceItem[] {
  if (items.length <= 12) return items;
  const big = items.filter((item, index) => index < 12 || item.value >= total * MIN_SHARE);
  const rest = items.slice(big.length);
  if (rest.length === 0) return big;
  const value = rest.reduce((sum, item) => sum + item.value, 0);
  return [...big, { id: `${big[0]?.id ?? ''}#more`, view: null, label: `${rest.length} more`, value, children: [] }];
}

interface BarProps extends ResourceViewProps {
  item: ResourceItem;
  total: number;
  level: 'host' | 'container' | 'process';
  format: (value: number) => string;
  matches: (item: ResourceItem) => boolean;
}

function Bar({ item, total, level, format, matches, matcher, filterMode, selected, onOpen }: BarProps) {
  const matched = matches(item);
  if (matcher && filterMode && !matched) return <div class="resource-bar hidden" />;
  const share = total > 0 ? Math.round((item.value / total) * 100) : 0;
  const classes = ['resource-bar', level, item.id === selected ? 'selected' : '', matcher && !matched ? 'dimmed' : ''].join(' ');
  const text = `${item.label}: ${format(item.value)}${level === 'host' ? '' : ` (${share}% of host)`}`;
  return (
    <button
      type="button"
      class={classes}
      data-id={item.id}
      data-level={level}
      title={text}
      aria-label={text}
      disabled={item.view === null}
      onClick={() => item.view && onOpen(item.view, item.id)}
    >
      <span class="resource-label">{item.label}</span> <span class="resource-value">{format(item.value)}</span>
    </button>
  );
}
