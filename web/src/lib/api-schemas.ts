// Runtime schemas of the app's JSON, one per type in api-types.ts, each
// proven equal to its type at compile time (`same` below fails `tsc` when
// they drift apart). The browser test e2e/api-shapes.test.ts checks the real
// app's output against them, strictly: a field the app sends that the types
// do not know fails too. So the hand-written types are tied to what the app
// really says. Only tests import this file: the UI bundle has no zod.

import { z } from 'zod';

import type {
  AppInfo,
  FullMessage,
  DiffMessage,
  NodeDetails,
  ProbeInfo,
  TopologyEdge,
  TopologyNode,
  TopologySummary,
  TopologyView,
} from './api-types';

const nullableNumber = z.number().nullable();

export const nodeRef = z.strictObject({ view: z.string(), id: z.string(), label: z.string() });

export const topologyNode = z.strictObject({
  id: z.string(),
  label: z.string(),
  minor_label: z.string(),
  kind: z.enum(['host', 'container', 'process', 'image', 'hostname', 'compose-project', 'compose-service', 'pseudo']),
  shape: z.enum(['circle', 'hexagon', 'heptagon', 'square', 'cloud']),
  stack: z.number(),
  rank: z.string(),
  pseudo: z.boolean(),
  metrics: z.strictObject({ cpu: nullableNumber, memory: nullableNumber }),
  connections: z.number(),
  parents: z.array(nodeRef),
  metadata: z.record(z.string(), z.string()),
});

const rates = z.strictObject({
  connections: z.number(),
  refused: z.number(),
  unanswered: z.number(),
  reset: z.number(),
  retransmits: z.number(),
});

export const topologyEdge = z.strictObject({
  id: z.string(),
  source: z.string(),
  target: z.string(),
  connections: z.number(),
  ports: z.array(z.number()),
  rtt_us: nullableNumber.optional(),
  bytes_sent: nullableNumber.optional(),
  bytes_received: nullableNumber.optional(),
  retransmits: nullableNumber.optional(),
  failures: nullableNumber.optional(),
  total_connections: nullableNumber.optional(),
  per_minute: rates.nullable().optional(),
  failing: z.boolean().optional(),
});

export const topologySummary = z.strictObject({
  id: z.string(),
  label: z.string(),
  nodes: z.number(),
  edges: z.number(),
  options: z.array(z.strictObject({ id: z.string(), values: z.array(z.string()), default: z.string() })),
});

export const topologyView = z.strictObject({
  view: z.string(),
  nodes: z.array(topologyNode),
  edges: z.array(topologyEdge),
});

const connection = z.strictObject({
  node: z.string().nullable(),
  label: z.string(),
  address: z.string(),
  port: nullableNumber,
  count: z.number(),
  rtt_us: nullableNumber,
  bytes_sent: nullableNumber,
  bytes_received: nullableNumber,
  retransmits: nullableNumber,
  per_minute: rates.nullable(),
  failing: z.boolean(),
});

export const nodeDetails = z.strictObject({
  node: topologyNode,
  metadata: z.array(z.strictObject({ key: z.string(), label: z.string(), value: z.string() })),
  metrics: z.array(
    z.strictObject({
      id: z.string(),
      label: z.string(),
      unit: z.string(),
      value: nullableNumber,
      samples: z.array(z.strictObject({ t: z.number(), v: z.number() })),
    }),
  ),
  connections: z.strictObject({ inbound: z.array(connection), outbound: z.array(connection) }),
  children: z.array(z.strictObject({ view: z.string(), label: z.string(), nodes: z.array(topologyNode) })),
  parents: z.array(nodeRef),
  controls: z.array(z.strictObject({ id: z.string(), label: z.string(), probe: z.string(), pipe: z.boolean() })),
});

// A diff's update: `id` and only the fields that changed.
const nodePatch = topologyNode.partial().extend({ id: z.string() });
const edgePatch = topologyEdge.partial().extend({ id: z.string() });

const changeSet = <T extends z.ZodType, P extends z.ZodType>(item: T, patch: P) =>
  z.strictObject({ add: z.array(item), update: z.array(patch), remove: z.array(z.string()) });

export const fullMessage = z.strictObject({
  type: z.literal('full'),
  view: z.string(),
  nodes: z.array(topologyNode),
  edges: z.array(topologyEdge),
});

export const diffMessage = z.strictObject({
  type: z.literal('diff'),
  view: z.string(),
  nodes: changeSet(topologyNode, nodePatch),
  edges: changeSet(topologyEdge, edgePatch),
});

export const probeInfo = z.strictObject({
  id: z.string(),
  host: z.string(),
  hostname: z.string(),
  version: z.string(),
  last_seen: z.number(),
  sources: z.array(z.string()),
  source_states: z.array(
    z.strictObject({
      source: z.enum([
        'host',
        'proc',
        'sock_diag',
        'proc_net',
        'conntrack',
        'docker',
        'ebpf',
        'controls',
        'host_shell',
        'socket_owners',
      ]),
      state: z.enum(['active', 'degraded', 'denied', 'unavailable']),
      reason: z.string().optional(),
    }),
  ),
  docker: z.enum(['connected', 'unavailable']),
  dropped_frames: z.number(),
  host_conflict: z.strictObject({ reported_host: z.string(), with_probe: z.string() }).nullable(),
  connections: z.enum(['ebpf', 'sockets']),
  ebpf_unavailable: z.string().nullable(),
  traced_overflow: z.number(),
});

export const appInfo = z.strictObject({
  id: z.string(),
  version: z.string(),
  capabilities: z.array(z.string()),
  read_only: z.boolean(),
});

/** True when A and B are the same type (not merely assignable one way). */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** An object type with its intersections and optional `undefined`s spelled out, for Equals. */
type Flat<T> = T extends object ? { [K in keyof T]: Flat<T[K]> } : T;

// Compile-time proof that each schema describes exactly its type in api-types.ts.
export const same: Record<string, true> = {
  node: true satisfies Equals<z.infer<typeof topologyNode>, TopologyNode>,
  edge: true satisfies Equals<z.infer<typeof topologyEdge>, TopologyEdge>,
  summary: true satisfies Equals<z.infer<typeof topologySummary>, TopologySummary>,
  view: true satisfies Equals<z.infer<typeof topologyView>, TopologyView>,
  details: true satisfies Equals<z.infer<typeof nodeDetails>, NodeDetails>,
  full: true satisfies Equals<z.infer<typeof fullMessage>, FullMessage>,
  diff: true satisfies Equals<Flat<z.infer<typeof diffMessage>>, Flat<DiffMessage>>,
  probe: true satisfies Equals<z.infer<typeof probeInfo>, ProbeInfo>,
  app: true satisfies Equals<z.infer<typeof appInfo>, AppInfo>,
};
