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
const onLayout = (result: LayoutResult) => {
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
