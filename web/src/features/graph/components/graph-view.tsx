// The live topology map: a thin Preact shell around GraphCanvas.

import { useEffect, useRef } from 'preact/hooks';

import type { TopologyNode } from '../../../lib/api-types';
import type { GraphStore } from '../../../lib/graph-store';
import type { Palette } from '../../../lib/theme';
import { GraphCanvas } from '../graph-canvas';
import type { LayoutResult } from '../layout/layout-types';

export interface GraphViewProps {
  store: GraphStore;
  palette: Palette;
  matcher: ((node: TopologyNode) => boolean) | null;
  filterMode: boolean;
  selected: string | null;
  onSelect: (id: string | null) => void;
  onLayout?: (result: LayoutResult) => void;
}

declare global {
  interface Window {
    /** Read-only handle for browser tests and the benchmark. */
    periscopeGraph?: GraphCanvas;
  }
}

export function GraphView(props: GraphViewProps) {
  const containerRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<GraphCanvas | null>(null);
  // Callbacks change identity on every render; the canvas reads the latest.
  const propsRef = useRef(props);
  propsRef.current = props;

  useEffect(() => {
    const container = containerRef.current;
    if (!container) return;
    const canvas = new GraphCanvas(container, propsRef.current.palette, {
      onSelect: (id) => propsRef.current.onSelect(id),
      onLayout: (result) => propsRef.current.onLayout?.(result),
    });
    canvasRef.current = canvas;
    window.periscopeGraph = canvas;
    const { store } = props;
    canvas.setSearch(propsRef.current.matcher, propsRef.current.filterMode);
    canvas.setSelected(propsRef.current.selected);
    // Replay what the store already holds as one full change, then follow it.
    const snapshot = store.snapshot();
    canvas.sync(snapshot, {
      full: true,
      addedNodes: [...snapshot.nodes.keys()],
      updatedNodes: [],
      removedNodes: [],
      addedEdges: [...snapshot.edges.keys()],
      updatedEdges: [],
      removedEdges: [],
      problems: [],
    });
    const unsubscribe = store.subscribe((next, change) => canvas.sync(next, change));
    return () => {
      unsubscribe();
      canvas.destroy();
      if (window.periscopeGraph === canvas) window.periscopeGraph = undefined;
      canvasRef.current = null;
    };
  }, [props.store]);

  useEffect(() => canvasRef.current?.setPalette(props.palette), [props.palette]);
  useEffect(
    () => canvasRef.current?.setSearch(props.matcher, props.filterMode),
    [props.matcher, props.filterMode],
  );
  useEffect(() => canvasRef.current?.setSelected(props.selected), [props.selected]);

  return (
    <div class="graph-view">
      <div class="graph-canvas" ref={containerRef} data-testid="graph" />
      <div class="graph-tools">
        <button type="button" title="Fit the graph to the window" onClick={() => canvasRef.current?.fit()}>
          Fit
        </button>
        <button type="button" title="Zoom in" onClick={() => zoomBy(canvasRef.current, 1.25)}>
          +
        </button>
        <button type="button" title="Zoom out" onClick={() => zoomBy(canvasRef.current, 0.8)}>
          −
        </button>
        <button type="button" title="Lay out again from scratch" onClick={() => canvasRef.current?.relayout()}>
          Re-layout
        </button>
      </div>
    </div>
  );
}

function zoomBy(canvas: GraphCanvas | null, factor: number): void {
  if (!canvas) return;
  const cy = canvas.cy;
  cy.zoom({ level: cy.zoom() * factor, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
}
