// Picks and runs a layout for one request. Pure computation: it runs inside
// the layout worker, and in unit tests directly.
//
// - No positions yet (first load, new view): every connected component is
//   laid out on its own (layered when small, force when large) and the
//   components are packed in rows.
// - Some positions known (a diff arrived): known nodes stay exactly where
//   they are; new nodes start next to their placed neighbours and a short
//   force pass with everything else pinned settles them. New components
//   with no placed neighbour are laid out apart and packed below.

import { forceLayout, spiralStart } from './force-layout';
import { components, indexGraph, type IndexedGraph } from './graph-index';
import { layeredLayout } from './layered-layout';
import type { LayoutAlgorithm, LayoutRequest, LayoutResult, Point } from './layout-types';
import { NODE_SPACING } from './layout-types';
import { bounds, packComponents } from './pack-components';

/** Components up to this size get the layered (clients above servers) look. */
export const LAYERED_MAX_NODES = 150;
/** Time the whole force phase may take; the 2,000-node target is 2 s. */
const FORCE_BUDGET_MS = 1200;

export function computeLayout(request: LayoutRequest): LayoutResult {
  const started = performance.now();
  const graph = indexGraph(request.nodes, request.edges);
  const xy = new Float64Array(graph.ids.length * 2);
  const known = new Uint8Array(graph.ids.length);
  const hinted = new Uint8Array(graph.ids.length);
  let knownCount = 0;
  let hintedCount = 0;
  graph.ids.forEach((id, index) => {
    const point = request.previous[id] ?? request.hints?.[id];
    if (!point) return;
    xy[2 * index] = point.x;
    xy[2 * index + 1] = point.y;
    if (request.previous[id]) {
      known[index] = 1;
      knownCount += 1;
    } else {
      hinted[index] = 1;
      hintedCount += 1;
    }
  });

  // When most of the picture is new, keeping a few old spots only makes the
  // result worse, so lay out from scratch. Nodes with a hint are not new to
  // the user: they were drawn as the group they came out of.
  const incremental = knownCount > 0 && (knownCount + hintedCount) * 2 >= graph.ids.length;
  let algorithm: LayoutAlgorithm;
  if (incremental) {
    placeNewNodes(graph, xy, known, hinted);
    algorithm = 'incremental';
  } else {
    algorithm = layoutFromScratch(graph, xy);
  }

  const positions: Record<string, Point> = {};
  graph.ids.forEach((id, index) => {
    positions[id] = { x: round(xy[2 * index] as number), y: round(xy[2 * index + 1] as number) };
  });
  return { requestId: request.requestId, positions, algorithm, millis: performance.now() - started };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function layoutFromScratch(graph: IndexedGraph, xy: Float64Array): LayoutAlgorithm {
  const parts = components(graph);
  const total = graph.ids.length;
  let usedForce = false;
  const noPins = new Uint8Array(total);
  for (const members of parts) {
    if (members.length <= LAYERED_MAX_NODES) {
      layeredLayout(graph, members, xy);
    } else {
      usedForce = true;
      spiralStart(graph, members, xy);
      // Share the time budget by size so one giant part cannot starve others.
      const budget = (FORCE_BUDGET_MS * members.length) / total;
      forceLayout(graph, members, xy, noPins, { ticks: 200, budgetMs: budget, initialHeat: 1.5, gravity: 0.08 });
    }
  }
  packComponents(parts, xy, graph.halfRooms);
  return usedForce ? 'force' : 'layered';
}

/** Keeps known nodes fixed and settles the new ones around them. */
function placeNewNodes(graph: IndexedGraph, xy: Float64Array, known: Uint8Array, hinted: Uint8Array): void {
  const placed = Uint8Array.from(known);
  /** Nodes the final force pass leaves where they are. */
  const settled = Uint8Array.from(known);
  // Hinted nodes start on a small spiral around their hint, so the members
  // of an opened group do not start on one spot.
  const aroundHint = new Map<string, number>();
  hinted.forEach((flag, index) => {
    if (!flag) return;
    const key = `${xy[2 * index]},${xy[2 * index + 1]}`;
    const slot = (aroundHint.get(key) ?? 0) + 1;
    aroundHint.set(key, slot);
    const radius = NODE_SPACING * 0.5 * Math.sqrt(slot);
    const angle = slot * 2.399963229728653;
    xy[2 * index] = (xy[2 * index] as number) + Math.cos(angle) * radius;
    xy[2 * index + 1] = (xy[2 * index + 1] as number) + Math.sin(angle) * radius;
    placed[index] = 1;
  });
  // Breadth-first from the known nodes: each new node starts beside the
  // mean of its already placed neighbours, on a small deterministic ring so
  // siblings do not start on top of each other.
  const queue: number[] = [];
  placed.forEach((flag, index) => {
    if (flag) queue.push(index);
  });
  const siblings = new Map<number, number>();
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as number;
    for (const next of graph.neighbours[node] ?? []) {
      if (placed[next]) continue;
      let sx = 0;
      let sy = 0;
      let count = 0;
      for (const other of graph.neighbours[next] ?? []) {
        if (!placed[other]) continue;
        sx += xy[2 * other] as number;
        sy += xy[2 * other + 1] as number;
        count += 1;
      }
      const slot = siblings.get(node) ?? 0;
      siblings.set(node, slot + 1);
      const angle = Math.PI / 2 + slot * 2.399963229728653;
      xy[2 * next] = sx / count + Math.cos(angle) * NODE_SPACING;
      xy[2 * next + 1] = sy / count + Math.sin(angle) * NODE_SPACING;
      placed[next] = 1;
      queue.push(next);
    }
  }

  // Whatever is still unplaced has no path to a known node: new components.
  const orphans = components(graph).filter((members) => members.some((node) => !placed[node]));
  if (orphans.length > 0) {
    for (const members of orphans) {
      if (members.length <= LAYERED_MAX_NODES) layeredLayout(graph, members, xy);
      else {
        spiralStart(graph, members, xy);
        forceLayout(graph, members, xy, new Uint8Array(graph.ids.length), {
          ticks: 200,
          budgetMs: 400,
          initialHeat: 3,
          gravity: 0.05,
        });
      }
    }
    const existing = bounds(
      graph.ids.map((_, index) => index).filter((index) => placed[index]),
      xy,
      graph.halfRooms,
    );
    const hasExisting = existing.width > 0 || existing.height > 0 || placed.some((flag) => flag === 1);
    packComponents(orphans, xy, graph.halfRooms, existing.minX, hasExisting ? existing.minY + existing.height + NODE_SPACING * 1.5 : 0);
    // Laid out whole and packed clear of the rest: the settling pass below
    // would only squeeze their label-spaced rows together.
    for (const members of orphans) for (const node of members) settled[node] = 1;
  }

  const movable = graph.ids.map((_, index) => index);
  forceLayout(graph, movable, xy, settled, { ticks: 60, budgetMs: 300, initialHeat: 0.6, gravity: 0, anchor: 0.5 });
}
