// Which new nodes to place now. A container usually shows up a second or
// two before its first connection does; placed at once it would land alone
// (on the shelf below the map) and stay there with a long edge once the
// connection arrives. So a new node with no edge waits up to `holdMs` for
// one; a node with an edge, or one that waited long enough, is placed.

export interface HoldInput {
  nodes: Iterable<string>;
  edges: Iterable<{ source: string; target: string }>;
  /** True for nodes already drawn (or drawn at a hint), and for every node of a first layout. */
  placed: (id: string) => boolean;
  /** When each waiting node was first seen; updated in place (entries added, never removed here). */
  firstSeen: Map<string, number>;
  now: number;
  holdMs: number;
}

export interface HoldResult {
  /** Nodes to hand to the layout: the placed ones and the newcomers ready now. */
  ready: Set<string>;
  /** When to look again for nodes still waiting; null when none wait. */
  recheckInMs: number | null;
}

export function readyForPlacement({ nodes, edges, placed, firstSeen, now, holdMs }: HoldInput): HoldResult {
  const linked = new Set<string>();
  for (const edge of edges) {
    linked.add(edge.source);
    linked.add(edge.target);
  }
  const ready = new Set<string>();
  let recheck: number | null = null;
  for (const id of nodes) {
    if (placed(id) || linked.has(id)) {
      ready.add(id);
      continue;
    }
    const seen = firstSeen.get(id) ?? now;
    firstSeen.set(id, seen);
    const waited = now - seen;
    if (waited >= holdMs) ready.add(id);
    else recheck = Math.min(recheck ?? Infinity, holdMs - waited);
  }
  return { ready, recheckInMs: recheck };
}
