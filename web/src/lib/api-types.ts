// Types of the app's JSON API, following docs/api.md field by field.
// The UI sees the app only through these; when the contract changes, change
// this file first and let the compiler point at every use.

export type ViewId =
  | 'processes'
  | 'processes-by-name'
  | 'containers'
  | 'containers-by-image'
  | 'containers-by-hostname'
  | 'compose'
  | 'hosts';

export type NodeKind =
  | 'host'
  | 'container'
  | 'process'
  | 'image'
  | 'hostname'
  | 'compose-project'
  | 'compose-service'
  | 'pseudo';

export type NodeShape = 'circle' | 'hexagon' | 'heptagon' | 'square' | 'cloud';

export interface NodeRef {
  view: string;
  id: string;
  label: string;
}

export interface NodeMetrics {
  /** Percent of one core; null when unknown. */
  cpu: number | null;
  /** Bytes; null when unknown. */
  memory: number | null;
}

export interface TopologyNode {
  id: string;
  label: string;
  minor_label: string;
  kind: NodeKind;
  shape: NodeShape;
  stack: number;
  rank: string;
  pseudo: boolean;
  metrics: NodeMetrics;
  connections: number;
  parents: NodeRef[];
  metadata: Record<string, string>;
}

export interface TopologyEdge {
  id: string;
  source: string;
  target: string;
  connections: number;
  ports: number[];
  rtt_us?: number | null;
  bytes_sent?: number | null;
  bytes_received?: number | null;
  retransmits?: number | null;
  /** Failed connection attempts (refused, reset, timed out) seen on this edge, when the app reports them. */
  failures?: number | null;
  /** Connections the probe's eBPF tracer counted since it first saw them. */
  total_connections?: number | null;
  per_minute?: Rates | null;
  /** Some connection was refused, unanswered, reset or retransmitted in the last minute. */
  failing?: boolean;
}

/** Connections and their failures in one minute (eBPF tracer). */
export interface Rates {
  connections: number;
  refused: number;
  unanswered: number;
  reset: number;
  retransmits: number;
}

export interface ViewOptionSpec {
  id: string;
  values: string[];
  default: string;
}

export interface TopologySummary {
  id: string;
  label: string;
  nodes: number;
  edges: number;
  options: ViewOptionSpec[];
}

export interface TopologyView {
  view: string;
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

export interface MetadataRow {
  key: string;
  label: string;
  value: string;
}

export interface MetricSample {
  t: number;
  v: number;
}

export interface MetricSeries {
  id: string;
  label: string;
  unit: string;
  value: number | null;
  samples: MetricSample[];
}

export interface Connection {
  node: string | null;
  label: string;
  address: string;
  port: number | null;
  count: number;
  rtt_us: number | null;
  bytes_sent: number | null;
  bytes_received: number | null;
  retransmits: number | null;
  per_minute: Rates | null;
  failing: boolean;
}

export interface ChildGroup {
  view: string;
  label: string;
  nodes: TopologyNode[];
}

/** A control a node offers: POST api/control/{probe}/{node}/{id}. */
export interface Control {
  id: string;
  label: string;
  /** The probe that runs it. */
  probe: string;
  /** Opens a pipe (logs, terminal) rather than changing state. */
  pipe: boolean;
}

export interface NodeDetails {
  node: TopologyNode;
  metadata: MetadataRow[];
  metrics: MetricSeries[];
  connections: { inbound: Connection[]; outbound: Connection[] };
  children: ChildGroup[];
  parents: NodeRef[];
  controls: Control[];
}

/** An update carries `id` and only the fields that changed: merge it into the held item. */
export type Patch<T extends { id: string }> = Pick<T, 'id'> & Partial<T>;

export interface ChangeSet<T extends { id: string }> {
  add: T[];
  update: Patch<T>[];
  remove: string[];
}

export interface FullMessage {
  type: 'full';
  view: string;
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

export interface DiffMessage {
  type: 'diff';
  view: string;
  nodes: ChangeSet<TopologyNode>;
  edges: ChangeSet<TopologyEdge>;
}

export type ViewMessage = FullMessage | DiffMessage;

export type DockerState = 'connected' | 'unavailable';

export type SourceName =
  | 'host'
  | 'proc'
  | 'sock_diag'
  | 'proc_net'
  | 'conntrack'
  | 'docker'
  | 'ebpf'
  | 'controls'
  | 'host_shell'
  | 'socket_owners';

/** One source of a probe: `degraded` sees less, `denied` was refused by the host, with the reason why. */
export interface SourceStateInfo {
  source: SourceName;
  state: 'active' | 'degraded' | 'denied' | 'unavailable';
  reason?: string;
}

export interface ProbeInfo {
  id: string;
  host: string;
  hostname: string;
  version: string;
  last_seen: number;
  sources: string[];
  source_states: SourceStateInfo[];
  docker: DockerState;
  /** Frames the probe dropped because its send queue was full. */
  dropped_frames: number;
  /** Set when another probe reported this probe's host ID first; `host` is then `{reported_host}~{probe}`. */
  host_conflict: { reported_host: string; with_probe: string } | null;
  /** How the probe sees connections: its eBPF tracer, or sockets and conntrack alone. */
  connections: 'ebpf' | 'sockets';
  /** Why the eBPF tracer is not in use. */
  ebpf_unavailable: string | null;
  /** Connection events the tracer could not count (its maps were full). */
  traced_overflow: number;
}

export interface AppInfo {
  id: string;
  version: string;
  capabilities: string[];
  read_only: boolean;
}
