import { describe, expect, it } from 'vitest';

import { gridBelow } from './graph-canvas';

describe('gridBelow', () => {
  it('lines new nodes up below the map when no layout can be computed, keeping known ones', () => {
    const result = gridBelow(
      [
        { id: 'old', rank: '' },
        { id: 'new', rank: '' },
      ],
      { old: { x: 10, y: 300 } },
    );
    expect(result.positions.old).toEqual({ x: 10, y: 300 });
    expect(result.positions.new!.y).toBeGreaterThan(300);
  });
});
