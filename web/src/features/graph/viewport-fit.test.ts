import { describe, expect, it } from 'vitest';

import { fitViewport, LEGIBLE_ZOOM } from './viewport-fit';

const size = { width: 1200, height: 600 };
const tools = { top: 0, right: 0, bottom: 50, left: 0 };

function screen(x: number, y: number, fit: ReturnType<typeof fitViewport>) {
  return { x: x * fit.zoom + fit.pan.x, y: y * fit.zoom + fit.pan.y };
}

describe('fitViewport', () => {
  it('keeps every node out of the room the buttons take', () => {
    const bounds = { minX: -3000, minY: -200, maxX: 3000, maxY: 4000, count: 400 };
    const fit = fitViewport(bounds, size, tools, false);
    const bottom = screen(0, bounds.maxY, fit);
    expect(bottom.y).toBeLessThanOrEqual(size.height - tools.bottom);
    const topLeft = screen(bounds.minX, bounds.minY, fit);
    expect(topLeft.x).toBeGreaterThanOrEqual(0);
    expect(topLeft.y).toBeGreaterThanOrEqual(0);
  });

  it('opens a view of up to 150 nodes at a legible zoom, from its top-left corner', () => {
    const bounds = { minX: 0, minY: 0, maxX: 3000, maxY: 2000, count: 150 };
    const first = fitViewport(bounds, size, tools, true);
    expect(first.zoom).toBe(LEGIBLE_ZOOM);
    expect(screen(0, 0, first).x).toBeGreaterThanOrEqual(0);
    expect(screen(0, 0, first).x).toBeLessThan(40);
    // The Fit button shows everything, however small.
    expect(fitViewport(bounds, size, tools, false).zoom).toBeLessThan(LEGIBLE_ZOOM);
    // Bigger views open as an overview.
    expect(fitViewport({ ...bounds, count: 151 }, size, tools, true).zoom).toBeLessThan(LEGIBLE_ZOOM);
  });

  it('does not blow a handful of nodes up', () => {
    const fit = fitViewport({ minX: 0, minY: 0, maxX: 100, maxY: 90, count: 2 }, size, tools, true);
    expect(fit.zoom).toBe(1.3);
  });
});
