// The imperative side of the graph view: owns the cytoscape instance and the
// layout worker, and patches both from GraphStore changes instead of
// rebuilding, so a diff of one container touches one node. Big views are
// folded into group nodes first (fold.ts); what cytoscape holds is always the
// folded graph, compared with the previous one on every change.

import cytoscape, { type Core, type EdgeSingular, type ElementDefinition, type NodeSingular } from 'cytoscape';

import type { TopologyNode } from '../../lib/api-types';
import type { GraphSnapshot } from '../../lib/graph-store';
import type { Palette } from '../../lib/theme';
import { captionWidth, truncateMiddle } from './caption';
import { COMPACT_ABOVE, graphStyle } from './cytoscape-style';
import { type DrawnEdge, type DrawnNode, FOLD_ABOVE, type FoldedGraph, foldGraph, sameDrawnNode, shouldFold } from './fold';
import { LayoutClient } from './layout/layout-client';
import type { LayoutResult, Point } from './layout/layout-types';
import { cytoscapeShape } from './node-shapes';

export interface GraphCanvasEvents {
  onSelect: (id: string | null) => void;
  /** Called after each applied layout (the benchmark and tests wait on it). */
  onLayout?: (result: LayoutResult) => void;
  /** Called when what is folded changes, for the view's status line. */
  onFold?: (state: FoldState) => void;
}

export interface GraphCanvasOptions {
  /** Fold views with more nodes than this; Infinity never folds. */
  foldAbove?: number;
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

/** What tests and the benchmark can read through window.periscopeGraph. */
export interface GraphDebugNode {
  id: string;
  label: string;
  x: number;
  y: number;
  visible: boolean;
  matched: boolean;
}

const LAYOUT_DEBOUNCE_MS = 60;
/** fit() never zooms in further than this; the user still can, up to maxZoom. */
const MAX_FIT_ZOOM = 1.3;

export class GraphCanvas {
  readonly cy: Core;
  private layoutClient = new LayoutClient();
  private layoutTimer: ReturnType<typeof setTimeout> | null = null;
  private snapshot: GraphSnapshot | null = null;
  /** What should be on screen (cytoscape catches up after each layout). */
  private drawn: FoldedGraph = { nodes: new Map(), edges: new Map(), groupOf: new Map() };
  private folding = false;
  private foldAbove: number;
  private expanded = new Set<string>();
  /** Start spots for nodes coming out of (or going into) a group, until laid out. */
  private hints = new Map<string, Point>();
  private lastFoldState = '';
  private palette: Palette;
  private compact = false;
  private laidOutOnce = false;
  /**
   * Set once the user pans or zooms; until then every layout ends with a
   * fit, so nodes arriving after the first picture are not drawn off-screen.
   */
  private viewportTouched = false;
  private matcher: ((node: TopologyNode) => boolean) | null = null;
  private filterMode = false;
  private selected: string | null = null;
  lastLayout: LayoutResult | null = null;
  private resizeObserver: ResizeObserver;

  constructor(
    container: HTMLElement,
    palette: Palette,
    private readonly events: GraphCanvasEvents,
    options: GraphCanvasOptions = {},
  ) {
    this.foldAbove = options.foldAbove ?? FOLD_ABOVE;
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
    this.cy.on('tap', 'node', (event) => {
      const id = (event.target as NodeSingular).id();
      // A group has no details of its own: a click opens it instead.
      if (this.drawn.nodes.get(id)?.members) this.openGroup(id);
      else this.events.onSelect(id);
    });
    this.cy.on('tap', (event) => {
      if (event.target === this.cy) this.events.onSelect(null);
    });
    this.cy.on('mouseover', 'node', (event) => this.hover(event.target as NodeSingular));
    this.cy.on('mouseout', 'node', () => this.unhover());
    // Emitted for the user's gestures only, not for fit() or zoom().
    this.cy.on('dragpan scrollzoom pinchzoom', () => {
      this.viewportTouched = true;
    });
    this.resizeObserver = new ResizeObserver(() => {
      // The details panel opening or the window changing size: refit unless
      // the user has chosen a viewport, so nothing ends up behind the panel.
      if (this.laidOutOnce && !this.viewportTouched) this.fitNow();
      else this.cy.resize();
    });
    this.resizeObserver.observe(container);
  }

  setPalette(palette: Palette): void {
    this.palette = palette;
    this.cy.style(graphStyle(palette, this.compact));
  }

  /**
   * Shows the store's current graph: folds it, then adds, updates and
   * removes only what differs from what is drawn.
   * New nodes are not handed to cytoscape until the worker has placed them:
   * drawing thousands of unplaced nodes first cost more than the layout.
   */
  sync(snapshot: GraphSnapshot): void {
    this.snapshot = snapshot;
    this.refold();
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
  setFoldLimit(limit: number): void {
    if (limit === this.foldAbove) return;
    this.foldAbove = limit;
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

  private setSelectedClass(): void {
    const id = this.selected;
    this.cy.batch(() => {
      this.cy.nodes('.selected').removeClass('selected');
      if (id) this.cy.getElementById(id).addClass('selected');
    });
  }

  /** Fits the graph to the window and keeps fitting after later layouts. */
  fit(): void {
    this.viewportTouched = false;
    this.fitNow();
  }

  /** Zooms around the centre of the window, as the zoom buttons do. */
  zoomBy(factor: number): void {
    this.viewportTouched = true;
    const cy = this.cy;
    cy.zoom({ level: cy.zoom() * factor, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  }

  private fitNow(): void {
    // The container may have changed size (details panel, window) since
    // cytoscape last measured it.
    this.cy.resize();
    // Fit to node centres plus each label's estimated half-width and a
    // margin, computed here: cytoscape's own fit measures every label first,
    // which took over a second at 2,000 nodes.
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    this.cy.nodes().forEach((node) => {
      // The class, not node.visible(): that computes every node's style.
      if (node.hasClass('hidden')) return;
      const { x, y } = node.position();
      const half = (node.data('halfWidth') as number | undefined) ?? 0;
      minX = Math.min(minX, x - half);
      maxX = Math.max(maxX, x + half);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    });
    if (minX === Infinity) return;
    const margin = { left: 30, right: 30, top: 40, bottom: 70 };
    const width = maxX - minX + margin.left + margin.right;
    const height = maxY - minY + margin.top + margin.bottom;
    // A handful of nodes would otherwise be blown up to fill the window.
    const zoom = Math.min(MAX_FIT_ZOOM, Math.min(this.cy.width() / width, this.cy.height() / height));
    this.cy.viewport({
      zoom,
      pan: {
        x: (this.cy.width() - width * zoom) / 2 - (minX - margin.left) * zoom,
        y: (this.cy.height() - height * zoom) / 2 - (minY - margin.top) * zoom,
      },
    });
  }

  /** Forget all positions and lay out from scratch. */
  relayout(): void {
    this.laidOutOnce = false;
    this.viewportTouched = false;
    this.hints.clear();
    this.scheduleLayout(true);
  }

  debugNodes(): GraphDebugNode[] {
    return this.cy.nodes().map((node) => {
      const position = node.renderedPosition();
      return {
        id: node.id(),
        label: String(node.data('label')),
        x: position.x,
        y: position.y,
        visible: node.visible(),
        matched: !node.hasClass('dimmed') && !node.hasClass('hidden'),
      };
    });
  }

  destroy(): void {
    this.resizeObserver.disconnect();
    if (this.layoutTimer !== null) clearTimeout(this.layoutTimer);
    this.layoutClient.dispose();
    this.cy.destroy();
  }

  private applySearchClasses(): void {
    const matcher = this.matcher;
    const nodes = this.snapshot?.nodes;
    this.cy.batch(() => {
      this.cy.elements('.dimmed, .hidden, .match').removeClass('dimmed hidden match');
      if (!matcher || !nodes) return;
      const miss = this.filterMode ? 'hidden' : 'dimmed';
      const matches = (id: string): boolean => {
        const node = nodes.get(id);
        return node !== undefined && matcher(node);
      };
      this.cy.nodes().forEach((element) => {
        const members = this.drawn.nodes.get(element.id())?.members;
        // A group matches when any of its members does.
        if (members ? members.some(matches) : matches(element.id())) element.addClass('match');
        else element.addClass(miss);
      });
      if (!this.filterMode) {
        // An edge is only as visible as its less visible end.
        this.cy.edges().forEach((edge) => {
          if (edge.source().hasClass('dimmed') || edge.target().hasClass('dimmed')) edge.addClass('dimmed');
        });
      }
    });
  }

  private hover(node: NodeSingular): void {
    // Captions are cut short; the browser tooltip shows them whole.
    this.cy.container()?.setAttribute('title', String(node.data('title') ?? ''));
    this.cy.batch(() => {
      this.cy.elements().addClass('faded');
      node.closedNeighborhood().removeClass('faded').addClass('hover');
    });
  }

  private unhover(): void {
    this.cy.container()?.removeAttribute('title');
    this.cy.batch(() => this.cy.elements('.faded, .hover').removeClass('faded hover'));
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
    const nodes = [...drawn.nodes.values()].map((node) => ({
      id: node.id,
      rank: node.rank,
      width: captionWidth(node.caption),
    }));
    const edges = [...drawn.edges.values()].map((edge) => ({ source: edge.source, target: edge.target }));
    const previous: Record<string, Point> = {};
    if (!fromScratch) {
      this.cy.nodes().forEach((node) => {
        // Nodes sitting on a hint are drawn but not placed yet.
        if (!this.hints.has(node.id())) previous[node.id()] = { ...node.position() };
      });
    }
    const hints: Record<string, Point> = {};
    for (const [id, point] of this.hints) if (drawn.nodes.has(id)) hints[id] = point;
    const result = await this.layoutClient.layout(nodes, edges, previous, hints);
    if (!result) return;
    this.applyLayout(result);
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
    let next = foldGraph(snapshot.nodes, snapshot.edges, { fold: folding, expanded: this.expanded });
    const selectedGroup = this.selected ? next.groupOf.get(this.selected) : undefined;
    if (selectedGroup) {
      this.expanded.add(selectedGroup);
      next = foldGraph(snapshot.nodes, snapshot.edges, { fold: folding, expanded: this.expanded });
    }
    const previous = this.drawn;
    this.drawn = next;
    const compact = next.nodes.size > COMPACT_ABOVE;
    if (compact !== this.compact) {
      this.compact = compact;
      this.cy.style(graphStyle(this.palette, compact));
    }

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
          if (before && !sameDrawnNode(before, node)) element.data(nodeData(node));
          continue;
        }
        const hint = this.hints.get(id);
        if (hint) {
          // Drawn at once where its group stood, so opening or closing a
          // group never leaves a hole while the worker settles it.
          placedNow.push({ group: 'nodes', data: nodeData(node), position: { ...hint } });
          newNodes = true;
        } else if (!before) {
          newNodes = true;
        }
      }
      if (placedNow.length > 0) {
        for (const element of cy.add(placedNow).toArray()) drawnNodes.set(element.id(), element as NodeSingular);
      }
      const ready: ElementDefinition[] = [];
      for (const [id, edge] of next.edges) {
        const element = drawnEdges.get(id);
        if (element) {
          const before = previous.edges.get(id);
          if (before?.connections !== edge.connections || before?.failing !== edge.failing) {
            element.data(edgeData(edge));
          }
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
      groups: [...this.drawn.nodes.values()].filter((node) => node.members).length,
      opened: this.expanded.size,
    };
    const key = JSON.stringify(state);
    if (key === this.lastFoldState) return;
    this.lastFoldState = key;
    this.events.onFold?.(state);
  }

  /** Moves drawn nodes that moved, and adds the newly placed ones. */
  private applyLayout(result: LayoutResult): void {
    const drawn = this.drawn;
    const cy = this.cy;
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
    cy.batch(() => {
      const added: ElementDefinition[] = [];
      const addedIds = new Set<string>();
      for (const [id, position] of Object.entries(result.positions)) {
        const node = drawn.nodes.get(id);
        if (!node) continue; // Removed (or folded) while the worker was busy.
        this.hints.delete(id);
        const element = drawnNodes.get(id);
        if (!element) {
          added.push({ group: 'nodes', data: nodeData(node), position: { ...position } });
          addedIds.add(id);
        } else {
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
      if (added.length > 0 || edges.length > 0) cy.add([...added, ...edges]);
    });
    this.applySearchClasses();
    this.setSelectedClass();
    if (!this.laidOutOnce || !this.viewportTouched) {
      this.laidOutOnce = true;
      this.fitNow();
    }
    this.lastLayout = result;
    this.events.onLayout?.(result);
  }
}

function nodeData(node: DrawnNode): Record<string, unknown> {
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
  };
}

function edgeData(edge: DrawnEdge): Record<string, unknown> {
  return {
    id: edge.id,
    source: edge.source,
    target: edge.target,
    connections: edge.connections,
    failing: edge.failing,
  };
}
