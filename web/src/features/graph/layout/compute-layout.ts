// Picks and runs a layout for one request. Pure computation: it runs inside
// the layout worker, and in unit tests directly.
//
// - No positions yet (first load, new view): every connected component is
//   laid out on its own (layered when small, force when large) and the
//   components are packed in rows.
// - Some positions known (a diff arrived): known nodes stay exactly where
//   they are, whatever share of the picture is new; new nodes take the
//   nearest free spot beside their placed neighbours (place-new.ts).

import { forceLayout, spiralStart } from './force-layout';
import { components, indexGraph, type IndexedGraph } from './graph-index';
import { layeredLayout } from './layered-layout';
import type { LayoutAlgorithm, LayoutRequest, LayoutResult, Point } from './layout-types';
import { packComponents } from './pack-components';
import { placeNewNodes } from './place-new';

/** Components up to this size get the layered (clients above servers) look. */
export const LAYERED_MAX_NODES = 150;
/**
 * Time the whole force phase may take: 1.2 s up to 5,000 nodes (the
 * 2,000-node target is 2 s in all), less above, where drawing the nodes
 * costs more than the layout and the target for 10,000 is 2 s too. At
 * 10,000 nodes 240 ms buys about 65 ticks, as 600 ms did before the far
 * field visited only the cells within reach and the near field read its
 * block of cells from flat arrays (force-layout.ts): the same picture in
 * less than half the time.
 */
function forceBudgetMs(nodes: number): number {
  return nodes <= 5000 ? 1200 : Math.max(150, (1200 * 2000) / nodes);
}

export function computeLayout(request: LayoutRequest): LayoutResult {
  const started = performance.now();
  const graph = indexGraph(request.nodes, request.edges);
  const xy = new Float64Array(graph.ids.length * 2);
  const known = new Uint8Array(graph.ids.length);
  const hinted = new Uint8Array(graph.ids.length);
  let knownCount = 0;
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
    }
  });

  // Once anything is on screen it stays where it is, however much is new:
  // only the user (Re-layout, which sends no previous positions) starts over.
  let algorithm: LayoutAlgorithm;
  if (knownCount > 0) {
    placeNewNodes({
      graph,
      xy,
      known,
      hinted,
      layoutComponent: (members) => layoutComponent(graph, members, xy, 400),
    });
    algorithm = 'incremental';
  } else {
    algorithm = layoutFromScratch(graph, xy);
  }

  const positions: Record<string, Point> = {};
  graph.ids.forEach((id, index) => {
    // Known nodes go back exactly as they came: even rounding would move them.
    positions[id] = known[index]
      ? { ...(request.previous[id] as Point) }
      : { x: round(xy[2 * index] as number), y: round(xy[2 * index + 1] as number) };
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
  for (const members of parts) {
    if (members.length > LAYERED_MAX_NODES) usedForce = true;
    // Share the time budget by size so one giant part cannot starve others.
    layoutComponent(graph, members, xy, (forceBudgetMs(total) * members.length) / total);
  }
  packComponents(parts, xy, graph.halfRooms);
  return usedForce ? 'force' : 'layered';
}

/** Lays out one component from scratch: layered when small, force when large. */
function layoutComponent(graph: IndexedGraph, members: number[], xy: Float64Array, budgetMs: number): void {
  if (members.length <= LAYERED_MAX_NODES) {
    layeredLayout(graph, members, xy);
    return;
  }
  spiralStart(graph, members, xy);
  forceLayout(graph, members, xy, new Uint8Array(graph.ids.length), {
    ticks: 200,
    budgetMs,
    initialHeat: 1.5,
    gravity: 0.08,
  });
}
