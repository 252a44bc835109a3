// The live topology map: a thin Preact shell around GraphCanvas, with the
// map's own buttons, the metric selector, the edge tooltip and the notes a
// map needs (folding, layout trouble, stale data).

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';

import type { NodeKind, TopologyNode } from '../../../lib/api-types';
import { formatBytes, formatRtt } from '../../../lib/format';
import type { GraphStore } from '../../../lib/graph-store';
import type { Palette } from '../../../lib/theme';
import { FOLD_ABOVE } from '../fold';
import { type EdgeHover, type FoldState, GraphCanvas } from '../graph-canvas';
import type { LayoutResult } from '../layout/layout-types';
import { type Metric, METRICS } from '../metric-fill';

export interface GraphViewProps {
  store: GraphStore;
  palette: Palette;
  matcher: ((node: TopologyNode) => boolean) | null;
  filterMode: boolean;
  selected: string | null;
  selectedEdge?: string | null;
  onSelect: (id: string | null) => void;
  onSelectEdge?: (id: string) => void;
  onLayout?: (result: LayoutResult) => void;
  /** Fold views bigger than this into groups (default: fold.ts's limit). */
  foldAbove?: number;
  metric?: Metric;
  onMetricChange?: (metric: Metric) => void;
  /** The data is old (the app is unreachable): the map is greyed. */
  stale?: boolean;
  /** Read out as the canvas's accessible name. */
  label?: string;
  /** A checkbox on the map that groups nodes of these kinds by rank (compose services into their projects). */
  groupToggle?: { label: string; kinds: NodeKind[] };
  /** Hands the canvas to the benchmark page; the app passes nothing. */
  onCanvas?: (canvas: GraphCanvas | null) => void;
}

export function GraphView(props: GraphViewProps) {
  const containerRef = useRef<HTMLDivElement>(null);
  const toolsRef = useRef<HTMLDivElement>(null);
  const statusRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<GraphCanvas | null>(null);
  const [fold, setFold] = useState<FoldState | null>(null);
  const [showAll, setShowAll] = useState(false);
  const [hover, setHover] = useState<EdgeHover | null>(null);
  const [layoutError, setLayoutError] = useState<string | null>(null);
  const [focusText, setFocusText] = useState('');
  const [grouped, setGrouped] = useState(false);
  const groupKinds = useMemo(
    () => (props.groupToggle ? new Set(props.groupToggle.kinds) : undefined),
    [props.groupToggle?.kinds.join()],
  );
  const foldAbove = props.foldAbove ?? FOLD_ABOVE;
  const metric = props.metric ?? 'cpu';
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
        onSelectEdge: (id) => propsRef.current.onSelectEdge?.(id),
        onLayout: (result) => propsRef.current.onLayout?.(result),
        onFold: setFold,
        onHoverEdge: setHover,
        onLayoutError: setLayoutError,
        onFocusNode: (text) => setFocusText(text ?? ''),
      },
      { foldAbove: propsRef.current.foldAbove, insets: () => overlayInsets(container, [toolsRef.current, statusRef.current]) },
    );
    canvasRef.current = canvas;
    propsRef.current.onCanvas?.(canvas);
    const { store } = props;
    canvas.setMetric(propsRef.current.metric ?? 'cpu');
    canvas.setSearch(propsRef.current.matcher, propsRef.current.filterMode);
    canvas.setSelected(propsRef.current.selected);
    canvas.setSelectedEdge(propsRef.current.selectedEdge ?? null);
    // Draw what the store already holds, then follow it change by change.
    canvas.sync(store.snapshot());
    const unsubscribe = store.subscribe((next, change) => canvas.sync(next, change));
    return () => {
      unsubscribe();
      canvas.destroy();
      propsRef.current.onCanvas?.(null);
      canvasRef.current = null;
    };
  }, [props.store]);

  useEffect(() => {
    if (grouped && groupKinds) canvasRef.current?.setFoldLimit(0, groupKinds);
    else canvasRef.current?.setFoldLimit(showAll ? Infinity : foldAbove);
  }, [showAll, foldAbove, grouped, groupKinds]);
  useEffect(() => canvasRef.current?.setPalette(props.palette), [props.palette]);
  useEffect(() => canvasRef.current?.setMetric(metric), [metric]);
  useEffect(
    () => canvasRef.current?.setSearch(props.matcher, props.filterMode),
    [props.matcher, props.filterMode],
  );
  useEffect(() => canvasRef.current?.setSelected(props.selected), [props.selected]);
  useEffect(() => canvasRef.current?.setSelectedEdge(props.selectedEdge ?? null), [props.selectedEdge]);

  const legend = METRICS.find((entry) => entry.id === metric)?.legend ?? '';
  return (
    <div class={`graph-view${props.stale ? ' stale' : ''}`}>
      <div
        class="graph-canvas"
        ref={containerRef}
        data-testid="graph"
        tabIndex={0}
        role="application"
        aria-roledescription="topology map"
        aria-label={`${props.label ?? 'Topology map'}. Arrow keys move between nodes, Enter opens one, ? lists shortcuts.`}
      />
      <div class="sr-only" aria-live="polite" data-testid="graph-focus">
        {focusText}
      </div>
      <div class="graph-tools" ref={toolsRef}>
        <button type="button" title="Fit the graph to the window" data-testid="fit" onClick={() => canvasRef.current?.fit()}>
          Fit
        </button>
        <button type="button" title="Zoom in (+)" aria-label="Zoom in" onClick={() => canvasRef.current?.zoomBy(1.25)}>
          +
        </button>
        <button type="button" title="Zoom out (−)" aria-label="Zoom out" onClick={() => canvasRef.current?.zoomBy(0.8)}>
          −
        </button>
        <button type="button" title="Lay out again from scratch (moves every node)" onClick={() => canvasRef.current?.relayout()}>
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
        {props.groupToggle ? (
          <label class="metric-select" title="Draw each group as one node that opens on click">
            <input
              type="checkbox"
              data-testid="group-toggle"
              checked={grouped}
              onChange={(event) => setGrouped((event.target as HTMLInputElement).checked)}
            />
            <span>{props.groupToggle.label}</span>
          </label>
        ) : null}
        <label class="metric-select" title="What fills each node">
          <span>Fill</span>
          <select
            data-testid="metric"
            value={metric}
            onChange={(event) => props.onMetricChange?.((event.target as HTMLSelectElement).value as Metric)}
          >
            {METRICS.map((entry) => (
              <option key={entry.id} value={entry.id}>
                {entry.label}
              </option>
            ))}
          </select>
        </label>
        {legend ? <span class="metric-legend">{legend}</span> : null}
      </div>
      <div class="graph-notes" ref={statusRef}>
        {fold?.folding ? (
          <div class="graph-fold-status" data-testid="fold-status">
            {fold.nodes.toLocaleString()} nodes drawn as {fold.drawn.toLocaleString()} ({fold.groups.toLocaleString()}{' '}
            groups); click a group to open it
          </div>
        ) : null}
        {layoutError ? (
          <div class="graph-layout-error" role="status" data-testid="layout-error">
            {layoutError}
          </div>
        ) : null}
      </div>
      {hover ? <EdgeTooltip hover={hover} /> : null}
    </div>
  );
}

/** Room the overlays take at the top and bottom of the map, so Fit keeps nodes clear of them. */
function overlayInsets(container: HTMLElement, overlays: Array<HTMLElement | null>) {
  const box = container.getBoundingClientRect();
  const insets = { top: 0, right: 0, bottom: 0, left: 0 };
  for (const overlay of overlays) {
    if (!overlay || overlay.offsetHeight === 0) continue;
    const rect = overlay.getBoundingClientRect();
    if (rect.top - box.top < box.height / 2) insets.top = Math.max(insets.top, rect.bottom - box.top);
    else insets.bottom = Math.max(insets.bottom, box.bottom - rect.top);
  }
  return insets;
}

function EdgeTooltip({ hover }: { hover: EdgeHover }) {
  const { edge } = hover;
  return (
    <div class="edge-tooltip" role="tooltip" data-testid="edge-tooltip" style={{ left: `${hover.x + 14}px`, top: `${hover.y + 14}px` }}>
      <div class="edge-tooltip-title">
        {hover.sourceLabel} → {hover.targetLabel}
      </div>
      <dl>
        <dt>Connections</dt>
        <dd>{edge.connections}</dd>
        <dt>Ports</dt>
        <dd data-testid="edge-ports">{edge.ports.length > 0 ? edge.ports.join(', ') : '–'}</dd>
        {edge.rttUs !== null ? (
          <>
            <dt>RTT</dt>
            <dd>{formatRtt(edge.rttUs)}</dd>
          </>
        ) : null}
        {edge.bytesSent !== null || edge.bytesReceived !== null ? (
          <>
            <dt>Bytes out / in</dt>
            <dd>
              {formatBytes(edge.bytesSent)} / {formatBytes(edge.bytesReceived)}
            </dd>
          </>
        ) : null}
        {edge.retransmits !== null ? (
          <>
            <dt>Retransmits</dt>
            <dd>{edge.retransmits}</dd>
          </>
        ) : null}
        {edge.failures !== null ? (
          <>
            <dt>Failures</dt>
            <dd>{edge.failures}</dd>
          </>
        ) : null}
      </dl>
      {edge.merged === 1 ? <div class="muted">Click for details</div> : <div class="muted">{edge.merged} edges between groups</div>}
    </div>
  );
}
