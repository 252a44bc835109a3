// A force-directed layout fast enough for thousands of nodes.
//
// d3-force's many-body force measured ~20 ms per tick at 2,000 nodes here, so
// 300 ticks alone blow the 2 s budget. This is Fruchterman-Reingold with a
// two-level grid instead: exact repulsion from nodes in the 3x3 neighbouring
// cells, and one pseudo-node per farther cell at its centroid (a one-level
// Barnes-Hut). On typed arrays that is about 1-3 ms per tick at 2,000 nodes.
// Start positions follow a breadth-first spiral, so neighbours begin close
// and far fewer ticks are needed than from random positions.

import type { IndexedGraph } from './graph-index';
import { NODE_SPACING } from './layout-types';

export interface ForceOptions {
  /** Upper bound on iterations. */
  ticks: number;
  /** Stop early once this much wall time has passed. */
  budgetMs: number;
  /** Start temperature (max move per tick) as a multiple of the edge length. */
  initialHeat: number;
  /** Pull towards the centroid; 0 when pinned nodes already anchor the picture. */
  gravity: number;
  /**
   * Pull of each free node back to where it started; keeps new nodes with
   * no edge to hold them (an opened group's idle members) from drifting off.
   */
  anchor?: number;
}

const IDEAL_EDGE = NODE_SPACING * 0.9;
/** Repulsion reach, in edge lengths. */
const REPULSION_RANGE = 6;

/**
 * Lays out `members` (indices into `graph`) by moving their entries in `xy`
 * (x at 2i, y at 2i+1), except those flagged in `pinned`, which repel and
 * attract but stay where they are.
 */
export function forceLayout(
  graph: IndexedGraph,
  members: number[],
  xy: Float64Array,
  pinned: Uint8Array,
  options: ForceOptions,
): void {
  const count = members.length;
  if (count < 2) return;
  const local = new Map<number, number>();
  members.forEach((node, index) => local.set(node, index));

  const xs = new Float64Array(count);
  const ys = new Float64Array(count);
  const fixed = new Uint8Array(count);
  members.forEach((node, index) => {
    xs[index] = xy[2 * node] ?? 0;
    ys[index] = xy[2 * node + 1] ?? 0;
    fixed[index] = pinned[node] ?? 0;
  });

  // Undirected edges between members, each once, as local index pairs.
  const edgeFrom: number[] = [];
  const edgeTo: number[] = [];
  for (const [node, index] of local) {
    for (const other of graph.neighbours[node] ?? []) {
      const otherIndex = local.get(other);
      if (otherIndex !== undefined && otherIndex > index) {
        edgeFrom.push(index);
        edgeTo.push(otherIndex);
      }
    }
  }

  const startX = Float64Array.from(xs);
  const startY = Float64Array.from(ys);
  const anchor = options.anchor ?? 0;
  const dx = new Float64Array(count);
  const dy = new Float64Array(count);
  const k2 = IDEAL_EDGE * IDEAL_EDGE;
  const started = performance.now();
  const startHeat = IDEAL_EDGE * options.initialHeat;

  for (let tick = 0; tick < options.ticks; tick++) {
    const heat = startHeat * (1 - tick / options.ticks) + IDEAL_EDGE * 0.02;
    dx.fill(0);
    dy.fill(0);
    repel(xs, ys, fixed, dx, dy, k2, tick);
    for (let e = 0; e < edgeFrom.length; e++) {
      const a = edgeFrom[e] as number;
      const b = edgeTo[e] as number;
      const ex = (xs[a] as number) - (xs[b] as number);
      const ey = (ys[a] as number) - (ys[b] as number);
      const distance = Math.sqrt(ex * ex + ey * ey) + 0.01;
      const pull = distance / IDEAL_EDGE;
      dx[a] = (dx[a] as number) - ex * pull;
      dy[a] = (dy[a] as number) - ey * pull;
      dx[b] = (dx[b] as number) + ex * pull;
      dy[b] = (dy[b] as number) + ey * pull;
    }
    if (options.gravity > 0) applyGravity(xs, ys, fixed, dx, dy, options.gravity);
    if (anchor > 0) {
      for (let i = 0; i < count; i++) {
        dx[i] = (dx[i] as number) - ((xs[i] as number) - (startX[i] as number)) * anchor;
        dy[i] = (dy[i] as number) - ((ys[i] as number) - (startY[i] as number)) * anchor;
      }
    }
    for (let i = 0; i < count; i++) {
      if (fixed[i]) continue;
      const mx = dx[i] as number;
      const my = dy[i] as number;
      const length = Math.sqrt(mx * mx + my * my);
      if (length === 0) continue;
      const step = Math.min(length, heat) / length;
      xs[i] = (xs[i] as number) + mx * step;
      ys[i] = (ys[i] as number) + my * step;
    }
    if (performance.now() - started > options.budgetMs) break;
  }

  members.forEach((node, index) => {
    if (fixed[index]) return;
    xy[2 * node] = xs[index] as number;
    xy[2 * node + 1] = ys[index] as number;
  });
}

/** Grid-approximated repulsion k²/d, accumulated into dx/dy for free nodes. */
function repel(
  xs: Float64Array,
  ys: Float64Array,
  fixed: Uint8Array,
  dx: Float64Array,
  dy: Float64Array,
  k2: number,
  tick: number,
): void {
  const count = xs.length;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < count; i++) {
    const x = xs[i] as number;
    const y = ys[i] as number;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  // About four nodes per cell keeps the exact near part cheap.
  const cellsAcross = Math.max(1, Math.min(64, Math.ceil(Math.sqrt(count / 4))));
  const cellW = (maxX - minX) / cellsAcross + 1e-6;
  const cellH = (maxY - minY) / cellsAcross + 1e-6;
  // The grid moves by a fraction of a cell every tick. A fixed grid gives
  // every node of a cell the same far push and the same exact/approximate
  // border, and a big layout settled with faint rows and columns along the
  // cell edges. Low-discrepancy offsets (golden ratio) keep it deterministic.
  minX -= cellW * ((tick * 0.6180339887) % 1);
  minY -= cellH * ((tick * 0.7548776662 + 0.5) % 1);
  const side = cellsAcross + 1;
  const cells = side * side;
  const cellCount = new Float64Array(cells);
  const cellX = new Float64Array(cells);
  const cellY = new Float64Array(cells);
  const head = new Int32Array(cells).fill(-1);
  const next = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const gx = Math.min(side - 1, Math.floor(((xs[i] as number) - minX) / cellW));
    const gy = Math.min(side - 1, Math.floor(((ys[i] as number) - minY) / cellH));
    const cell = gy * side + gx;
    next[i] = head[cell] as number;
    head[cell] = i;
    cellCount[cell] = (cellCount[cell] as number) + 1;
    cellX[cell] = (cellX[cell] as number) + (xs[i] as number);
    cellY[cell] = (cellY[cell] as number) + (ys[i] as number);
  }
  // Occupied cells packed into flat arrays: the far-field loop below runs
  // once per node per cell, so it must touch nothing but numbers.
  let occupiedCount = 0;
  const occX = new Float64Array(cells);
  const occY = new Float64Array(cells);
  const occN = new Float64Array(cells);
  const occGx = new Int32Array(cells);
  const occGy = new Int32Array(cells);
  const occCell = new Int32Array(cells);
  for (let cell = 0; cell < cells; cell++) {
    const n = cellCount[cell] as number;
    if (n === 0) continue;
    occX[occupiedCount] = (cellX[cell] as number) / n;
    occY[occupiedCount] = (cellY[cell] as number) / n;
    occN[occupiedCount] = n * k2;
    occGx[occupiedCount] = cell % side;
    occGy[occupiedCount] = Math.floor(cell / side);
    occCell[occupiedCount] = cell;
    occupiedCount += 1;
  }

  // Far field, cell to cell: every node of a cell gets the push computed at
  // the cell's centroid from all non-adjacent cells. That is cells² work per
  // tick instead of nodes × cells, and the error is small because far cells
  // are at least one cell width away.
  // Unbounded k²/d repulsion flings leaves of a big graph a dozen edge
  // lengths out (a pendant node settles where n·k²/d meets d²/k); cutting it
  // off at a distance keeps the picture compact, and gravity holds it together.
  const cutoff2 = (IDEAL_EDGE * REPULSION_RANGE) ** 2;
  const slotOfCell = new Int32Array(cells).fill(-1);
  for (let o = 0; o < occupiedCount; o++) slotOfCell[occCell[o] as number] = o;
  // Only cells within the cutoff can push, so each cell visits the block of
  // cells around it that the cutoff can reach (one more for rounding), in the
  // same order as a scan of all cells: the sums, and so the layout, are the
  // same as scanning every cell, which at 10,000 nodes (2,500 cells) was most
  // of each tick.
  const reachX = Math.ceil(Math.sqrt(cutoff2) / cellW) + 1;
  const reachY = Math.ceil(Math.sqrt(cutoff2) / cellH) + 1;
  const farX = new Float64Array(occupiedCount);
  const farY = new Float64Array(occupiedCount);
  for (let a = 0; a < occupiedCount; a++) {
    const ax = occX[a] as number;
    const ay = occY[a] as number;
    const agx = occGx[a] as number;
    const agy = occGy[a] as number;
    let fx = 0;
    let fy = 0;
    const lastY = Math.min(side - 1, agy + reachY);
    const firstX = Math.max(0, agx - reachX);
    const lastX = Math.min(side - 1, agx + reachX);
    for (let gy = Math.max(0, agy - reachY); gy <= lastY; gy++) {
      const oy = gy - agy;
      for (let gx = firstX; gx <= lastX; gx++) {
        const b = slotOfCell[gy * side + gx] as number;
        if (b === -1) continue;
        const ox = gx - agx;
        if (ox <= 1 && ox >= -1 && oy <= 1 && oy >= -1) continue;
        const ex = ax - (occX[b] as number);
        const ey = ay - (occY[b] as number);
        const d2 = ex * ex + ey * ey + 1;
        if (d2 > cutoff2) continue;
        const push = (occN[b] as number) / d2;
        fx += ex * push;
        fy += ey * push;
      }
    }
    farX[a] = fx;
    farY[a] = fy;
  }

  // Near field, exact, from the 3x3 block of cells around each node. The
  // block's nodes are gathered once per cell, in the order the per-node walk
  // of the cells' lists visited them (so the sums are the same), and every
  // node of the cell then reads them from flat arrays.
  const blockIndex = new Int32Array(count);
  const blockX = new Float64Array(count);
  const blockY = new Float64Array(count);
  for (let o = 0; o < occupiedCount; o++) {
    const cell = occCell[o] as number;
    const gx = occGx[o] as number;
    const gy = occGy[o] as number;
    let size = 0;
    for (let ny = Math.max(0, gy - 1); ny <= Math.min(side - 1, gy + 1); ny++) {
      for (let nx = Math.max(0, gx - 1); nx <= Math.min(side - 1, gx + 1); nx++) {
        for (let j = head[ny * side + nx] as number; j !== -1; j = next[j] as number) {
          blockIndex[size] = j;
          blockX[size] = xs[j] as number;
          blockY[size] = ys[j] as number;
          size += 1;
        }
      }
    }
    for (let i = head[cell] as number; i !== -1; i = next[i] as number) {
      if (fixed[i]) continue;
      const x = xs[i] as number;
      const y = ys[i] as number;
      let fx = farX[o] as number;
      let fy = farY[o] as number;
      for (let b = 0; b < size; b++) {
        const j = blockIndex[b] as number;
        if (j === i) continue;
        let ex = x - (blockX[b] as number);
        let ey = y - (blockY[b] as number);
        let d2 = ex * ex + ey * ey;
        if (d2 < 1e-4) {
          // Coincident nodes: push apart in a direction derived from the
          // indices so the result stays deterministic.
          ex = Math.cos(i + j);
          ey = Math.sin(i + j);
          d2 = 1;
        }
        const push = k2 / d2;
        fx += ex * push;
        fy += ey * push;
      }
      dx[i] = (dx[i] as number) + fx;
      dy[i] = (dy[i] as number) + fy;
    }
  }
}

/** A weak pull to the centroid keeps loosely connected parts from drifting. */
function applyGravity(
  xs: Float64Array,
  ys: Float64Array,
  fixed: Uint8Array,
  dx: Float64Array,
  dy: Float64Array,
  strength: number,
): void {
  const count = xs.length;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < count; i++) {
    cx += xs[i] as number;
    cy += ys[i] as number;
  }
  cx /= count;
  cy /= count;
  for (let i = 0; i < count; i++) {
    if (fixed[i]) continue;
    dx[i] = (dx[i] as number) - ((xs[i] as number) - cx) * strength;
    dy[i] = (dy[i] as number) - ((ys[i] as number) - cy) * strength;
  }
}

/**
 * Start positions: a golden-angle spiral filled in breadth-first order from
 * the best-connected node, so each node starts near the ones it links to.
 */
export function spiralStart(graph: IndexedGraph, members: number[], xy: Float64Array): void {
  const inComponent = new Set(members);
  let root = members[0] as number;
  for (const node of members) {
    if ((graph.neighbours[node]?.length ?? 0) > (graph.neighbours[root]?.length ?? 0)) root = node;
  }
  const order: number[] = [];
  const seen = new Set<number>([root]);
  const queue = [root];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as number;
    order.push(node);
    for (const other of graph.neighbours[node] ?? []) {
      if (inComponent.has(other) && !seen.has(other)) {
        seen.add(other);
        queue.push(other);
      }
    }
  }
  for (const node of members) if (!seen.has(node)) order.push(node);
  order.forEach((node, position) => {
    const radius = IDEAL_EDGE * 0.6 * Math.sqrt(position);
    const angle = position * 2.399963229728653;
    xy[2 * node] = radius * Math.cos(angle);
    xy[2 * node + 1] = radius * Math.sin(angle);
  });
}
