// The resource view: each host a bar, its containers bars nested inside it,
// their processes inside those, widths by CPU or memory (the Fill selector).
// Plain DOM, so every bar is a button reachable by keyboard, with the same
// search (dim or hide), selection and details as the graph.

import { useState } from 'preact/hooks';

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
  // Parents whose "N more" bar was clicked: all their children get a bar.
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());
  const matches = (item: ResourceItem): boolean =>
    !props.matcher || (item.node ? props.matcher(item.node) : item.children.some(matches));
  // What a search finds always gets its own bar.
  const keep = (item: ResourceItem) => props.matcher !== null && matches(item);
  const shown = (parent: ResourceItem) =>
    expanded.has(parent.id) ? parent.children : visible(parent.children, parent.value, keep, parent.id);
  const open = (view: string | null, id: string) => {
    if (view) props.onOpen(view, id);
    else if (id.endsWith(MORE_SUFFIX)) setExpanded(new Set([...expanded, id.slice(0, -MORE_SUFFIX.length)]));
  };
  return (
    <div class="resource-view" data-testid="resources">
      <p class="muted resource-legend">
        Hosts, their containers and processes, as bars by {metric === 'memory' ? 'memory' : 'CPU'} (change with Fill).
      </p>
      {tree.length === 0 ? <p class="muted">No processes reported yet.</p> : null}
      {tree.map((host) => (
        <section class="resource-host" key={host.id} data-host={host.label}>
          <Bar item={host} total={host.value} level="host" format={format} {...props} matches={matches} open={open} />
          <div class="resource-row">
            {shown(host).map((group) => (
              <div class="resource-column" key={group.id} style={{ flexGrow: Math.max(group.value, host.value * MIN_SHARE) }}>
                <Bar item={group} total={host.value} level="container" format={format} {...props} matches={matches} open={open} />
                <div class="resource-row">
                  {shown(group).map((process) => (
                    <div class="resource-column" key={process.id} style={{ flexGrow: Math.max(process.value, group.value * MIN_SHARE) }}>
                      <Bar item={process} total={host.value} level="process" format={format} {...props} matches={matches} open={open} />
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

const MORE_SUFFIX = '#more';

/** Items worth a bar of their own (the biggest, and what `keep` says), plus one bar summing the rest. */
function visible(
  items: ResourceItem[],
  total: number,
  keep: (item: ResourceItem) => boolean,
  parentId: string,
): ResourceItem[] {
  if (items.length <= 12) return items;
  const own = items.filter((item, index) => index < 12 || item.value >= total * MIN_SHARE || keep(item));
  const rest = items.filter((item) => !own.includes(item));
  if (rest.length === 0) return own;
  const value = rest.reduce((sum, item) => sum + item.value, 0);
  return [...own, { id: `${parentId}${MORE_SUFFIX}`, view: null, label: `${rest.length} more`, value, children: [] }];
}

interface BarProps extends ResourceViewProps {
  item: ResourceItem;
  total: number;
  level: 'host' | 'container' | 'process';
  format: (value: number) => string;
  matches: (item: ResourceItem) => boolean;
  open: (view: string | null, id: string) => void;
}

function Bar({ item, total, level, format, matches, matcher, filterMode, selected, open }: BarProps) {
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
      disabled={item.view === null && !item.id.endsWith(MORE_SUFFIX)}
      onClick={() => open(item.view, item.id)}
    >
      <span class="resource-label">{item.label}</span> <span class="resource-value">{format(item.value)}</span>
    </button>
  );
}
