// The geometry of a sparkline: samples in, SVG path data out. Pure, so the
// few-samples cases are tested without a browser.
//
// The app samples every 10 s, so a freshly opened panel often has one or two
// samples, or none yet while the node's value is already known. One value
// draws as a flat line at its height with a dot at the end; none at all
// draws nothing (the caller shows the value in words either way).

import type { MetricSample } from '../lib/api-types';

export interface SparklineShape {
  /** SVG path of the line. */
  line: string;
  /** SVG path of the area under the line, down to the baseline. */
  area: string;
  /** The latest point, marked with a dot. */
  last: { x: number; y: number };
  /** Samples drawn (1 when only the fallback value was known). */
  points: number;
}

export interface SparklineFrame {
  width: number;
  height: number;
  /** Room kept clear at every edge, so the line and dot are not clipped. */
  pad: number;
  /**
   * The scale's top is at least this: 1 for CPU percent, so 0.3% draws low
   * instead of filling the box; 0 lets memory scale to its own maximum.
   */
  floor: number;
}

export function sparklineShape(
  samples: readonly MetricSample[],
  fallback: number | null | undefined,
  frame: SparklineFrame,
): SparklineShape | null {
  let points = samples.filter((sample) => Number.isFinite(sample.t) && Number.isFinite(sample.v));
  if (points.length === 0 && fallback !== null && fallback !== undefined && Number.isFinite(fallback)) {
    points = [{ t: 0, v: fallback }];
  }
  const first = points[0];
  const latest = points[points.length - 1];
  if (!first || !latest) return null;

  const { width, height, pad, floor } = frame;
  const values = points.map((point) => point.v);
  const low = Math.min(0, ...values);
  const high = Math.max(floor, ...values);
  const bottom = height - pad;
  const y = (v: number) => (high > low ? bottom - ((v - low) / (high - low)) * (height - 2 * pad) : bottom);
  const span = latest.t - first.t;

  let coords: Array<[number, number]>;
  if (span <= 0) {
    // One moment known: the value, drawn across the whole box.
    coords = [
      [pad, y(latest.v)],
      [width - pad, y(latest.v)],
    ];
  } else {
    coords = points.map((point) => [pad + ((point.t - first.t) / span) * (width - 2 * pad), y(point.v)]);
  }
  const line = coords.map(([px, py], index) => `${index === 0 ? 'M' : 'L'}${round(px)},${round(py)}`).join(' ');
  const [startX] = coords[0] as [number, number];
  const [endX, endY] = coords[coords.length - 1] as [number, number];
  const area = `${line} L${round(endX)},${round(bottom)} L${round(startX)},${round(bottom)} Z`;
  return { line, area, last: { x: round(endX), y: round(endY) }, points: span <= 0 ? 1 : points.length };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
