// A compact, index-based view of a graph for the layout algorithms: ids map
// to 0..n-1 and adjacency is precomputed once, so the hot loops touch only
// numbers.

import { halfRoom, type LayoutEdge, type LayoutNode } from './layout-types';

export interface IndexedGraph {
  ids: string[];
  ranks: string[];
  /** Half the room each node takes in a row (label included); see halfRoom. */
  halfRooms: number[];
  indexOf: Map<string, number>;
  /** Directed edges as index pairs, self-loops and duplicates removed. */
  edges: Array<[number, number]>;
  /** Each node's targets (the servers it is a client of), in the order of `edges`. */
  outgoing: number[][];
  /** Undirected neighbours per node. */
  neighbours: number[][];
}

export function indexGraph(nodes: LayoutNode[], edges: LayoutEdge[]): IndexedGraph {
  const ids = nodes.map((node) => node.id);
  const ranks = nodes.map((node) => node.rank);
  const halfRooms = nodes.map((node) => halfRoom(node.width));
  const indexOf = new Map(ids.map((id, index) => [id, index]));
  const neighbours: number[][] = ids.map(() => []);
  const outgoing: number[][] = ids.map(() => []);
  const seen = new Set<string>();
  const indexed: Array<[number, number]> = [];
  for (const edge of edges) {
    const source = indexOf.get(edge.source);
    const target = indexOf.get(edge.target);
    if (source === undefined || target === undefined || source === target) continue;
    const key = `${source}>${target}`;
    if (seen.has(key)) continue;
    seen.add(key);
    indexed.push([source, target]);
    outgoing[source]?.push(target);
    const reverseKey = `${target}>${source}`;
    // Two opposite edges are one neighbour relation for layout purposes.
    if (!seen.has(reverseKey)) {
      neighbours[source]?.push(target);
      neighbours[target]?.push(source);
    }
  }
  return { ids, ranks, halfRooms, indexOf, edges: indexed, outgoing, neighbours };
}

/** Connected components, largest first; each a list of node indices. */
export function components(graph: IndexedGraph): number[][] {
  const component = new Int32Array(graph.ids.length).fill(-1);
  const result: number[][] = [];
  for (let start = 0; start < graph.ids.length; start++) {
    if (component[start] !== -1) continue;
    const members: number[] = [];
    const stack = [start];
    component[start] = result.length;
    while (stack.length > 0) {
      const current = stack.pop() as number;
      members.push(current);
      for (const next of graph.neighbours[current] ?? []) {
        if (component[next] === -1) {
          component[next] = result.length;
          stack.push(next);
        }
      }
    }
    result.push(members);
  }
  return result.sort((a, b) => b.length - a.length);
}
