// Places laid-out components side by side in rows (largest first), so
// separate groups of containers do not overlap or drift apart.

import { NODE_SPACING } from './layout-types';

/**
 * Moves each component's nodes in `xy` into its slot; returns the bounds.
 * `halfRooms` (per node, see halfRoom) widens each box by its nodes'
 * labels, so labels of neighbouring components do not run into each other.
 */
export function packComponents(
  parts: number[][],
  xy: Float64Array,
  halfRooms: readonly number[],
  originX = 0,
  originY = 0,
): { width: number; height: number } {
  const boxes = parts.map((members) => bounds(members, xy, halfRooms));
  const totalArea = boxes.reduce((sum, box) => sum + box.width * (box.height + NODE_SPACING), 0);
  const widest = Math.max(0, ...boxes.map((box) => box.width));
  // Aim for a landscape block, a bit wider than tall, like a screen.
  const rowWidth = Math.max(widest, Math.sqrt(totalArea) * 1.4);

  let x = 0;
  let y = 0;
  let rowHeight = 0;
  let usedWidth = 0;
  parts.forEach((members, index) => {
    const box = boxes[index] as Box;
    const { width } = box;
    if (x > 0 && x + width > rowWidth) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    for (const node of members) {
      xy[2 * node] = (xy[2 * node] as number) - box.minX + x + originX;
      xy[2 * node + 1] = (xy[2 * node + 1] as number) - box.minY + y + originY;
    }
    x += width;
    usedWidth = Math.max(usedWidth, x);
    rowHeight = Math.max(rowHeight, box.height + NODE_SPACING);
  });
  return { width: usedWidth, height: y + rowHeight };
}

interface Box {
  minX: number;
  minY: number;
  width: number;
  height: number;
}

/**
 * The box around `members`' centres; with `halfRooms`, around the room each
 * takes sideways instead (so x spans the labels, y still the centres).
 */
export function bounds(members: Iterable<number>, xy: Float64Array, halfRooms?: readonly number[]): Box {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const node of members) {
    const x = xy[2 * node] as number;
    const y = xy[2 * node + 1] as number;
    const half = halfRooms?.[node] ?? 0;
    minX = Math.min(minX, x - half);
    maxX = Math.max(maxX, x + half);
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  if (minX === Infinity) return { minX: 0, minY: 0, width: 0, height: 0 };
  return { minX, minY, width: maxX - minX, height: maxY - minY };
}
