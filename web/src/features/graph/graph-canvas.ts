// The imperative side of the graph view: owns the cytoscape instance and the
// layout worker, and patches both from GraphStore changes instead of
// rebuilding, so a diff of one container touches one node.

import cytoscape, { type Core, type ElementDefinition, type NodeSingular } from 'cytoscape';

import type { TopologyEdge, TopologyNode } from '../../lib/api-types';
import type { GraphChange, GraphSnapshot } from '../../lib/graph-store';
import type { Palette } from '../../lib/theme';
import { graphStyle } from './cytoscape-style';
import { LayoutClient } from './layout/layout-client';
import type { LayoutResult, Point } from './layout/layout-types';
import { cytoscapeShape } from './node-shapes';

export interface GraphCanvasEvents {
  onSelect: (id: string | null) => void;
  /** Called after each applied layout (the benchmark and tests wait on it). */
  onLayout?: (result: LayoutResult) => void;
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

export class GraphCanvas {
  readonly cy: Core;
  private layoutClient = new LayoutClient();
  private layoutTimer: ReturnType<typeof setTimeout> | null = null;
  private snapshot: GraphSnapshot | null = null;
  private laidOutOnce = false;
  private matcher: ((node: TopologyNode) => boolean) | null = null;
  private filterMode = false;
  private selected: string | null = null;
  lastLayout: LayoutResult | null = null;
  private resizeObserver: ResizeObserver;

  constructor(
    container: HTMLElement,
    palette: Palette,
    private readonly events: GraphCanvasEvents,
  ) {
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
    this.cy.on('tap', 'node', (event) => this.events.onSelect((event.target as NodeSingular).id()));
    this.cy.on('tap', (event) => {
      if (event.target === this.cy) this.events.onSelect(null);
    });
    this.cy.on('mouseover', 'node', (event) => this.hover(event.target as NodeSingular));
    this.cy.on('mouseout', 'node', () => this.unhover());
    this.resizeObserver = new ResizeObserver(() => this.cy.resize());
    this.resizeObserver.observe(container);
  }

  setPalette(palette: Palette): void {
    this.cy.style(graphStyle(palette));
  }

  /**
   * Applies one store change; full changes (new view, reconnect) too.
   * New nodes are not handed to cytoscape until the worker has placed them:
   * drawing thousands of unplaced nodes first cost more than the layout.
   */
  sync(snapshot: GraphSnapshot, change: GraphChange): void {
    this.snapshot = snapshot;
    const cy = this.cy;
    cy.batch(() => {
      for (const id of change.removedEdges) cy.getElementById(id).remove();
      for (const id of change.removedNodes) cy.getElementById(id).remove();
      for (const id of change.updatedNodes) {
        const node = snapshot.nodes.get(id);
        const element = cy.getElementById(id);
        if (node && element.nonempty()) element.data(nodeData(node));
      }
      for (const id of change.updatedEdges) {
        const edge = snapshot.edges.get(id);
        const element = cy.getElementById(id);
        if (edge && element.nonempty()) element.data(edgeData(edge));
      }
      // Edges between nodes already drawn need no layout; the rest wait
      // for their nodes.
      const ready: ElementDefinition[] = [];
      for (const id of change.addedEdges) {
        const edge = snapshot.edges.get(id);
        if (edge && cy.getElementById(edge.source).nonempty() && cy.getElementById(edge.target).nonempty()) {
          ready.push({ group: 'edges', data: edgeData(edge) });
        }
      }
      if (ready.length > 0) cy.add(ready);
    });
    this.applySearchClasses();
    if (change.addedNodes.length > 0) this.scheduleLayout();
  }

  setSearch(matcher: ((node: TopologyNode) => boolean) | null, filterMode: boolean): void {
    this.matcher = matcher;
    this.filterMode = filterMode;
    this.applySearchClasses();
  }

  setSelected(id: string | null): void {
    this.selected = id;
    this.cy.batch(() => {
      this.cy.nodes('.selected').removeClass('selected');
      if (id) this.cy.getElementById(id).addClass('selected');
    });
  }

  fit(): void {
    // The container may have changed size (details panel, window) since
    // cytoscape last measured it.
    this.cy.resize();
    // Fit to node centres plus a margin for shapes and labels, computed
    // here: cytoscape's own fit measures every label first, which took over
    // a second at 2,000 nodes.
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    this.cy.nodes().forEach((node) => {
      // The class, not node.visible(): that computes every node's style.
      if (node.hasClass('hidden')) return;
      const { x, y } = node.position();
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    });
    if (minX === Infinity) return;
    const margin = { left: 80, right: 80, top: 40, bottom: 70 };
    const width = maxX - minX + margin.left + margin.right;
    const height = maxY - minY + margin.top + margin.bottom;
    const zoom = Math.min(2, Math.min(this.cy.width() / width, this.cy.height() / height));
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
      this.cy.nodes().forEach((element) => {
        const node = nodes.get(element.id());
        if (node && matcher(node)) element.addClass('match');
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
    this.cy.batch(() => {
      this.cy.elements().addClass('faded');
      node.closedNeighborhood().removeClass('faded').addClass('hover');
    });
  }

  private unhover(): void {
    this.cy.batch(() => this.cy.elements('.faded, .hover').removeClass('faded hover'));
  }

  private scheduleLayout(fromScratch = false): void {
    if (this.layoutTimer !== null) clearTimeout(this.layoutTimer);
    // Diffs arrive in bursts (coalesced ≤ 100 ms by the app); wait a moment
    // so a burst costs one layout.
    this.layoutTimer = setTimeout(() => {
      this.layoutTimer = null;
      void this.runLayout(fromScratch);
    }, this.laidOutOnce ? LAYOUT_DEBOUNCE_MS : 0);
  }

  private async runLayout(fromScratch: boolean): Promise<void> {
    const snapshot = this.snapshot;
    if (!snapshot) return;
    const nodes = [...snapshot.nodes.values()].map((node) => ({ id: node.id, rank: node.rank }));
    const edges = [...snapshot.edges.values()].map((edge) => ({ source: edge.source, target: edge.target }));
    const previous: Record<string, Point> = {};
    if (!fromScratch) {
      this.cy.nodes().forEach((node) => {
        previous[node.id()] = { ...node.position() };
      });
    }
    const result = await this.layoutClient.layout(nodes, edges, previous);
    if (!result) return;
    this.applyLayout(result);
  }

  /** Moves drawn nodes that moved, and adds the newly placed ones. */
  private applyLayout(result: LayoutResult): void {
    const snapshot = this.snapshot;
    if (!snapshot) return;
    const cy = this.cy;
    // One pass over what is drawn; per-id lookups build a collection each,
    // which at thousands of elements cost more than the layout itself.
    const drawn = new Map<string, NodeSingular>();
    cy.nodes().forEach((node) => {
      drawn.set(node.id(), node);
    });
    const drawnEdges = new Set<string>();
    cy.edges().forEach((edge) => {
      drawnEdges.add(edge.id());
    });
    cy.batch(() => {
      const added: ElementDefinition[] = [];
      const addedIds = new Set<string>();
      for (const [id, position] of Object.entries(result.positions)) {
        const node = snapshot.nodes.get(id);
        if (!node) continue; // Removed while the worker was busy.
        const element = drawn.get(id);
        if (!element) {
          added.push({ group: 'nodes', data: nodeData(node), position: { ...position } });
          addedIds.add(id);
        } else {
          const current = element.position();
          if (current.x !== position.x || current.y !== position.y) element.position(position);
        }
      }
      const edges: ElementDefinition[] = [];
      for (const edge of snapshot.edges.values()) {
        if (drawnEdges.has(edge.id)) continue;
        const sourceReady = drawn.has(edge.source) || addedIds.has(edge.source);
        const targetReady = drawn.has(edge.target) || addedIds.has(edge.target);
        if (!sourceReady || !targetReady) continue;
        edges.push({ group: 'edges', data: edgeData(edge) });
      }
      if (added.length > 0 || edges.length > 0) cy.add([...added, ...edges]);
    });
    this.applySearchClasses();
    this.setSelected(this.selected);
    if (!this.laidOutOnce) {
      this.laidOutOnce = true;
      this.fit();
    }
    this.lastLayout = result;
    this.events.onLayout?.(result);
  }
}

function nodeData(node: TopologyNode): Record<string, unknown> {
  return {
    id: node.id,
    label: node.label,
    caption: node.minor_label ? `${node.label}\n${node.minor_label}` : node.label,
    shape: cytoscapeShape(node.shape),
    stack: node.stack,
    kind: node.kind,
  };
}

function edgeData(edge: TopologyEdge): Record<string, unknown> {
  return { id: edge.id, source: edge.source, target: edge.target, connections: edge.connections };
}
