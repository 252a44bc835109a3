import { describe, expect, it } from 'vitest';

import { type SparklineFrame, sparklineShape } from './sparkline-shape';

const frame: SparklineFrame = { width: 100, height: 20, pad: 2, floor: 1 };

describe('sparklineShape', () => {
  it('draws nothing without samples or a value', () => {
    expect(sparklineShape([], null, frame)).toBeNull();
    expect(sparklineShape([], undefined, frame)).toBeNull();
  });

  it('draws one sample as a flat line across the box, dot at the end', () => {
    const shape = sparklineShape([{ t: 1000, v: 0.5 }], null, frame);
    // Half of the floor (1) on a 16 px tall scale, from the bottom at 18.
    expect(shape?.line).toBe('M2,10 L98,10');
    expect(shape?.last).toEqual({ x: 98, y: 10 });
    expect(shape?.points).toBe(1);
  });

  it('falls back to the current value before the first sample', () => {
    expect(sparklineShape([], 1, frame)?.line).toBe('M2,2 L98,2');
  });

  it('draws two samples as a line from edge to edge', () => {
    const shape = sparklineShape(
      [
        { t: 0, v: 0 },
        { t: 10_000, v: 4 },
      ],
      4,
      frame,
    );
    expect(shape?.line).toBe('M2,18 L98,2');
    expect(shape?.area).toBe('M2,18 L98,2 L98,18 L2,18 Z');
    expect(shape?.points).toBe(2);
  });

  it('places samples by time and keeps zero at the baseline', () => {
    const shape = sparklineShape(
      [
        { t: 0, v: 100 },
        { t: 10, v: 100 },
        { t: 40, v: 200 },
      ],
      null,
      { ...frame, floor: 0 },
    );
    expect(shape?.line).toBe('M2,10 L26,10 L98,2');
  });

  it('keeps all-zero samples on the baseline', () => {
    const shape = sparklineShape(
      [
        { t: 0, v: 0 },
        { t: 10, v: 0 },
      ],
      0,
      { ...frame, floor: 0 },
    );
    expect(shape?.line).toBe('M2,18 L98,18');
  });
});
