import { describe, expect, it } from 'vitest';

import { metricFill } from './metric-fill';

describe('metricFill', () => {
  it('fills by CPU share of one core, by memory share of the largest node, or not at all', () => {
    expect(metricFill('cpu', { cpu: 25, memory: null }, 0)).toBe(0.25);
    expect(metricFill('cpu', { cpu: 250, memory: null }, 0)).toBe(1);
    expect(metricFill('cpu', { cpu: null, memory: 5 }, 10)).toBe(0);
    expect(metricFill('memory', { cpu: 1, memory: 5 }, 10)).toBe(0.5);
    expect(metricFill('memory', { cpu: 1, memory: 5 }, 0)).toBe(0);
    expect(metricFill('none', { cpu: 90, memory: 5 }, 10)).toBe(0);
  });
});
