// The live topology map: a thin Preact shell around GraphCanvas.

import { useEffect, useRef, useState } from 'preact/hooks';

import type { TopologyNode } from '../../../lib/api-types';
import type { GraphStore } from '../../../lib/graph-store';
import type { Palette } from '../../../lib/theme';
import { FOLD_ABOVE } from '../fold';
import { type FoldState, GraphCanvas } from '../graph-canvas';
import type { LayoutResult } from '../layout/layout-types';

export interface GraphViewProps {
  store: GraphStore;
  palette: Palette;
  matcher: ((node: TopologyNode) => boolean) | null;
  filterMode: boolean;
  selected: string | null;
  onSelect: (id: string | null) => void;
  onLayout?: (result: LayoutResult) => void;
  /** Fold views bigger than this into groups (default: fold.ts's limit). */
  foldAbove?: number;
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
  const [fold, setFold] = useState<FoldState | null>(null);
  const [showAll, setShowAll] = useState(false);
  const foldAbove = props.foldAbove ?? FOLD_ABOVE;
  // Callbacks change identity on every render; the canvas reads the latest.
  const propsRef = useRef(props);
  propsRef.current = props;

  useEffect(() => {
    const container = containerRef.current;
    if (!container) return;
    const canvas = new GraphCanvas(
      container,
      propsRef.current.palette,
      {
        onSelect: (id) => propsRef.current.onSelect(id),
        onLayout: (result) => propsRef.current.onLayout?.(result),
        onFold: setFold,
      },
      { foldAbove: propsRef.current.foldAbove },
    );
    canvasRef.current = canvas;
    window.periscopeGraph = canvas;
    const { store } = props;
    canvas.setSearch(propsRef.current.matcher, propsRef.current.filterMode);
    canvas.setSelected(propsRef.current.selected);
    // Draw what the store already holds, then follow it.
    canvas.sync(store.snapshot());
    const unsubscribe = store.subscribe((next) => canvas.sync(next));
    return () => {
      unsubscribe();
      canvas.destroy();
      if (window.periscopeGraph === canvas) window.periscopeGraph = undefined;
      canvasRef.current = null;
    };
  }, [props.store]);

  useEffect(() => canvasRef.current?.setFoldLimit(showAll ? Infinity : foldAbove), [showAll, foldAbove]);
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
        <button type="button" title="Zoom in" onClick={() => canvasRef.current?.zoomBy(1.25)}>
          +
        </button>
        <button type="button" title="Zoom out" onClick={() => canvasRef.current?.zoomBy(0.8)}>
          −
        </button>
        <button type="button" title="Lay out again from scratch" onClick={() => canvasRef.current?.relayout()}>
          Re-layout
        </button>
        {fold?.folding && fold.opened > 0 ? (
          <button type="button" title="Close every opened group" onClick={() => canvasRef.current?.foldAll()}>
            Fold all
          </button>
        ) : null}
        {fold?.folding ? (
          <button type="button" title="Draw every node (slow with thousands)" onClick={() => setShowAll(true)}>
            Show all
          </button>
        ) : null}
        {showAll && fold && fold.nodes > foldAbove ? (
          <button type="button" title="Draw big views as groups again" onClick={() => setShowAll(false)}>
            Group
          </button>
        ) : null}
      </div>
      {fold?.folding ? (
        <div class="graph-fold-status" data-testid="fold-status">
          {fold.nodes.toLocaleString()} nodes drawn as {fold.drawn.toLocaleString()} ({fold.groups.toLocaleString()}{' '}
          groups); click a group to open it
        </div>
      ) : null}
    </div>
  );
}
