// The graph's stylesheet, built from the theme's palette (the canvas cannot
// read CSS variables). Classes: `dimmed` (search non-match), `hidden`
// (filtered out), `faded`/`hover` (hover neighbourhood), `selected`. Edges
// whose connections failed in the last minute (`failing` data) are red in
// either theme.
//
// Big graphs get a compact variant: one-line labels without wrapping.
// Wrapping makes cytoscape measure every word of every caption before the
// first paint; at ~300 nodes that alone cost about a third of the time to
// the first picture.

import type { StylesheetJson } from 'cytoscape';

import type { Palette } from '../../lib/theme';
import { CAPTION_MAX_WIDTH } from './caption';
import { CLOUD_POINTS } from './node-shapes';

/** Failing edges: refused, unanswered, reset or retransmitted connections. */
export const FAILING_EDGE = '#d93636';

/** Graphs drawing more nodes than this use the compact style. */
export const COMPACT_ABOVE = 250;

export function graphStyle(palette: Palette, compact = false): StylesheetJson {
  const style: StylesheetJson = [
    {
      selector: 'node',
      style: {
        shape: 'data(shape)' as never,
        width: 40,
        height: 40,
        'background-color': palette.nodeFill,
        'border-color': palette.nodeBorder,
        'border-width': 2,
        label: 'data(caption)',
        'text-wrap': 'wrap',
        // Captions are cut to fit (caption.ts), so lines never wrap mid-name.
        'text-max-width': `${CAPTION_MAX_WIDTH}px`,
        'text-valign': 'bottom',
        'text-margin-y': 5,
        'font-size': 11,
        'line-height': 1.3,
        color: palette.text,
        'text-outline-color': palette.background,
        'text-outline-width': 2,
        // Labels are the costliest part to draw; skip them when unreadable.
        'min-zoomed-font-size': 7,
      },
    },
    {
      // Group nodes (folded views) grow a little with what they hold.
      selector: 'node[?group]',
      style: { width: 'mapData(stack, 2, 50, 44, 72)', height: 'mapData(stack, 2, 50, 44, 72)' } as never,
    },
    {
      selector: 'node[shape = "polygon"]',
      style: {
        'shape-polygon-points': CLOUD_POINTS,
        width: 56,
        'background-color': palette.pseudoFill,
        'border-style': 'dashed',
      },
    },
    {
      // Stacked look for grouped nodes: a ghost copy peeking out behind.
      selector: 'node[stack > 1]',
      style: {
        ghost: 'yes',
        'ghost-offset-x': 5,
        'ghost-offset-y': -5,
        'ghost-opacity': 0.45,
      },
    },
    {
      selector: 'edge',
      style: {
        width: 1.5,
        'line-color': palette.edge,
        'target-arrow-color': palette.edge,
        'target-arrow-shape': 'triangle',
        'arrow-scale': 0.9,
        'curve-style': 'straight',
      },
    },
    {
      selector: 'edge[?failing]',
      style: { 'line-color': FAILING_EDGE, 'target-arrow-color': FAILING_EDGE, width: 2.5 },
    },
    { selector: '.dimmed', style: { opacity: 0.18 } },
    { selector: '.hidden', style: { display: 'none' } },
    { selector: '.faded', style: { opacity: 0.12 } },
    { selector: 'node.match', style: { 'border-color': palette.match, 'border-width': 3 } },
    {
      selector: 'node.hover',
      style: { 'border-color': palette.accent, 'border-width': 3, opacity: 1 },
    },
    {
      selector: 'edge.hover',
      style: { 'line-color': palette.accent, 'target-arrow-color': palette.accent, width: 2.5, opacity: 1 },
    },
    {
      selector: 'node.selected',
      style: {
        'border-color': palette.accent,
        'border-width': 4,
        'background-color': palette.accent,
        'background-opacity': 0.25,
      },
    },
  ];
  if (compact) style.push({ selector: 'node', style: { label: 'data(short)', 'text-wrap': 'none' } });
  return style;
}
