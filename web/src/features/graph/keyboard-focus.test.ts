import { describe, expect, it } from 'vitest';

import { nextInDirection } from './keyboard-focus';

const points = [
  { id: 'centre', x: 0, y: 0 },
  { id: 'right', x: 100, y: 10 },
  { id: 'far-right', x: 300, y: 0 },
  { id: 'below', x: 5, y: 120 },
  { id: 'diagonal', x: 80, y: 90 },
];

describe('nextInDirection', () => {
  it('moves to the nearest node that way, preferring one straight ahead', () => {
    const from = points[0]!;
    expect(nextInDirection(from, points, 'right')?.id).toBe('right');
    expect(nextInDirection(from, points, 'down')?.id).toBe('below');
    expect(nextInDirection(from, points, 'left')).toBeNull();
    expect(nextInDirection(points[1]!, points, 'right')?.id).toBe('far-right');
  });
});
