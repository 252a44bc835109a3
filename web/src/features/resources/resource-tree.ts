// The resource view's data: hosts, their containers, and the containers'
// processes, each sized by the chosen metric. Built from the processes view
// (every process, connected or not), whose nodes name their host and
// container as parents; a host's processes outside any container sit under
// "Uncontained". Sizes are sums of processes, so nested bars always add up.

import type { TopologyNode } from '../../lib/api-types';
import type { Metric } from '../../lib/url-state';

export interface ResourceItem {
  /** Node id in its own view (`host:…`, `container:…`, `process:…`), or a synthetic one for Uncontained. */
  id: string;
  /** The view whose details describe it; null for Uncontained. */
  view: string | null;
  label: string;
  value: number;
  children: ResourceItem[];
  /** The process node, for search. */
  node?: TopologyNode;
}

export function valueOf(node: TopologyNode, metric: Metric): number {
  if (metric === 'memory') return node.metrics.memory ?? 0;
  if (metric === 'cpu') return node.metrics.cpu ?? 0;
  return 1;
}

export function resourceTree(nodes: Iterable<TopologyNode>, metric: Metric): ResourceItem[] {
  const hosts = new Map<string, ResourceItem>();
  const containers = new Map<string, ResourceItem>();
  for (const node of nodes) {
    if (node.kind !== 'process') continue;
    const hostRef = node.parents.find((parent) => parent.view === 'hosts');
    const containerRef = node.parents.find((parent) => parent.view === 'containers');
    const hostId = hostRef?.id ?? 'host:unknown';
    let host = hosts.get(hostId);
    if (!host) {
      host = { id: hostId, view: hostRef ? 'hosts' : null, label: hostRef?.label ?? 'unknown host', value: 0, children: [] };
      hosts.set(hostId, host);
    }
    const groupId = containerRef?.id ?? `uncontained:${hostId}`;
    let group = containers.get(groupId);
    if (!group) {
      group = containerRef
        ? { id: containerRef.id, view: 'containers', label: containerRef.label, value: 0, children: [] }
        : { id: groupId, view: null, label: 'Uncontained', value: 0, children: [] };
      containers.set(groupId, group);
      host.children.push(group);
    }
    const value = valueOf(node, metric);
    group.children.push({ id: node.id, view: 'processes', label: node.label, value, children: [], node });
    group.value += value;
    host.value += value;
  }
  const byValue = (a: ResourceItem, b: ResourceItem) => b.value - a.value || a.label.localeCompare(b.label);
  const list = [...hosts.values()].sort(byValue);
  for (const host of list) {
    host.children.sort(byValue);
    for (const group of host.children) group.children.sort(byValue);
  }
  return list;
}
