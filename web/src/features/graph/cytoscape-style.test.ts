import { describe, expect, it } from 'vitest';

import { PALETTES } from '../../lib/theme';
import { graphStyle } from './cytoscape-style';

/** The merged style properties of rules whose selector is exactly `selector`. */
function rule(style: ReturnType<typeof graphStyle>, selector: string): Record<string, unknown> {
  const rules = (style as Array<{ selector: string; style: Record<string, unknown> }>).filter((r) => r.selector === selector);
  return Object.assign({}, ...rules.map((r) => r.style));
}

describe('graphStyle', () => {
  it('backs captions with the page colour, so edges never draw through their text', () => {
    for (const palette of Object.values(PALETTES)) {
      const node = rule(graphStyle(palette), 'node');
      expect(node['text-background-color']).toBe(palette.background);
      expect(Number(node['text-background-opacity'])).toBeGreaterThanOrEqual(0.85);
    }
  });

  it('gives stopped and paused containers their own look', () => {
    const style = graphStyle(PALETTES.light) as Array<{ selector: string; style: Record<string, unknown> }>;
    const stopped = style.find((r) => r.selector.includes('node[state = "exited"]'));
    const paused = style.find((r) => r.selector.includes('node[state = "paused"]'));
    expect(stopped?.style['border-style']).toBe('dashed');
    expect(paused?.style['border-style']).toBe('dotted');
  });
});
