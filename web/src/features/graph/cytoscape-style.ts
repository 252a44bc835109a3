// The graph's stylesheet, built from the theme's palette (the canvas cannot
// read CSS variables). Classes: `dimmed` (search non-match), `hidden`
// (filtered out), `faded`/`hover` (hover neighbourhood), `selected`,
// `focused` (keyboard). Data: `fill` (0-1, the chosen metric, drawn as a
// pie wedge), `state` (a container that is not running: exited and the like
// greyed with a dashed outline, paused amber and dotted), `failing` edges.
// Captions sit on a backing of the page colour, so an edge passing under a
// label never draws through its text.
//
// Big graphs get a compact variant: one-line labels without wrapping.
// Wrapping makes cytoscape measure every word of every caption before the
// first paint; at ~300 nodes that alone cost about a third of the time to
// the first picture.

import type { StylesheetJson } from 'cytoscape';

import type { Palette } from '../../lib/theme';
import { CAPTION_MAX_WIDTH } from './caption';
import { CLOUD_POINTS } from './node-shapes';

/** Graphs drawing more nodes than this use the compact style. */
export const COMPACT_ABOVE = 250;
/**
 * Graphs drawing more nodes than this (only unfolded big views: folding
 * starts above 600) draw edges as plain lines without arrowheads
 * ("haystack") and the metric as a colour, not a pie: no endpoint or arrow
 * geometry per edge, which was a large part of the first paint of 10,000
 * nodes and of every repaint of 1,000 (a burst of 50 new nodes into 1,000
 * took 200-500 ms to paint with them, 100-150 ms without, at load 10). At
 * the zoom such a view opens with, arrowheads are a pixel or two anyway.
 */
export const HUGE_ABOVE = 800;
/** Caption size in graph units: 9.6 px on screen at the legible zoom (graph-canvas.ts). */
export const FONT_SIZE = 12;
/** Captions smaller than this on screen are not drawn. */
export const MIN_LABEL_PX = 7;

export function graphStyle(palette: Palette, compact = false, huge = false): StylesheetJson {
  if (huge) return hugeGraphStyle(palette);
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
        'font-size': FONT_SIZE,
        'line-height': 1.25,
        color: palette.text,
        'text-background-color': palette.background,
        'text-background-opacity': 0.9,
        'text-background-padding': '2px',
        'text-background-shape': 'roundrectangle',
        'pie-size': '100%',
        'pie-1-background-color': palette.metric,
        'pie-1-background-opacity': 0.7,
        'pie-1-background-size': 'mapData(fill, 0, 1, 0, 100)' as never,
        // Labels are the costliest part to draw; skip them when unreadable.
        'min-zoomed-font-size': MIN_LABEL_PX,
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
        // The pie is a circle: keep it inside the cloud's bumps.
        'pie-size': '60%',
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
      selector: 'node[state = "exited"], node[state = "dead"], node[state = "created"], node[state = "removing"]',
      style: {
        'background-color': palette.stoppedFill,
        'border-color': palette.textMuted,
        'border-style': 'dashed',
        color: palette.textMuted,
      },
    },
    {
      selector: 'node[state = "paused"], node[state = "restarting"]',
      style: { 'border-color': palette.warning, 'border-style': 'dotted', 'border-width': 3 },
    },
    {
      selector: 'edge[?failing]',
      style: { 'line-color': palette.danger, 'target-arrow-color': palette.danger, 'line-style': 'dashed' },
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
      selector: 'edge.selected',
      style: { 'line-color': palette.accent, 'target-arrow-color': palette.accent, width: 3 },
    },
    {
      selector: 'node.focused',
      style: { 'outline-width': 3, 'outline-color': palette.match, 'outline-offset': 3 } as never,
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

/**
 * The stylesheet of views over HUGE_ABOVE drawn nodes: as few rules and
 * properties as still show the map, since cytoscape applies every property
 * of every matching rule to every element before the first frame. Plain
 * edges without arrowheads, the metric as a colour rather than a pie, short
 * captions without a backing (at the zoom such a view opens with they are
 * below min-zoomed-font-size and not drawn at all).
 */
function hugeGraphStyle(palette: Palette): StylesheetJson {
  return [
    {
      selector: 'node',
      style: {
        shape: 'data(shape)' as never,
        width: 40,
        height: 40,
        'background-color': `mapData(fill, 0, 1, ${palette.nodeFill}, ${palette.metric})` as never,
        'border-color': palette.nodeBorder,
        'border-width': 1,
      },
    },
    {
      selector: 'node.labelled',
      style: {
        label: 'data(short)',
        'text-valign': 'bottom',
        'font-size': FONT_SIZE,
        color: palette.text,
        'min-zoomed-font-size': MIN_LABEL_PX,
      },
    },
    { selector: 'node[shape = "polygon"]', style: { 'shape-polygon-points': CLOUD_POINTS, 'border-style': 'dashed' } },
    { selector: 'node[state != ""]', style: { 'border-style': 'dashed', 'border-color': palette.textMuted } },
    {
      selector: 'edge',
      style: { width: 1.5, 'line-color': palette.edge, 'curve-style': 'haystack', 'haystack-radius': 0 },
    },
    { selector: '.dimmed', style: { opacity: 0.18 } },
    { selector: '.hidden', style: { display: 'none' } },
    { selector: '.faded', style: { opacity: 0.12 } },
    { selector: 'node.match', style: { 'border-color': palette.match, 'border-width': 3 } },
    { selector: '.hover', style: { 'border-color': palette.accent, 'line-color': palette.accent, opacity: 1 } },
    { selector: '.selected', style: { 'border-color': palette.accent, 'line-color': palette.accent, 'border-width': 4 } },
    { selector: 'node.focused', style: { 'border-color': palette.match, 'border-width': 4 } },
  ];
}
