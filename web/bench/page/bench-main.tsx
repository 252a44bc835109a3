// The benchmark page: the real GraphView, fed a synthetic view through a
// real GraphStore, exactly as the WebSocket would feed it. Results are
// exposed on window.benchmark for bench/run-bench.mjs to read.

import '../../src/styles.css';

import { render } from 'preact';

import type { ViewMessage } from '../../src/lib/api-types';
import { GraphStore } from '../../src/lib/graph-store';
import { PALETTES } from '../../src/lib/theme';
import { GraphView } from '../../src/features/graph/components/graph-view';
import { prewarmLayoutWorker } from '../../src/features/graph/layout/layout-client';
import type { GraphCanvas } from '../../src/features/graph/graph-canvas';
import type { LayoutResult } from '../../src/features/graph/layout/layout-types';
import { syntheticTopology } from './synthetic-topology';

interface BenchmarkState {
  nodes: number;
  edges: number;
  /** Store filled → first layout drawn on screen, in ms. */
  firstLayoutMs: number | null;
  /** Time the worker spent computing that layout. */
  workerMs: number | null;
  algorithm: string | null;
  frames: number[];
  recording: boolean;
  /** Feeds a message to the page's store, as the WebSocket would (for checks by hand). */
  apply: (message: ViewMessage) => void;
  startRecording: () => void;
  stopRecording: () => { fps: number; p95FrameMs: number; worstFrameMs: number; frames: number };
  /** Adds `count` nodes, each a client of an existing node, and times until they are painted. */
  burst: (count: number) => Promise<{
    ms: number;
    /** Until the layout was applied to cytoscape (before painting). */
    appliedMs: number;
    /** Time the worker spent computing. */
    workerMs: number;
    moved: number;
    placed: number;
    zoomChanged: boolean;
    panChanged: boolean;
  }>;
  /** How readable the captions are at the zoom the view opened with. */
  legibility: () => Legibility;
  /** Applies a diff changing one node's CPU; counts the drawn elements it touched. */
  touchOne: () => Promise<{ touched: number; drawn: number }>;
}

interface Legibility {
  drawn: number;
  zoom: number;
  /** Caption size on screen, px. */
  fontPx: number;
  /** Whether cytoscape draws labels at this zoom at all (min-zoomed-font-size). */
  labelsDrawn: boolean;
  /** Captions whose box overlaps another caption's. */
  overlapping: number;
  /** Nodes whose centre is inside the window. */
  onScreen: number;
}

declare global {
  interface Window {
    benchmark: BenchmarkState;
    /** The bench page's own handle on the canvas (the app has none). */
    periscopeGraph?: GraphCanvas;
  }
}

// As the app does at start-up: the worker loads while the view is fetched
// (here: generated).
prewarmLayoutWorker();

const params = new URLSearchParams(location.search);
const size = Number(params.get('nodes') ?? 2000);
// ?fold=0 draws every node, to measure what folding saves.
const foldAbove = params.get('fold') === '0' ? Infinity : undefined;
const topology = syntheticTopology(size);
const store = new GraphStore();

const benchmark: BenchmarkState = {
  nodes: topology.nodes.length,
  edges: topology.edges.length,
  firstLayoutMs: null,
  workerMs: null,
  algorithm: null,
  frames: [],
  recording: false,
  apply: (message) => store.apply(message),
  // Filled in below, once the store and canvas they use exist.
  burst: () => Promise.reject(new Error('not ready')),
  legibility: () => ({ drawn: 0, zoom: 0, fontPx: 0, labelsDrawn: false, overlapping: 0, onScreen: 0 }),
  touchOne: () => Promise.reject(new Error('not ready')),
  startRecording() {
    benchmark.frames = [];
    benchmark.recording = true;
    const onFrame = (time: number) => {
      if (!benchmark.recording) return;
      benchmark.frames.push(time);
      requestAnimationFrame(onFrame);
    };
    requestAnimationFrame(onFrame);
  },
  stopRecording() {
    benchmark.recording = false;
    const frames = benchmark.frames;
    const gaps = frames.slice(1).map((time, index) => time - (frames[index] as number));
    const sorted = [...gaps].sort((a, b) => a - b);
    const duration = (frames[frames.length - 1] ?? 0) - (frames[0] ?? 0);
    return {
      fps: duration > 0 ? (gaps.length * 1000) / duration : 0,
      p95FrameMs: sorted[Math.floor(sorted.length * 0.95)] ?? 0,
      worstFrameMs: sorted[sorted.length - 1] ?? 0,
      frames: gaps.length,
    };
  },
};
window.benchmark = benchmark;

let started = 0;
let layoutWaiter: ((result: LayoutResult) => void) | null = null;
const onLayout = (result: LayoutResult) => {
  layoutWaiter?.(result);
  if (benchmark.firstLayoutMs !== null) return;
  // Positions are applied; count the layout as done once they are painted.
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      benchmark.firstLayoutMs = performance.now() - started;
      benchmark.workerMs = result.millis;
      benchmark.algorithm = result.algorithm;
    }),
  );
};

const root = document.getElementById('root') as HTMLElement;
render(
  <div style="position:absolute;inset:0">
    <GraphView
      store={store}
      palette={PALETTES.light}
      matcher={null}
      filterMode={false}
      selected={null}
      onSelect={() => {}}
      onLayout={onLayout}
      foldAbove={foldAbove}
      onCanvas={(canvas) => {
        window.periscopeGraph = canvas ?? undefined;
      }}
    />
  </div>,
  root,
);

const nextFrame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));

benchmark.burst = async (count) => {
  const canvas = window.periscopeGraph as GraphCanvas;
  const cy = canvas.cy;
  const before = new Map<string, { x: number; y: number }>();
  cy.nodes().forEach((node) => {
    before.set(node.id(), { ...node.position() });
  });
  const zoom = cy.zoom();
  const pan = { ...cy.pan() };
  const existing = [...before.keys()].filter((id) => !id.startsWith('group:'));
  const fresh = Array.from({ length: count }, (_, i) => `c:burst-${i}`);
  const message: ViewMessage = {
    type: 'diff',
    view: 'containers',
    nodes: {
      add: fresh.map((id, i) => ({
        ...topology.nodes[1]!,
        id,
        label: `burst-${i}`,
        connections: 1,
      })),
      update: [],
      remove: [],
    },
    edges: {
      add: fresh.map((id, i) => {
        const target = existing[(i * 37) % existing.length] as string;
        return { id: `${id}>${target}`, source: id, target, connections: 1, ports: [80] };
      }),
      update: [],
      remove: [],
    },
  };
  let appliedMs = 0;
  let workerMs = 0;
  const t0 = performance.now();
  const placed = new Promise<void>((resolve) => {
    layoutWaiter = (result) => {
      if (fresh.every((id) => cy.getElementById(id).nonempty())) {
        appliedMs = performance.now() - t0;
        workerMs = result.millis;
        layoutWaiter = null;
        resolve();
      }
    };
  });
  store.apply(message);
  await placed;
  await nextFrame();
  await nextFrame();
  const ms = performance.now() - t0;
  let moved = 0;
  for (const [id, point] of before) {
    const now = cy.getElementById(id);
    if (now.nonempty() && (now.position().x !== point.x || now.position().y !== point.y)) moved += 1;
  }
  return {
    ms,
    appliedMs,
    workerMs,
    moved,
    placed: fresh.filter((id) => cy.getElementById(id).nonempty()).length,
    zoomChanged: cy.zoom() !== zoom,
    panChanged: cy.pan().x !== pan.x || cy.pan().y !== pan.y,
  };
};

benchmark.touchOne = async () => {
  const cy = (window.periscopeGraph as GraphCanvas).cy;
  const touched = new Set<string>();
  const note = (event: { target: { id: () => string } }) => {
    touched.add(event.target.id());
  };
  cy.on('data style position', 'node, edge', note);
  const node = store.snapshot().nodes.get(topology.nodes[5]!.id)!;
  store.apply({
    type: 'diff',
    view: 'containers',
    nodes: { add: [], update: [{ ...node, metrics: { cpu: (node.metrics.cpu ?? 0) + 7, memory: node.metrics.memory } }], remove: [] },
    edges: { add: [], update: [], remove: [] },
  });
  await nextFrame();
  cy.off('data style position', 'node, edge', note);
  return { touched: touched.size, drawn: cy.elements().length };
};

benchmark.legibility = () => {
  const cy = (window.periscopeGraph as GraphCanvas).cy;
  const zoom = cy.zoom();
  const node = cy.nodes()[0];
  const fontSize = node ? parseFloat(String(node.style('font-size'))) : 0;
  const minDrawn = node ? parseFloat(String(node.style('min-zoomed-font-size'))) : 0;
  const boxes = cy.nodes().map((each) => each.renderedBoundingBox({ includeNodes: false, includeEdges: false, includeLabels: true }));
  let overlapping = 0;
  boxes.forEach((a, i) => {
    const hit = boxes.some((b, j) => j !== i && a.x1 < b.x2 && a.x2 > b.x1 && a.y1 < b.y2 && a.y2 > b.y1);
    if (hit) overlapping += 1;
  });
  let onScreen = 0;
  cy.nodes().forEach((each) => {
    const at = each.renderedPosition();
    if (at.x >= 0 && at.y >= 0 && at.x <= cy.width() && at.y <= cy.height()) onScreen += 1;
  });
  return { drawn: cy.nodes().length, zoom, fontPx: fontSize * zoom, labelsDrawn: fontSize * zoom >= minDrawn, overlapping, onScreen };
};

// In the app the view is on screen before the WebSocket's first message
// arrives, so feed the store once the graph view exists, as the socket would.
const feed = () => {
  if (!window.periscopeGraph) {
    requestAnimationFrame(feed);
    return;
  }
  started = performance.now();
  store.apply(topology);
};
feed();
