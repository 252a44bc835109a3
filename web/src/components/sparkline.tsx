// A small live line chart of metric samples, drawn as SVG: a few dozen
// points re-rendered on every refresh of the details panel, so it follows
// the data with no chart state of its own.

import type { MetricSample } from '../lib/api-types';
import { sparklineShape } from './sparkline-shape';

export interface SparklineProps {
  samples: MetricSample[];
  /** The current value, drawn as a flat line while there are no samples yet. */
  value?: number | null;
  color: string;
  /** Lowest top of the scale (1 for percent, so small values draw low). */
  floor?: number;
  /** Describes the chart for the tooltip and screen readers. */
  label: string;
  width?: number;
  height?: number;
}

export function Sparkline({ samples, value, color, floor = 0, label, width = 220, height = 36 }: SparklineProps) {
  const shape = sparklineShape(samples, value, { width, height, pad: 3, floor });
  // Drawn in a width x height box and stretched to the panel's width; strokes
  // keep their width, and the end dot is a round cap of a zero-length path
  // so it stays round when stretched.
  return (
    <svg
      class="sparkline"
      width="100%"
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={label}
      data-points={shape?.points ?? 0}
    >
      <title>{label}</title>
      <line
        class="sparkline-baseline"
        x1={0}
        x2={width}
        y1={height - 3}
        y2={height - 3}
        vector-effect="non-scaling-stroke"
      />
      {shape ? (
        <>
          <path d={shape.area} fill={color} fill-opacity={0.18} stroke="none" />
          <path
            d={shape.line}
            fill="none"
            stroke={color}
            stroke-width={1.5}
            stroke-linejoin="round"
            vector-effect="non-scaling-stroke"
          />
          <path
            d={`M${shape.last.x},${shape.last.y} h0`}
            stroke={color}
            stroke-width={5}
            stroke-linecap="round"
            vector-effect="non-scaling-stroke"
          />
        </>
      ) : null}
    </svg>
  );
}
