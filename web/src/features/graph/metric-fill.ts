// How full a node is drawn for the chosen metric (the selector above the
// map): CPU as a share of one core (100 % fills the node), memory as a share
// of the largest node in the view, since nodes carry no host total.

import type { Metric } from '../../lib/url-state';

export type { Metric };

export const METRICS: Array<{ id: Metric; label: string; legend: string }> = [
  { id: 'cpu', label: 'CPU', legend: 'fill: CPU, full at one core' },
  { id: 'memory', label: 'Memory', legend: 'fill: memory, full at the largest node' },
  { id: 'none', label: 'None', legend: '' },
];

export function metricFill(
  metric: Metric,
  node: { cpu: number | null; memory: number | null },
  maxMemory: number,
): number {
  const share = metric === 'cpu' ? (node.cpu ?? 0) / 100 : metric === 'memory' && maxMemory > 0 ? (node.memory ?? 0) / maxMemory : 0;
  return Math.round(Math.min(1, Math.max(0, share)) * 1000) / 1000;
}
