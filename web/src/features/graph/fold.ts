// Folding: what the graph draws when a view has thousands of nodes.
//
// Cytoscape's first style pass and paint of ~5,000 elements took 2-4 s here,
// far more than the layout, so big views are drawn folded: nodes on the same
// host with the same rank (the API's layout hint: the image for containers,
// the name for processes) become one group node with the stacked look, and
// the edges between groups are merged. A click opens a group. Small views are
// drawn exactly as the API sends them.
//
// Pure: the store's nodes and edges in, what to draw out, so it is tested
// without a browser and recomputed from scratch on every change (a few ms at
// 2,000 nodes).

import type { NodeKind, NodeShape, TopologyEdge, TopologyNode } from '../../lib/api-types';
import { nodeCaption } from './caption';

/**
 * Views with more nodes than this are folded. Drawn unfolded, 1,000 nodes
 * took 2.3-2.9 s to the first picture in the benchmark, 500 nodes 1.3-1.7 s.
 */
export const FOLD_ABOVE = 600;
/** Folding stops only below this share of the limit, so a view hovering at it does not flip. */
const UNFOLD_SHARE = 0.8;
/** When host + rank groups still leave more to draw than this, group by rank alone. */
export const FINE_GROUPS_MAX = 600;

/** Prefix of group node ids; API node ids never start with it. */
const GROUP_PREFIX = 'group:';

export interface DrawnNode {
  id: string;
  label: string;
  /** Label plus minor label, as drawn under the shape (long lines cut short). */
  caption: string;
  /** Label and minor label in full, for the hover tooltip. */
  title: string;
  shape: NodeShape;
  kind: NodeKind;
  stack: number;
  rank: string;
  /** The API nodes a group stands for; absent on a plain node. */
  members?: string[];
  /** A container's state when it is not running (exited, paused, …); '' otherwise. */
  state: string;
  /** Percent of one core, summed over a group's members; null when unknown. */
  cpu: number | null;
  /** Bytes, summed likewise. */
  memory: number | null;
}

export interface DrawnEdge {
  id: string;
  source: string;
  target: string;
  connections: number;
  ports: number[];
  rttUs: number | null;
  bytesSent: number | null;
  bytesReceived: number | null;
  retransmits: number | null;
  failures: number | null;
  /** How many API edges this drawn edge stands for (more than one between groups). */
  merged: number;
}

export interface FoldedGraph {
  nodes: Map<string, DrawnNode>;
  edges: Map<string, DrawnEdge>;
  /** API node id → id of the group drawn in its place (folded nodes only). */
  groupOf: Map<string, string>;
}

export interface FoldOptions {
  fold: boolean;
  /** Group ids the user opened: their members are drawn one by one. */
  expanded: ReadonlySet<string>;
  /** Group only nodes of these kinds (e.g. compose services into their projects); all kinds when absent. */
  kinds?: ReadonlySet<NodeKind>;
}

export function foldGraph(
  nodes: ReadonlyMap<string, TopologyNode>,
  edges: ReadonlyMap<string, TopologyEdge>,
  options: FoldOptions,
): FoldedGraph {
  const drawn = new Map<string, DrawnNode>();
  const groupOf = new Map<string, string>();
  if (options.fold) {
    let buckets = bucketNodes(nodes, true, options.kinds);
    if (buckets.size > FINE_GROUPS_MAX) buckets = bucketNodes(nodes, false, options.kinds);
    for (const [id, members] of buckets) {
      if (members.length < 2 || options.expanded.has(id)) continue;
      drawn.set(id, groupNode(id, members));
      for (const member of members) groupOf.set(member.id, id);
    }
  }
  for (const node of nodes.values()) {
    if (!groupOf.has(node.id)) drawn.set(node.id, plainNode(node));
  }

  const drawnEdges = new Map<string, DrawnEdge>();
  for (const edge of edges.values()) {
    const source = groupOf.get(edge.source) ?? edge.source;
    const target = groupOf.get(edge.target) ?? edge.target;
    if (source === edge.source && target === edge.target) {
      drawnEdges.set(edge.id, plainEdge(edge));
      continue;
    }
    // Traffic inside a group is not drawn; the group stands for all of it.
    if (source === target) continue;
    const id = `${GROUP_PREFIX}${source}>${target}`;
    const merged = drawnEdges.get(id);
    if (merged) mergeEdge(merged, edge);
    else drawnEdges.set(id, { ...plainEdge(edge), id, source, target });
  }
  return { nodes: drawn, edges: drawnEdges, groupOf };
}

/** An API edge as drawn on its own. */
export function plainEdge(edge: TopologyEdge): DrawnEdge {
  return {
    id: edge.id,
    source: edge.source,
    target: edge.target,
    connections: edge.connections,
    ports: [...edge.ports],
    rttUs: edge.rtt_us ?? null,
    bytesSent: edge.bytes_sent ?? null,
    bytesReceived: edge.bytes_received ?? null,
    retransmits: edge.retransmits ?? null,
    failures: edge.failures ?? null,
    merged: 1,
  };
}

function addKnown(a: number | null, b: number | null | undefined): number | null {
  if (b === null || b === undefined) return a;
  return (a ?? 0) + b;
}

function mergeEdge(into: DrawnEdge, edge: TopologyEdge): void {
  into.connections += edge.connections;
  for (const port of edge.ports) if (!into.ports.includes(port)) into.ports.push(port);
  into.ports.sort((a, b) => a - b);
  // The mean RTT of the merged edges, weighted by connections.
  if (edge.rtt_us !== null && edge.rtt_us !== undefined) {
    const before = into.connections - edge.connections;
    into.rttUs = into.rttUs === null ? edge.rtt_us : Math.round((into.rttUs * before + edge.rtt_us * edge.connections) / into.connections);
  }
  into.bytesSent = addKnown(into.bytesSent, edge.bytes_sent);
  into.bytesReceived = addKnown(into.bytesReceived, edge.bytes_received);
  into.retransmits = addKnown(into.retransmits, edge.retransmits);
  into.failures = addKnown(into.failures, edge.failures);
  into.merged += 1;
}

/** True when drawing `next` instead of `previous` changes nothing the edge shows. */
export function sameDrawnEdge(previous: DrawnEdge, next: DrawnEdge): boolean {
  return (
    previous.connections === next.connections &&
    previous.ports.join() === next.ports.join() &&
    previous.rttUs === next.rttUs &&
    previous.bytesSent === next.bytesSent &&
    previous.bytesReceived === next.bytesReceived &&
    previous.retransmits === next.retransmits &&
    previous.failures === next.failures
  );
}

/** Decides whether to fold, with a gap between folding and unfolding. */
export function shouldFold(nodeCount: number, foldingNow: boolean, foldAbove = FOLD_ABOVE): boolean {
  if (foldingNow) return nodeCount >= foldAbove * UNFOLD_SHARE;
  return nodeCount > foldAbove;
}

/** Candidate groups by id; pseudo nodes and nodes with no rank stay alone. */
function bucketNodes(
  nodes: ReadonlyMap<string, TopologyNode>,
  byHost: boolean,
  kinds?: ReadonlySet<NodeKind>,
): Map<string, TopologyNode[]> {
  const buckets = new Map<string, TopologyNode[]>();
  for (const node of nodes.values()) {
    if (node.pseudo || node.rank === '' || (kinds && !kinds.has(node.kind))) continue;
    const host = byHost ? node.parents.find((parent) => parent.view === 'hosts')?.id ?? '' : '';
    // The id is only ever compared, never parsed back.
    const id = byHost && host !== '' ? `${GROUP_PREFIX}${node.rank} on ${host}` : `${GROUP_PREFIX}${node.rank}`;
    const members = buckets.get(id);
    if (members) members.push(node);
    else buckets.set(id, [node]);
  }
  return buckets;
}

function groupNode(id: string, members: TopologyNode[]): DrawnNode {
  const first = members[0] as TopologyNode;
  const hosts = new Set(members.map((member) => member.parents.find((parent) => parent.view === 'hosts')?.label));
  const host = hosts.size === 1 ? first.parents.find((parent) => parent.view === 'hosts')?.label : undefined;
  // The count is in the label: compact styles of big graphs draw only that.
  const label = `${first.rank} ×${members.length}`;
  let cpu: number | null = null;
  let memory: number | null = null;
  for (const member of members) {
    cpu = addKnown(cpu, member.metrics.cpu);
    memory = addKnown(memory, member.metrics.memory);
  }
  const minor = `${plural(first.kind, members.length)}${host ? ` on ${host}` : ''}`;
  return {
    id,
    label,
    caption: nodeCaption(label, minor),
    title: `${label}\n${minor}`,
    shape: first.shape,
    kind: first.kind,
    stack: members.reduce((sum, member) => sum + Math.max(1, member.stack), 0),
    rank: first.rank,
    members: members.map((member) => member.id),
    state: '',
    cpu,
    memory,
  };
}

/** Container states drawn as they are; anything else is drawn as running. */
const SHOWN_STATES = new Set(['created', 'exited', 'dead', 'paused', 'restarting', 'removing']);

/** A node of the API as drawn on its own; a container not running says so in its caption. */
export function plainNode(node: TopologyNode): DrawnNode {
  const raw = node.kind === 'container' ? (node.metadata.state ?? '') : '';
  const state = SHOWN_STATES.has(raw) ? raw : '';
  const label = state ? `${node.label} (${state})` : node.label;
  return {
    id: node.id,
    label: node.label,
    caption: nodeCaption(label, node.minor_label),
    title: node.minor_label ? `${label}\n${node.minor_label}` : label,
    shape: node.shape,
    kind: node.kind,
    stack: node.stack,
    rank: node.rank,
    state,
    cpu: node.metrics.cpu,
    memory: node.metrics.memory,
  };
}

function plural(kind: NodeKind, count: number): string {
  const noun = kind === 'compose-project' || kind === 'compose-service' ? kind.replace('-', ' ') : kind;
  if (count === 1) return noun;
  return noun === 'process' ? 'processes' : `${noun}s`;
}

/** True when drawing `next` instead of `previous` changes nothing visible. */
export function sameDrawnNode(previous: DrawnNode, next: DrawnNode): boolean {
  return (
    previous.caption === next.caption &&
    previous.title === next.title &&
    previous.label === next.label &&
    previous.shape === next.shape &&
    previous.kind === next.kind &&
    previous.stack === next.stack &&
    previous.state === next.state &&
    previous.cpu === next.cpu &&
    previous.memory === next.memory
  );
}
