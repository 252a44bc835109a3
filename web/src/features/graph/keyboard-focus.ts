// Moving the keyboard focus between nodes of the map with the arrow keys:
// the next node is the nearest one in that direction, where a node straight
// ahead beats a closer one far off to the side.

export type Direction = 'up' | 'down' | 'left' | 'right';

export interface FocusPoint {
  id: string;
  x: number;
  y: number;
}

/** The node to move to from `from` in `direction`, or null when there is none that way. */
export function nextInDirection<T extends FocusPoint>(from: FocusPoint, points: T[], direction: Direction): T | null {
  let best: T | null = null;
  let bestCost = Infinity;
  for (const point of points) {
    if (point.id === from.id) continue;
    const dx = point.x - from.x;
    const dy = point.y - from.y;
    const [ahead, aside] =
      direction === 'up' ? [-dy, dx] : direction === 'down' ? [dy, dx] : direction === 'left' ? [-dx, dy] : [dx, dy];
    // Only what lies within 45° of the direction counts as "that way".
    if (ahead <= 0 || Math.abs(aside) > ahead) continue;
    const cost = ahead + 2 * Math.abs(aside);
    if (cost < bestCost) {
      best = point;
      bestCost = cost;
    }
  }
  return best;
}
