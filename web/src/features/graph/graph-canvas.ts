// The imperative side of the graph view: owns the cytoscape instance and the
// layout worker, and patches both from GraphStore changes instead of
// rebuilding, so a diff of one container touches one node. Big views are
// folded into group nodes first (fold.ts); what cytoscape holds is always the
// folded graph.
//
// The map stays still while it changes: a node on screen moves only when the
// user drags it or asks for Re-layout, and the viewport (zoom and pan)
// changes only by the user's hand once the first picture was fitted. A new
// node with no edge yet waits a moment before it is placed (its connections
// usually follow within a second or two), so it lands beside the nodes it
// talks to instead of somewhere it can never leave.

import cytoscape, { type Core, type EdgeSingular, type ElementDefinition, type NodeSingular } from 'cytoscape';

import type { NodeKind, TopologyNode } from '../../lib/api-types';
import type { GraphChange, GraphSnapshot } from '../../lib/graph-store';
import type { Palette } from '../../lib/theme';
import { captionWidth, truncateMiddle } from './caption';
import { COMPACT_ABOVE, FONT_SIZE, graphStyle, HUGE_ABOVE, MIN_LABEL_PX } from './cytoscape-style';
import {
  type DrawnEdge,
  type DrawnNode,
  FOLD_ABOVE,
  type FoldedGraph,
  foldGraph,
  plainEdge,
  plainNode,
  sameDrawnEdge,
  sameDrawnNode,
  shouldFold,
} from './fold';
import { type Direction, nextInDirection } from './keyboard-focus';
import { LayoutClient } from './layout/layout-client';
import type { LayoutEdge, LayoutNode, LayoutResult, Point } from './layout/layout-types';
import { BOX_ABOVE, BOX_BELOW } from './layout/place-new';
import { type Metric, metricFill } from './metric-fill';
import { readyForPlacement } from './placement-hold';
import { cytoscapeShape } from './node-shapes';
import { fitViewport, type Insets } from './viewport-fit';

/** What the pointer is over, for the edge tooltip. */
export interface EdgeHover {
  edge: DrawnEdge;
  sourceLabel: string;
  targetLabel: string;
  /** Pointer position in the container, px. */
  x: number;
  y: number;
}

export interface GraphCanvasEvents {
  onSelect: (id: string | null) => void;
  onSelectEdge?: (id: string) => void;
  /** Called after each applied layout (the benchmark and tests wait on it). */
  onLayout?: (result: LayoutResult) => void;
  /** Called when what is folded changes, for the view's status line. */
  onFold?: (state: FoldState) => void;
  onHoverEdge?: (hover: EdgeHover | null) => void;
  /** A layout failed (message) or works again (null). */
  onLayoutError?: (message: string | null) => void;
  /** The keyboard focus moved to a node (its description), for screen readers. */
  onFocusNode?: (description: string | null) => void;
}

export interface GraphCanvasOptions {
  /** Fold views with more nodes than this; Infinity never folds. */
  foldAbove?: number;
  /** Fold only nodes of these kinds. */
  foldKinds?: ReadonlySet<NodeKind>;
  /** Room (px) the view's own buttons take at each side; fit keeps nodes out of it. */
  insets?: () => Insets;
}

export interface FoldState {
  folding: boolean;
  /** Nodes in the view, as the API sent them. */
  nodes: number;
  /** Nodes drawn: groups plus unfolded nodes. */
  drawn: number;
  groups: number;
  /** Groups the user opened. */
  opened: number;
}

/** The app already coalesces diffs (≤ 100 ms); a frame is enough to merge what arrives together. */
const LAYOUT_DEBOUNCE_MS = 16;
/** How long a new node with no edge waits for one before it is placed alone. */
export const HOLD_MS = 2500;
const EMPTY_INSETS: Insets = { top: 0, right: 0, bottom: 0, left: 0 };

export class GraphCanvas {
  readonly cy: Core;
  private layoutClient = new LayoutClient();
  private layoutTimer: ReturnType<typeof setTimeout> | null = null;
  private holdTimer: ReturnType<typeof setTimeout> | null = null;
  private labelTimer: ReturnType<typeof setTimeout> | null = null;
  private snapshot: GraphSnapshot | null = null;
  /** What should be on screen (cytoscape catches up after each layout). */
  private drawn: FoldedGraph = { nodes: new Map(), edges: new Map(), groupOf: new Map() };
  private folding = false;
  private foldAbove: number;
  private foldKinds: ReadonlySet<NodeKind> | undefined;
  private expanded = new Set<string>();
  /** Start spots for nodes coming out of (or going into) a group, until laid out. */
  private hints = new Map<string, Point>();
  /** When each new node, not yet placed, was first seen (performance.now()). */
  private firstSeen = new Map<string, number>();
  private lastFoldState = '';
  private palette: Palette;
  private compact = false;
  private huge = false;
  private laidOutOnce = false;
  private matcher: ((node: TopologyNode) => boolean) | null = null;
  private filterMode = false;
  private selected: string | null = null;
  private selectedEdge: string | null = null;
  private focused: string | null = null;
  private metric: Metric = 'cpu';
  private maxMemory = 0;
  private insets: () => Insets;
  lastLayout: LayoutResult | null = null;
  private resizeObserver: ResizeObserver;

  constructor(
    private readonly container: HTMLElement,
    palette: Palette,
    private readonly events: GraphCanvasEvents,
    options: GraphCanvasOptions = {},
  ) {
    this.foldAbove = options.foldAbove ?? FOLD_ABOVE;
    this.foldKinds = options.foldKinds;
    this.insets = options.insets ?? (() => EMPTY_INSETS);
    this.palette = palette;
    this.cy = cytoscape({
      container,
      style: graphStyle(palette),
      layout: { name: 'preset' },
      minZoom: 0.03,
      maxZoom: 4,
      boxSelectionEnabled: false,
      autounselectify: true,
      // While panning and zooming, move a cached bitmap instead of redrawing
      // thousands of nodes each frame: this is what keeps big views smooth.
      textureOnViewport: true,
      motionBlur: false,
    });
    this.cy.on('tap', 'node', (event) => this.activate((event.target as NodeSingular).id()));
    this.cy.on('tap', 'edge', (event) => {
      const id = (event.target as EdgeSingular).id();
      // Merged edges between groups have no details of their own.
      if (this.drawn.edges.get(id)?.merged === 1) this.events.onSelectEdge?.(id);
    });
    this.cy.on('tap', (event) => {
      if (event.target === this.cy) this.events.onSelect(null);
    });
    this.cy.on('mouseover', 'node', (event) => this.hover(event.target as NodeSingular));
    this.cy.on('mouseout', 'node', () => this.unhover());
    this.cy.on('mouseover', 'edge', (event) => this.hoverEdge(event.target as EdgeSingular, event.renderedPosition));
    this.cy.on('mousemove', 'edge', (event) => this.hoverEdge(event.target as EdgeSingular, event.renderedPosition));
    this.cy.on('mouseout', 'edge', () => {
      this.unhover();
      this.events.onHoverEdge?.(null);
    });
    this.cy.on('viewport', () => this.scheduleLabels());
    this.resizeObserver = new ResizeObserver(() => this.cy.resize());
    this.resizeObserver.observe(container);
    container.addEventListener('keydown', (event) => this.onKey(event));
    container.addEventListener('blur', () => this.setFocused(null));
  }

  setPalette(palette: Palette): void {
    this.palette = palette;
    this.cy.style(graphStyle(palette, this.compact, this.huge));
  }

  /** Which metric fills the nodes. */
  setMetric(metric: Metric): void {
    if (metric === this.metric) return;
    this.metric = metric;
    this.refreshFills(true);
  }

  /**
   * Shows the store's current graph. With `change` (what the store's last
   * message changed) and no folding, only the changed elements are touched;
   * otherwise the graph is folded afresh and compared with what is drawn.
   * New nodes are not handed to cytoscape until the worker has placed them.
   */
  sync(snapshot: GraphSnapshot, change?: GraphChange): void {
    this.snapshot = snapshot;
    const folding = shouldFold(snapshot.nodes.size, this.folding, this.foldAbove);
    const selectedFolded = this.selected !== null && this.drawn.groupOf.has(this.selected);
    if (!change || change.full || folding || this.folding || selectedFolded) this.refold();
    else this.patch(change);
  }

  /** Opens a group: its members are drawn one by one where it stood. */
  openGroup(id: string): void {
    if (!this.drawn.nodes.get(id)?.members) return;
    this.expanded.add(id);
    this.refold();
  }

  /** Closes every opened group. */
  foldAll(): void {
    this.expanded.clear();
    this.refold();
  }

  /** Changes the size above which views are folded; Infinity draws every node. */
  setFoldLimit(limit: number, kinds?: ReadonlySet<NodeKind>): void {
    if (limit === this.foldAbove && kinds === this.foldKinds) return;
    this.foldAbove = limit;
    this.foldKinds = kinds;
    this.refold();
  }

  setSearch(matcher: ((node: TopologyNode) => boolean) | null, filterMode: boolean): void {
    this.matcher = matcher;
    this.filterMode = filterMode;
    this.applySearchClasses();
  }

  setSelected(id: string | null): void {
    this.selected = id;
    // A link to a node must show it, even inside a folded group.
    if (id && this.drawn.groupOf.has(id)) this.refold();
    this.setSelectedClass();
  }

  setSelectedEdge(id: string | null): void {
    this.selectedEdge = id;
    this.setSelectedClass();
  }

  private setSelectedClass(): void {
    this.cy.batch(() => {
      this.cy.elements('.selected').removeClass('selected');
      if (this.selected) this.cy.getElementById(this.selected).addClass('selected');
      if (this.selectedEdge) this.cy.getElementById(this.selectedEdge).addClass('selected');
    });
  }

  /** Fits the whole graph into the window (the user's Fit button). */
  fit(): void {
    this.fitNow(false);
  }

  /** Zooms around the centre of the window, as the zoom buttons do. */
  zoomBy(factor: number): void {
    const cy = this.cy;
    cy.zoom({ level: cy.zoom() * factor, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  }

  /**
   * Fits to node centres plus each caption's estimated half-width and its
   * box above and below, inside the room the overlays leave (viewport-fit.ts).
   * Measured here: cytoscape's own fit measures every label first, which
   * took over a second at 2,000 nodes.
   */
  private fitNow(firstPicture: boolean): void {
    // The container may have changed size (details panel, window) since
    // cytoscape last measured it.
    this.cy.resize();
    const bounds = { minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity, count: 0 };
    this.cy.nodes().forEach((node) => {
      // The class, not node.visible(): that computes every node's style.
      if (node.hasClass('hidden')) return;
      const { x, y } = node.position();
      const half = (node.data('halfWidth') as number | undefined) ?? 0;
      bounds.minX = Math.min(bounds.minX, x - half);
      bounds.maxX = Math.max(bounds.maxX, x + half);
      bounds.minY = Math.min(bounds.minY, y - BOX_ABOVE);
      bounds.maxY = Math.max(bounds.maxY, y + BOX_BELOW);
      bounds.count += 1;
    });
    if (bounds.count === 0) return;
    this.cy.viewport(fitViewport(bounds, { width: this.cy.width(), height: this.cy.height() }, this.insets(), firstPicture));
  }

  /** Forget all positions and lay out from scratch; the one time nodes move without a drag. */
  relayout(): void {
    this.laidOutOnce = false;
    this.hints.clear();
    this.scheduleLayout(true);
  }

  destroy(): void {
    this.resizeObserver.disconnect();
    if (this.layoutTimer !== null) clearTimeout(this.layoutTimer);
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    if (this.labelTimer !== null) clearTimeout(this.labelTimer);
    this.layoutClient.dispose();
    this.cy.destroy();
  }

  /**
   * Huge views caption only the nodes in the window, once zoomed in far
   * enough to read them, after the view settles (see hugeGraphStyle).
   */
  private scheduleLabels(): void {
    if (!this.huge) return;
    if (this.labelTimer !== null) clearTimeout(this.labelTimer);
    this.labelTimer = setTimeout(() => {
      this.labelTimer = null;
      this.labelVisibleNodes();
    }, 120);
  }

  private labelVisibleNodes(): void {
    const cy = this.cy;
    const readable = cy.zoom() * FONT_SIZE >= MIN_LABEL_PX;
    const extent = cy.extent();
    cy.batch(() => {
      cy.nodes().forEach((node) => {
        const { x, y } = node.position();
        const inside =
          readable && x >= extent.x1 - 150 && x <= extent.x2 + 150 && y >= extent.y1 - 60 && y <= extent.y2 + 60;
        if (inside !== node.hasClass('labelled')) node.toggleClass('labelled', inside);
      });
    });
  }

  /** A click or Enter on a node: open a group, select anything else. */
  private activate(id: string): void {
    // A group has no details of its own: a click opens it instead.
    if (this.drawn.nodes.get(id)?.members) this.openGroup(id);
    else this.events.onSelect(id);
  }

  private matches(id: string): boolean | null {
    const matcher = this.matcher;
    const nodes = this.snapshot?.nodes;
    if (!matcher || !nodes) return null;
    const one = (member: string): boolean => {
      const node = nodes.get(member);
      return node !== undefined && matcher(node);
    };
    const members = this.drawn.nodes.get(id)?.members;
    // A group matches when any of its members does.
    return members ? members.some(one) : one(id);
  }

  /** Search classes of all nodes, or only of `ids` (and their edges). */
  private applySearchClasses(ids?: Iterable<string>): void {
    const miss = this.filterMode ? 'hidden' : 'dimmed';
    this.cy.batch(() => {
      const nodes = ids ? [...ids].map((id) => this.cy.getElementById(id)).filter((e) => e.nonempty()) : this.cy.nodes().toArray();
      if (!ids) this.cy.elements('.dimmed, .hidden, .match').removeClass('dimmed hidden match');
      const touchedEdges = new Set<EdgeSingular>();
      for (const element of nodes) {
        if (ids) element.removeClass('dimmed hidden match');
        const matched = this.matches(element.id());
        if (matched === null) continue;
        element.addClass(matched ? 'match' : miss);
        if (ids) element.connectedEdges().forEach((edge) => {
          touchedEdges.add(edge);
        });
      }
      if (this.filterMode || !this.matcher) return;
      // An edge is only as visible as its less visible end.
      const edges = ids ? [...touchedEdges] : this.cy.edges().toArray();
      for (const edge of edges) {
        const dimmed = edge.source().hasClass('dimmed') || edge.target().hasClass('dimmed');
        if (dimmed) edge.addClass('dimmed');
        else edge.removeClass('dimmed');
      }
    });
  }

  private hover(node: NodeSingular): void {
    // Captions are cut short; the browser tooltip shows them whole.
    this.container.setAttribute('title', String(node.data('title') ?? ''));
    this.cy.batch(() => {
      this.cy.elements().addClass('faded');
      node.closedNeighborhood().removeClass('faded').addClass('hover');
    });
  }

  private hoverEdge(edge: EdgeSingular, at: { x: number; y: number }): void {
    const drawn = this.drawn.edges.get(edge.id());
    if (!drawn) return;
    if (!edge.hasClass('hover')) {
      this.cy.batch(() => {
        this.cy.elements().addClass('faded');
        edge.union(edge.connectedNodes()).removeClass('faded').addClass('hover');
      });
    }
    this.events.onHoverEdge?.({
      edge: drawn,
      sourceLabel: this.drawn.nodes.get(drawn.source)?.label ?? drawn.source,
      targetLabel: this.drawn.nodes.get(drawn.target)?.label ?? drawn.target,
      x: at.x,
      y: at.y,
    });
  }

  private unhover(): void {
    this.container.removeAttribute('title');
    this.cy.batch(() => this.cy.elements('.faded, .hover').removeClass('faded hover'));
  }

  private onKey(event: KeyboardEvent): void {
    const directions: Record<string, Direction> = {
      ArrowUp: 'up',
      ArrowDown: 'down',
      ArrowLeft: 'left',
      ArrowRight: 'right',
    };
    const direction = directions[event.key];
    if (direction) {
      event.preventDefault();
      const points: Array<{ id: string; x: number; y: number }> = [];
      this.cy.nodes().forEach((node) => {
        if (!node.hasClass('hidden')) points.push({ id: node.id(), ...node.renderedPosition() });
      });
      const from = this.focused ?? this.selected;
      const start = points.find((point) => point.id === from) ?? null;
      const centre = { x: this.cy.width() / 2, y: this.cy.height() / 2 };
      const next = start ? nextInDirection(start, points, direction) : nearest(centre, points);
      if (next) this.setFocused(next.id);
    } else if ((event.key === 'Enter' || event.key === ' ') && this.focused) {
      event.preventDefault();
      this.activate(this.focused);
    } else if (event.key === '+' || event.key === '=') {
      this.zoomBy(1.25);
    } else if (event.key === '-') {
      this.zoomBy(0.8);
    }
  }

  private setFocused(id: string | null): void {
    this.focused = id;
    this.cy.batch(() => {
      this.cy.nodes('.focused').removeClass('focused');
      if (id) this.cy.getElementById(id).addClass('focused');
    });
    if (!id) {
      this.events.onFocusNode?.(null);
      return;
    }
    const element = this.cy.getElementById(id) as NodeSingular;
    // Bring it into view (the user moved there), without changing the zoom.
    const at = element.renderedPosition();
    const pad = 60;
    const dx = at.x < pad ? pad - at.x : at.x > this.cy.width() - pad ? this.cy.width() - pad - at.x : 0;
    const dy = at.y < pad ? pad - at.y : at.y > this.cy.height() - pad ? this.cy.height() - pad - at.y : 0;
    if (dx !== 0 || dy !== 0) this.cy.panBy({ x: dx, y: dy });
    const node = this.drawn.nodes.get(id);
    const edges = element.connectedEdges().length;
    this.events.onFocusNode?.(
      node ? `${node.title.replace('\n', ', ')}; ${edges} edge${edges === 1 ? '' : 's'}; Enter opens` : id,
    );
  }

  private scheduleLayout(fromScratch = false): void {
    if (this.layoutTimer !== null) clearTimeout(this.layoutTimer);
    if (!this.laidOutOnce) {
      // Nothing is on screen yet: ask the worker now, not after a timer
      // that the busy first frames of the page would delay.
      void this.runLayout(fromScratch);
      return;
    }
    // Diffs arrive in bursts (coalesced ≤ 100 ms by the app); wait a moment
    // so a burst costs one layout.
    this.layoutTimer = setTimeout(() => {
      this.layoutTimer = null;
      void this.runLayout(fromScratch);
    }, LAYOUT_DEBOUNCE_MS);
  }

  private async runLayout(fromScratch: boolean): Promise<void> {
    const drawn = this.drawn;
    const onScreen = new Set<string>();
    const previous: Record<string, Point> = {};
    this.cy.nodes().forEach((node) => {
      onScreen.add(node.id());
      // Nodes sitting on a hint are drawn but not placed yet.
      if (!fromScratch && !this.hints.has(node.id())) previous[node.id()] = { ...node.position() };
    });
    const now = performance.now();
    const { ready, recheckInMs } = readyForPlacement({
      nodes: drawn.nodes.keys(),
      edges: drawn.edges.values(),
      placed: (id) => onScreen.has(id) || this.hints.has(id) || fromScratch || !this.laidOutOnce,
      firstSeen: this.firstSeen,
      now,
      holdMs: HOLD_MS,
    });
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    this.holdTimer = recheckInMs === null ? null : setTimeout(() => this.scheduleLayout(), recheckInMs + 10);
    const nodes: LayoutNode[] = [];
    for (const node of drawn.nodes.values()) {
      if (ready.has(node.id)) nodes.push({ id: node.id, rank: node.rank, width: captionWidth(node.caption) });
    }
    const edges: LayoutEdge[] = [];
    for (const edge of drawn.edges.values()) {
      if (ready.has(edge.source) && ready.has(edge.target)) edges.push({ source: edge.source, target: edge.target });
    }
    // Nothing new to place (every newcomer is still waiting for an edge).
    if (!fromScratch && this.laidOutOnce && nodes.every((node) => previous[node.id] !== undefined)) return;
    const hints: Record<string, Point> = {};
    for (const [id, point] of this.hints) if (drawn.nodes.has(id)) hints[id] = point;
    let result: LayoutResult | null;
    try {
      result = await this.layoutClient.layout(nodes, edges, previous, hints);
      this.events.onLayoutError?.(null);
    } catch (error) {
      // The worker failed (its script did not load, or it threw): say so,
      // and lay out here instead so new nodes are still drawn.
      const why = String((error as Error)?.message ?? error);
      try {
        result = await this.layoutClient.layoutInPage(nodes, edges, previous, hints);
        this.events.onLayoutError?.(`Layout worker failed (${why}); laid out in the page instead.`);
      } catch (again) {
        // The layout itself fails on this graph: new nodes go on a plain
        // grid below the map rather than not at all.
        result = gridBelow(nodes, previous);
        this.events.onLayoutError?.(`Layout failed (${String((again as Error)?.message ?? again)}); new nodes are lined up below the map.`);
      }
    }
    if (!result) return;
    this.applyLayout(result);
  }

  /** Applies one store change to what is drawn, without refolding. */
  private patch(change: GraphChange): void {
    const snapshot = this.snapshot;
    if (!snapshot) return;
    const drawn = this.drawn;
    const cy = this.cy;
    const touched = new Set<string>();
    let newNodes = false;
    cy.batch(() => {
      for (const id of change.removedEdges) {
        drawn.edges.delete(id);
        cy.getElementById(id).remove();
      }
      for (const id of change.removedNodes) {
        drawn.nodes.delete(id);
        this.hints.delete(id);
        this.firstSeen.delete(id);
        cy.getElementById(id).remove();
      }
      for (const id of [...change.addedNodes, ...change.updatedNodes]) {
        const node = snapshot.nodes.get(id);
        if (!node) continue;
        const next = plainNode(node);
        const before = drawn.nodes.get(id);
        drawn.nodes.set(id, next);
        const element = cy.getElementById(id);
        if (element.nonempty()) {
          if (!before || !sameDrawnNode(before, next)) element.data(this.nodeData(next));
          touched.add(id);
        } else {
          newNodes = true;
        }
      }
      const ready: ElementDefinition[] = [];
      for (const id of [...change.addedEdges, ...change.updatedEdges]) {
        const edge = snapshot.edges.get(id);
        if (!edge) continue;
        const next = plainEdge(edge);
        const before = drawn.edges.get(id);
        drawn.edges.set(id, next);
        const element = cy.getElementById(id);
        if (element.nonempty()) {
          if (!before || !sameDrawnEdge(before, next)) element.data(edgeData(next));
        } else if (cy.getElementById(edge.source).nonempty() && cy.getElementById(edge.target).nonempty()) {
          ready.push({ group: 'edges', data: edgeData(next) });
          // Its ends' search classes decide whether it is dimmed.
          touched.add(edge.source);
          touched.add(edge.target);
        } else {
          // An edge to a node still waiting for its spot: place it now.
          newNodes = true;
        }
      }
      if (ready.length > 0) cy.add(ready);
    });
    this.setStyleMode(drawn.nodes.size);
    if (this.refreshFills(false)) this.applySearchClasses();
    else this.applySearchClasses(touched);
    this.setSelectedClass();
    this.reportFold();
    if (newNodes) this.scheduleLayout();
  }

  /**
   * Folds the snapshot and brings cytoscape in line: removes what is gone,
   * updates what changed, adds edges whose ends are drawn, and asks for a
   * layout when there are new nodes.
   */
  private refold(): void {
    const snapshot = this.snapshot;
    if (!snapshot) return;
    const folding = shouldFold(snapshot.nodes.size, this.folding, this.foldAbove);
    if (!folding) this.expanded.clear();
    this.folding = folding;
    let next = foldGraph(snapshot.nodes, snapshot.edges, { fold: folding, expanded: this.expanded, kinds: this.foldKinds });
    const selectedGroup = this.selected ? next.groupOf.get(this.selected) : undefined;
    if (selectedGroup) {
      this.expanded.add(selectedGroup);
      next = foldGraph(snapshot.nodes, snapshot.edges, { fold: folding, expanded: this.expanded, kinds: this.foldKinds });
    }
    const previous = this.drawn;
    this.drawn = next;
    this.setStyleMode(next.nodes.size);
    this.maxMemory = maxMemory(next.nodes.values());

    const cy = this.cy;
    const drawnNodes = new Map<string, NodeSingular>();
    cy.nodes().forEach((node) => {
      drawnNodes.set(node.id(), node);
    });
    const drawnEdges = new Map<string, EdgeSingular>();
    cy.edges().forEach((edge) => {
      drawnEdges.set(edge.id(), edge);
    });
    this.collectHints(previous, next, drawnNodes);
    for (const id of this.firstSeen.keys()) if (!next.nodes.has(id)) this.firstSeen.delete(id);

    let newNodes = false;
    cy.batch(() => {
      for (const [id, edge] of drawnEdges) {
        if (!next.edges.has(id)) {
          edge.remove();
          drawnEdges.delete(id);
        }
      }
      for (const [id, node] of drawnNodes) {
        if (!next.nodes.has(id)) {
          node.remove();
          drawnNodes.delete(id);
        }
      }
      const placedNow: ElementDefinition[] = [];
      for (const [id, node] of next.nodes) {
        const element = drawnNodes.get(id);
        const before = previous.nodes.get(id);
        if (element) {
          // The fill follows the view's largest node, so refresh it always.
          if (!before || !sameDrawnNode(before, node) || this.metric === 'memory') element.data(this.nodeData(node));
          continue;
        }
        const hint = this.hints.get(id);
        if (hint) {
          // Drawn at once where its group stood, so opening or closing a
          // group never leaves a hole while the worker settles it.
          placedNow.push({ group: 'nodes', data: this.nodeData(node), position: { ...hint } });
          newNodes = true;
        } else {
          newNodes = true;
        }
      }
      if (placedNow.length > 0) {
        for (const element of cy.add(placedNow).toArray()) drawnNodes.set(element.id(), element as NodeSingular);
      }
      const ready: ElementDefinition[] = [];
      for (const [id, edge] of next.edges) {
        const element = drawnEdges.get(id);
        const before = previous.edges.get(id);
        if (element) {
          if (!before || !sameDrawnEdge(before, edge)) element.data(edgeData(edge));
        } else if (drawnNodes.has(edge.source) && drawnNodes.has(edge.target)) {
          ready.push({ group: 'edges', data: edgeData(edge) });
        }
      }
      if (ready.length > 0) cy.add(ready);
    });
    this.applySearchClasses();
    this.setSelectedClass();
    this.reportFold();
    if (newNodes) this.scheduleLayout();
  }

  /** Compact captions above COMPACT_ABOVE drawn nodes, the lean stylesheet above HUGE_ABOVE. */
  private setStyleMode(drawnNodes: number): void {
    const compact = drawnNodes > COMPACT_ABOVE;
    const huge = drawnNodes > HUGE_ABOVE;
    if (compact === this.compact && huge === this.huge) return;
    this.compact = compact;
    this.huge = huge;
    this.cy.style(graphStyle(this.palette, compact, huge));
    this.scheduleLabels();
  }

  /** Recomputes the largest memory; when it moved (or `force`), refills every node. True if refilled. */
  private refreshFills(force: boolean): boolean {
    const max = maxMemory(this.drawn.nodes.values());
    if (!force && (this.metric !== 'memory' || max === this.maxMemory)) return false;
    this.maxMemory = max;
    this.cy.batch(() => {
      this.cy.nodes().forEach((element) => {
        const node = this.drawn.nodes.get(element.id());
        if (node) element.data('fill', metricFill(this.metric, node, this.maxMemory));
      });
    });
    return true;
  }

  /**
   * Members of a group that was just opened start where the group stood; a
   * group that was just formed starts at its drawn members' centre.
   */
  private collectHints(previous: FoldedGraph, next: FoldedGraph, drawnNodes: Map<string, NodeSingular>): void {
    const forming = new Map<string, { x: number; y: number; count: number }>();
    for (const [id, before] of previous.nodes) {
      if (next.nodes.has(id)) continue;
      const element = drawnNodes.get(id);
      if (!element) continue;
      const at = element.position();
      if (before.members) {
        for (const member of before.members) if (next.nodes.has(member)) this.hints.set(member, { x: at.x, y: at.y });
        continue;
      }
      const group = next.groupOf.get(id);
      if (group === undefined) continue;
      const sum = forming.get(group) ?? { x: 0, y: 0, count: 0 };
      sum.x += at.x;
      sum.y += at.y;
      sum.count += 1;
      forming.set(group, sum);
    }
    for (const [group, sum] of forming) {
      if (!drawnNodes.has(group)) this.hints.set(group, { x: sum.x / sum.count, y: sum.y / sum.count });
    }
    for (const id of this.hints.keys()) if (!next.nodes.has(id)) this.hints.delete(id);
  }

  private reportFold(): void {
    const state: FoldState = {
      folding: this.folding,
      nodes: this.snapshot?.nodes.size ?? 0,
      drawn: this.drawn.nodes.size,
      groups: this.folding ? [...this.drawn.nodes.values()].filter((node) => node.members).length : 0,
      opened: this.expanded.size,
    };
    const key = JSON.stringify(state);
    if (key === this.lastFoldState) return;
    this.lastFoldState = key;
    this.events.onFold?.(state);
  }

  /** Adds the newly placed nodes; nodes already drawn keep their spot. */
  private applyLayout(result: LayoutResult): void {
    const drawn = this.drawn;
    const cy = this.cy;
    const fromScratch = !this.laidOutOnce;
    // One pass over what is drawn; per-id lookups build a collection each,
    // which at thousands of elements cost more than the layout itself.
    const drawnNodes = new Map<string, NodeSingular>();
    cy.nodes().forEach((node) => {
      drawnNodes.set(node.id(), node);
    });
    const drawnEdges = new Set<string>();
    cy.edges().forEach((edge) => {
      drawnEdges.add(edge.id());
    });
    let addedElements = cy.collection();
    cy.batch(() => {
      const added: ElementDefinition[] = [];
      const addedIds = new Set<string>();
      for (const [id, position] of Object.entries(result.positions)) {
        const node = drawn.nodes.get(id);
        if (!node) continue; // Removed (or folded) while the worker was busy.
        const wasHinted = this.hints.delete(id);
        this.firstSeen.delete(id);
        const element = drawnNodes.get(id);
        if (!element) {
          added.push({ group: 'nodes', data: this.nodeData(node), position: { ...position } });
          addedIds.add(id);
        } else if (fromScratch || wasHinted) {
          // Only a new layout from scratch (or a node parked on its group's
          // spot) moves a drawn node.
          const current = element.position();
          if (current.x !== position.x || current.y !== position.y) element.position(position);
        }
      }
      const edges: ElementDefinition[] = [];
      for (const edge of drawn.edges.values()) {
        if (drawnEdges.has(edge.id)) continue;
        const sourceReady = drawnNodes.has(edge.source) || addedIds.has(edge.source);
        const targetReady = drawnNodes.has(edge.target) || addedIds.has(edge.target);
        if (!sourceReady || !targetReady) continue;
        edges.push({ group: 'edges', data: edgeData(edge) });
      }
      if (added.length > 0 || edges.length > 0) addedElements = cy.add([...added, ...edges]);
    });
    // The new elements' bounds in one pass. Otherwise cytoscape's first draw
    // asks each element for its bounds on its own, a slow path that also
    // marks every element dirty again, and the frame after it recomputed
    // them all: at 10,000 nodes this pass takes ~0.1 s of main-thread work
    // off the first picture.
    if (addedElements.nonempty()) addedElements.boundingBox();
    this.applySearchClasses();
    this.setSelectedClass();
    // The first picture is the first with something in it: a view that
    // opens empty gets its fit when its first nodes arrive.
    if (fromScratch && cy.nodes().nonempty()) {
      this.laidOutOnce = true;
      this.fitNow(true);
    }
    // New nodes in the window of a huge view get their captions too.
    this.scheduleLabels();
    this.lastLayout = result;
    this.events.onLayout?.(result);
  }

  private nodeData(node: DrawnNode): Record<string, unknown> {
    return {
      id: node.id,
      label: node.label,
      /** What the compact style draws: the label alone, cut short. */
      short: truncateMiddle(node.label),
      caption: node.caption,
      title: node.title,
      /** Half the caption's estimated width, for fit(). */
      halfWidth: Math.max(20, captionWidth(node.caption) / 2),
      shape: cytoscapeShape(node.shape),
      stack: node.stack,
      kind: node.kind,
      group: node.members !== undefined,
      state: node.state,
      fill: metricFill(this.metric, node, this.maxMemory),
    };
  }
}

function edgeData(edge: DrawnEdge): Record<string, unknown> {
  return {
    id: edge.id,
    source: edge.source,
    target: edge.target,
    connections: edge.connections,
    failing: (edge.failures ?? 0) > 0,
  };
}

/** The last resort when no layout can be computed: known nodes stay, new ones in rows below them. */
export function gridBelow(nodes: LayoutNode[], previous: Record<string, Point>): LayoutResult {
  const positions: Record<string, Point> = {};
  let minX = 0;
  let maxY = -BOX_BELOW;
  for (const point of Object.values(previous)) {
    minX = Math.min(minX, point.x);
    maxY = Math.max(maxY, point.y);
  }
  let slot = 0;
  for (const node of nodes) {
    const known = previous[node.id];
    if (known) {
      positions[node.id] = known;
      continue;
    }
    positions[node.id] = { x: minX + (slot % 10) * 220, y: maxY + BOX_BELOW + BOX_ABOVE + 40 + Math.floor(slot / 10) * 110 };
    slot += 1;
  }
  return { requestId: -1, positions, algorithm: 'incremental', millis: 0 };
}

function maxMemory(nodes: Iterable<DrawnNode>): number {
  let max = 0;
  for (const node of nodes) if (node.memory !== null && node.memory > max) max = node.memory;
  return max;
}

function nearest<T extends { x: number; y: number }>(from: { x: number; y: number }, points: T[]): T | null {
  let best: T | null = null;
  let bestDistance = Infinity;
  for (const point of points) {
    const distance = Math.hypot(point.x - from.x, point.y - from.y);
    if (distance < bestDistance) {
      best = point;
      bestDistance = distance;
    }
  }
  return best;
}
