// A small live line chart (uPlot: canvas, fast, ~50 kB) for metric samples.

import 'uplot/dist/uPlot.min.css';

import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

import type { MetricSample } from '../lib/api-types';

export interface SparklineProps {
  samples: MetricSample[];
  color: string;
  width?: number;
  height?: number;
}

export function Sparkline({ samples, color, width = 220, height = 36 }: SparklineProps) {
  const hostRef = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | null>(null);

  useEffect(() => {
    const host = hostRef.current;
    if (!host) return;
    const plot = new uPlot(
      {
        width,
        height,
        legend: { show: false },
        cursor: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        axes: [{ show: false }, { show: false }],
        scales: { x: { time: false }, y: { range: (_, min, max) => [Math.min(0, min), Math.max(max, 1)] } },
        series: [{}, { stroke: color, width: 1.5, fill: `${color}33`, points: { show: false } }],
      },
      toData(samples),
      host,
    );
    plotRef.current = plot;
    return () => {
      plot.destroy();
      plotRef.current = null;
    };
  }, [color, width, height]);

  useEffect(() => {
    plotRef.current?.setData(toData(samples));
  }, [samples]);

  return <div class="sparkline" ref={hostRef} />;
}

function toData(samples: MetricSample[]): uPlot.AlignedData {
  return [samples.map((sample) => sample.t / 1000), samples.map((sample) => sample.v)];
}
