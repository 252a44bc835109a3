// A small Sugiyama-style layered layout: clients above servers.
//
// ELK layered took 5.3 s at 1,000 nodes here and dagre far longer, so this
// is only used for small components, where it is instant and reads best:
// each edge points downwards from the client to the server it talks to.
// Steps: drop cycle-closing edges, longest-path layering, a few barycenter
// sweeps to reduce crossings, then centred rows spaced by label width.

import type { IndexedGraph } from './graph-index';
import { NODE_SPACING } from './layout-types';

const SWEEPS = 6;
/** Widest row of a layer before it wraps: about a laptop screen at the default zoom. */
const MAX_ROW_WIDTH = 1500;

/** Writes positions for `members` into `xy` (x at 2i, y at 2i+1). */
export function layeredLayout(graph: IndexedGraph, members: number[], xy: Float64Array): void {
  const inComponent = new Set(members);
  const downward = acyclicEdges(graph, members);
  const layerOf = assignLayers(members, downward);

  const layers: number[][] = [];
  for (const node of members) {
    const layer = layerOf.get(node) ?? 0;
    (layers[layer] ??= []).push(node);
  }
  // Seed the order by rank then id, so equal inputs give equal pictures and
  // nodes of one rank start side by side.
  for (const layer of layers) {
    layer?.sort((a, b) => compareText(graph.ranks[a], graph.ranks[b]) || compareText(graph.ids[a], graph.ids[b]));
  }
  orderByBarycenter(layers.filter((layer) => layer !== undefined), graph, inComponent);

  // Rows are centred on x = 0. Neighbours in a row sit far enough apart for
  // both labels (halfRoom), so long container names never run together. A
  // layer wider than a screen wraps onto several rows: fifty clients of one
  // server read better as a block than as a line 5,000 px long.
  let y = 0;
  for (const layer of layers) {
    if (!layer) continue;
    for (const row of wrapRow(layer, graph)) {
      const xs: number[] = [];
      let x = 0;
      row.forEach((node, position) => {
        if (position > 0) x += (graph.halfRooms[row[position - 1] as number] ?? 0) + (graph.halfRooms[node] ?? 0);
        xs.push(x);
      });
      const centre = x / 2;
      row.forEach((node, position) => {
        xy[2 * node] = (xs[position] as number) - centre;
        xy[2 * node + 1] = y;
      });
      y += NODE_SPACING;
    }
  }
}

/** Splits a layer into rows no wider than MAX_ROW_WIDTH (keeping its order). */
function wrapRow(layer: number[], graph: IndexedGraph): number[][] {
  const rows: number[][] = [];
  let row: number[] = [];
  let width = 0;
  for (const node of layer) {
    const room = 2 * (graph.halfRooms[node] ?? 0);
    if (row.length > 0 && width + room > MAX_ROW_WIDTH) {
      rows.push(row);
      row = [];
      width = 0;
    }
    row.push(node);
    width += room;
  }
  if (row.length > 0) rows.push(row);
  return rows;
}

function compareText(a: string | undefined, b: string | undefined): number {
  return (a ?? '').localeCompare(b ?? '');
}

/** Edges of the component with every cycle broken by a depth-first search. */
function acyclicEdges(graph: IndexedGraph, members: number[]): Map<number, number[]> {
  // The graph's own lists: a scan of all its edges per component cost
  // 70-130 ms over the ~430 small components of a 10,000-node view.
  const outgoing = graph.outgoing;
  const state = new Map<number, 'active' | 'done'>();
  const kept = new Map<number, number[]>();
  for (const root of members) {
    if (state.has(root)) continue;
    // Iterative DFS: a deep chain of processes must not overflow the stack.
    const stack: Array<{ node: number; next: number }> = [{ node: root, next: 0 }];
    state.set(root, 'active');
    while (stack.length > 0) {
      const frame = stack[stack.length - 1] as { node: number; next: number };
      const targets = outgoing[frame.node] ?? [];
      if (frame.next >= targets.length) {
        state.set(frame.node, 'done');
        stack.pop();
        continue;
      }
      const target = targets[frame.next++] as number;
      const seen = state.get(target);
      if (seen === 'active') continue; // Closes a cycle: leave it out of layering.
      const list = kept.get(frame.node) ?? [];
      list.push(target);
      kept.set(frame.node, list);
      if (seen === undefined) {
        state.set(target, 'active');
        stack.push({ node: target, next: 0 });
      }
    }
  }
  return kept;
}

/** Longest path from the sources: a server sits below all of its clients. */
function assignLayers(members: number[], downward: Map<number, number[]>): Map<number, number> {
  const indegree = new Map<number, number>(members.map((node) => [node, 0]));
  for (const targets of downward.values()) {
    for (const target of targets) indegree.set(target, (indegree.get(target) ?? 0) + 1);
  }
  const indegreeBefore = new Map(indegree);
  const layer = new Map<number, number>();
  const queue = members.filter((node) => indegree.get(node) === 0);
  for (const node of queue) layer.set(node, 0);
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as number;
    for (const target of downward.get(node) ?? []) {
      layer.set(target, Math.max(layer.get(target) ?? 0, (layer.get(node) ?? 0) + 1));
      const remaining = (indegree.get(target) ?? 1) - 1;
      indegree.set(target, remaining);
      if (remaining === 0) queue.push(target);
    }
  }
  // Longest-path layering puts every client in the top row, so a lone client
  // of a deep server would draw a long edge across the picture; pull each
  // pure client down to just above its nearest server instead.
  for (const node of members) {
    if ((indegreeBefore.get(node) ?? 0) > 0) continue;
    const targets = downward.get(node) ?? [];
    if (targets.length === 0) continue;
    const nearest = Math.min(...targets.map((target) => layer.get(target) ?? 1));
    layer.set(node, Math.max(layer.get(node) ?? 0, nearest - 1));
  }
  return layer;
}

/** Alternating down/up sweeps placing each node at its neighbours' mean. */
function orderByBarycenter(layers: number[][], graph: IndexedGraph, inComponent: Set<number>): void {
  const position = new Map<number, number>();
  const depth = new Map<number, number>();
  layers.forEach((layer, index) => {
    layer.forEach((node, slot) => {
      position.set(node, slot);
      depth.set(node, index);
    });
  });
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    const downwards = sweep % 2 === 0;
    const indices = layers.map((_, index) => index);
    if (!downwards) indices.reverse();
    for (const index of indices) {
      const layer = layers[index] as number[];
      const weight = new Map<number, number>();
      for (const node of layer) {
        let sum = 0;
        let count = 0;
        for (const other of graph.neighbours[node] ?? []) {
          if (!inComponent.has(other)) continue;
          const otherDepth = depth.get(other) ?? index;
          // Look at the layer we came from; ignore same-layer neighbours.
          if (downwards ? otherDepth >= index : otherDepth <= index) continue;
          sum += position.get(other) ?? 0;
          count += 1;
        }
        weight.set(node, count > 0 ? sum / count : (position.get(node) ?? 0));
      }
      layer.sort((a, b) => (weight.get(a) ?? 0) - (weight.get(b) ?? 0));
      layer.forEach((node, slot) => position.set(node, slot));
    }
  }
}
