// Places new nodes among nodes the user already sees, moving none of them.
//
// A map that re-settles on every change makes people lose their place: in
// the first trials a burst of six containers moved every node on screen by
// up to 367 px. So known nodes are fixed, and each new node gets the nearest
// free spot next to the nodes it connects to (above them when it is their
// client, below when it is their server, as in the layered layout). "Free"
// means its box (the node plus its caption, see `halfRoom`) overlaps no
// other box. No force pass runs, so the cost is a few hundred box tests per
// new node, whatever the size of the view.

import { components, type IndexedGraph } from './graph-index';
import { NODE_SPACING } from './layout-types';

/** Part of a node's box above its centre (the shape and a margin). */
export const BOX_ABOVE = 28;
/** Part below its centre: the shape, a two-line caption and a margin. */
export const BOX_BELOW = 62;
/** Two boxes whose centres are at least this far apart vertically never overlap. */
const ROW_CLEAR = BOX_ABOVE + BOX_BELOW;
/** Candidate spots lie on a lattice this fine around the anchor. */
const STEP_X = 30;
const STEP_Y = NODE_SPACING / 2;
/** How far from its anchor a node may be put before giving up on the lattice. */
const REACH = 2400;
const CELL = 256;

/** Boxes of placed nodes in a spatial hash, for quick "is this spot free" tests. */
export class Occupancy {
  private cells = new Map<number, number[]>();
  private widest = 0;

  constructor(
    private readonly xy: Float64Array,
    private readonly halfRooms: readonly number[],
  ) {}

  add(node: number): void {
    const key = cellKey(Math.floor((this.xy[2 * node] as number) / CELL), Math.floor((this.xy[2 * node + 1] as number) / CELL));
    const list = this.cells.get(key);
    if (list) list.push(node);
    else this.cells.set(key, [node]);
    this.widest = Math.max(this.widest, this.halfRooms[node] ?? 0);
  }

  /** True when a node of half-width `half` centred at (x, y) overlaps no placed box. */
  isFree(x: number, y: number, half: number): boolean {
    const reachX = half + this.widest;
    const x0 = Math.floor((x - reachX) / CELL);
    const x1 = Math.floor((x + reachX) / CELL);
    const y0 = Math.floor((y - ROW_CLEAR) / CELL);
    const y1 = Math.floor((y + ROW_CLEAR) / CELL);
    for (let cx = x0; cx <= x1; cx++) {
      for (let cy = y0; cy <= y1; cy++) {
        const list = this.cells.get(cellKey(cx, cy));
        if (!list) continue;
        for (const other of list) {
          const dy = Math.abs((this.xy[2 * other + 1] as number) - y);
          if (dy >= ROW_CLEAR) continue;
          const dx = Math.abs((this.xy[2 * other] as number) - x);
          if (dx < half + (this.halfRooms[other] ?? 0)) return false;
        }
      }
    }
    return true;
  }

  /** True when every node of a box of that size at (left, top) would be clear of placed boxes. */
  isBoxFree(left: number, top: number, width: number, height: number): boolean {
    const x0 = Math.floor((left - this.widest) / CELL);
    const x1 = Math.floor((left + width + this.widest) / CELL);
    const y0 = Math.floor((top - ROW_CLEAR) / CELL);
    const y1 = Math.floor((top + height + ROW_CLEAR) / CELL);
    for (let cx = x0; cx <= x1; cx++) {
      for (let cy = y0; cy <= y1; cy++) {
        const list = this.cells.get(cellKey(cx, cy));
        if (!list) continue;
        for (const other of list) {
          const ox = this.xy[2 * other] as number;
          const oy = this.xy[2 * other + 1] as number;
          const half = this.halfRooms[other] ?? 0;
          if (ox + half > left && ox - half < left + width && oy + BOX_BELOW > top && oy - BOX_ABOVE < top + height) {
            return false;
          }
        }
      }
    }
    return true;
  }
}

function cellKey(cx: number, cy: number): number {
  return (cx + 0x8000) * 0x10000 + (cy + 0x8000);
}

/** Which side of its anchor a new node prefers: its servers below it, its clients above. */
type Side = 'above' | 'below' | 'any';

let lattices: Record<Side, Int16Array> | null = null;

/** Candidate offsets from an anchor, nearest first (with a small bias towards the preferred side). */
function lattice(side: Side): Int16Array {
  if (!lattices) {
    const offsets: Array<[number, number]> = [];
    const nx = Math.floor(REACH / STEP_X);
    const ny = Math.floor(REACH / STEP_Y);
    for (let i = -nx; i <= nx; i++) {
      for (let j = -ny; j <= ny; j++) {
        if (i === 0 && j === 0) continue;
        const dx = i * STEP_X;
        const dy = j * STEP_Y;
        if (Math.hypot(dx, dy) <= REACH) offsets.push([dx, dy]);
      }
    }
    const build = (bias: number): Int16Array => {
      // Vertical distance counts a little more: rows read better than columns.
      const cost = ([dx, dy]: [number, number]) => Math.hypot(dx, dy * 1.15) + (Math.sign(dy) === -bias ? 150 : 0);
      const sorted = [...offsets].sort((a, b) => cost(a) - cost(b) || a[1] - b[1] || a[0] - b[0]);
      const flat = new Int16Array(sorted.length * 2);
      sorted.forEach(([dx, dy], index) => {
        flat[2 * index] = dx;
        flat[2 * index + 1] = dy;
      });
      return flat;
    };
    lattices = { above: build(-1), below: build(1), any: build(0) };
  }
  return lattices[side];
}

/**
 * Builds the candidate lattices ahead of need (some tens of ms): the worker
 * does it while idle after the first layout, so the first burst of new
 * nodes does not pay for it.
 */
export function warmPlacement(): void {
  lattice('any');
}

/** Puts `node` at the free spot nearest to (ax, ay); false when none is within reach. */
function placeNear(node: number, ax: number, ay: number, side: Side, xy: Float64Array, halfRooms: readonly number[], occupied: Occupancy): boolean {
  const half = halfRooms[node] ?? NODE_SPACING / 2;
  if (occupied.isFree(ax, ay, half) && side === 'any') {
    xy[2 * node] = ax;
    xy[2 * node + 1] = ay;
    return true;
  }
  const offsets = lattice(side);
  for (let index = 0; index < offsets.length; index += 2) {
    const x = ax + (offsets[index] as number);
    const y = ay + (offsets[index + 1] as number);
    if (occupied.isFree(x, y, half)) {
      xy[2 * node] = x;
      xy[2 * node + 1] = y;
      return true;
    }
  }
  return false;
}

export interface PlacementInput {
  graph: IndexedGraph;
  /** x at 2i, y at 2i+1; known and hinted entries are read, new ones written. */
  xy: Float64Array;
  /** 1 for nodes the user already sees: never moved. */
  known: Uint8Array;
  /** 1 for nodes with a start hint in `xy` (the spot of the group they came out of). */
  hinted: Uint8Array;
  /** Lays out one new component on its own (positions relative to anything). */
  layoutComponent: (members: number[]) => void;
}

/**
 * Gives every node that is neither known nor placed a spot, leaving known
 * nodes exactly where they are.
 */
export function placeNewNodes({ graph, xy, known, hinted, layoutComponent }: PlacementInput): void {
  const count = graph.ids.length;
  const placed = Uint8Array.from(known);
  const occupied = new Occupancy(xy, graph.halfRooms);
  let minX = Infinity;
  let maxY = -Infinity;
  for (let node = 0; node < count; node++) {
    if (!known[node]) continue;
    occupied.add(node);
    minX = Math.min(minX, xy[2 * node] as number);
    maxY = Math.max(maxY, xy[2 * node + 1] as number);
  }
  const outgoing = directedNeighbours(graph);

  // Hinted nodes first: each takes the free spot nearest its hint.
  for (let node = 0; node < count; node++) {
    if (!hinted[node] || placed[node]) continue;
    const hx = xy[2 * node] as number;
    const hy = xy[2 * node + 1] as number;
    if (!placeNear(node, hx, hy, 'any', xy, graph.halfRooms, occupied)) continue;
    placed[node] = 1;
    occupied.add(node);
  }

  // Then breadth-first from everything placed: a new node goes next to the
  // mean of its placed neighbours, so its edges stay short.
  const queue: number[] = [];
  for (let node = 0; node < count; node++) if (placed[node]) queue.push(node);
  for (let head = 0; head < queue.length; head++) {
    const from = queue[head] as number;
    for (const node of graph.neighbours[from] ?? []) {
      if (placed[node]) continue;
      let sx = 0;
      let sy = 0;
      let n = 0;
      let servers = 0;
      let clients = 0;
      for (const other of graph.neighbours[node] ?? []) {
        if (!placed[other]) continue;
        sx += xy[2 * other] as number;
        sy += xy[2 * other + 1] as number;
        n += 1;
        if (outgoing[node]?.has(other)) servers += 1;
        else clients += 1;
      }
      const side: Side = servers > clients ? 'above' : clients > servers ? 'below' : 'any';
      if (!placeNear(node, sx / n, sy / n, side, xy, graph.halfRooms, occupied)) continue;
      placed[node] = 1;
      occupied.add(node);
      queue.push(node);
    }
  }

  // What is left has no path to a placed node: new components. Each is laid
  // out on its own, then put in free space: near nodes of its rank (same
  // image, same container) if there are any, else on a shelf below the map.
  const rankCentre = rankCentres(graph, xy, placed);
  const shelfLeft = minX === Infinity ? 0 : minX;
  const shelfTop = maxY === -Infinity ? 0 : maxY + NODE_SPACING;
  for (const members of components(graph)) {
    const fresh = members.filter((node) => !placed[node]);
    if (fresh.length === 0) continue;
    layoutComponent(fresh);
    const box = componentBox(fresh, xy, graph.halfRooms);
    const centre = rankCentre.get(graph.ranks[fresh[0] as number] ?? '');
    const spot =
      (centre && findBoxNear(centre.x - box.width / 2, centre.y, box, occupied)) ??
      findOnShelf(shelfLeft, shelfTop, box, occupied);
    for (const node of fresh) {
      xy[2 * node] = (xy[2 * node] as number) - box.left + spot.x;
      xy[2 * node + 1] = (xy[2 * node + 1] as number) - box.top + spot.y;
      placed[node] = 1;
      occupied.add(node);
    }
  }
}

/** For each node, the set of nodes it is a client of. */
function directedNeighbours(graph: IndexedGraph): Array<Set<number>> {
  return graph.outgoing.map((targets) => new Set(targets));
}

/** Centre of the placed nodes of each rank. */
function rankCentres(graph: IndexedGraph, xy: Float64Array, placed: Uint8Array): Map<string, { x: number; y: number }> {
  const sums = new Map<string, { x: number; y: number; n: number }>();
  graph.ranks.forEach((rank, node) => {
    if (!placed[node] || rank === '') return;
    const sum = sums.get(rank) ?? { x: 0, y: 0, n: 0 };
    sum.x += xy[2 * node] as number;
    sum.y += xy[2 * node + 1] as number;
    sum.n += 1;
    sums.set(rank, sum);
  });
  return new Map([...sums].map(([rank, sum]) => [rank, { x: sum.x / sum.n, y: sum.y / sum.n }]));
}

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The box a laid-out component takes: node centres widened by captions; top and left at the first centre. */
function componentBox(members: number[], xy: Float64Array, halfRooms: readonly number[]): Box {
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  let left = Infinity;
  for (const node of members) {
    const x = xy[2 * node] as number;
    const y = xy[2 * node + 1] as number;
    const half = halfRooms[node] ?? 0;
    minX = Math.min(minX, x - half);
    maxX = Math.max(maxX, x + half);
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
    left = Math.min(left, x - half);
  }
  // `left`/`top` are where the component's own coordinates start; the box
  // proper reaches BOX_ABOVE above the top row and BOX_BELOW under the last.
  return { left, top: minY, width: maxX - minX, height: maxY - minY };
}

/** Top-left spot (in component coordinates: x at the box's left, y at its top row) near (x, y). */
function findBoxNear(x: number, y: number, box: Box, occupied: Occupancy): { x: number; y: number } | null {
  const offsets = lattice('any');
  const fits = (left: number, top: number) =>
    occupied.isBoxFree(left, top - BOX_ABOVE, box.width, box.height + BOX_ABOVE + BOX_BELOW);
  if (fits(x, y)) return { x, y };
  for (let index = 0; index < offsets.length; index += 2) {
    const left = x + (offsets[index] as number);
    const top = y + (offsets[index + 1] as number);
    if (fits(left, top)) return { x: left, y: top };
  }
  return null;
}

/** Left to right, then row by row, below the map: where unrelated newcomers line up. */
function findOnShelf(left: number, top: number, box: Box, occupied: Occupancy): { x: number; y: number } {
  const rowWidth = Math.max(1200, box.width);
  for (let row = 0; row < 200; row++) {
    const y = top + row * NODE_SPACING;
    for (let x = left; x <= left + rowWidth - box.width; x += STEP_X) {
      if (occupied.isBoxFree(x, y - BOX_ABOVE, box.width, box.height + BOX_ABOVE + BOX_BELOW)) return { x, y };
    }
  }
  return { x: left, y: top + 200 * NODE_SPACING };
}
