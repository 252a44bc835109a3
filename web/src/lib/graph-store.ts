// The streamed topology of one view: server state fed by the WebSocket's
// `full` and `diff` messages (docs/api.md). Everything that draws the graph or
// the table reads from here, so there is one source of truth per open view.
//
// Applying a message never throws: a diff that disagrees with what we hold
// (an add for a node we have, an update or remove for one we lack, an edge to
// a node we never saw) is applied in the most useful way and counted in
// `problems`, the way the app itself treats bad reports as outcomes.

import type {
  DiffMessage,
  FullMessage,
  TopologyEdge,
  TopologyNode,
  ViewMessage,
} from './api-types';

/** What one applied message changed: lets the graph patch, not redraw. */
export interface GraphChange {
  /** True when the whole graph was replaced (first message, reconnect). */
  full: boolean;
  addedNodes: string[];
  updatedNodes: string[];
  removedNodes: string[];
  addedEdges: string[];
  updatedEdges: string[];
  removedEdges: string[];
  /** Human-readable notes on inconsistencies that were tolerated. */
  problems: string[];
}

export interface GraphSnapshot {
  view: string | null;
  nodes: ReadonlyMap<string, TopologyNode>;
  edges: ReadonlyMap<string, TopologyEdge>;
  /** Increases with every applied message; cheap change detection for UIs. */
  version: number;
}

type Listener = (snapshot: GraphSnapshot, change: GraphChange) => void;

function emptyChange(full: boolean): GraphChange {
  return {
    full,
    addedNodes: [],
    updatedNodes: [],
    removedNodes: [],
    addedEdges: [],
    updatedEdges: [],
    removedEdges: [],
    problems: [],
  };
}

export class GraphStore {
  private view: string | null = null;
  private nodes = new Map<string, TopologyNode>();
  private edges = new Map<string, TopologyEdge>();
  private version = 0;
  private listeners = new Set<Listener>();

  snapshot(): GraphSnapshot {
    return { view: this.view, nodes: this.nodes, edges: this.edges, version: this.version };
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Forget everything, e.g. when the user switches to another view. */
  clear(): void {
    const change = emptyChange(true);
    change.removedNodes = [...this.nodes.keys()];
    change.removedEdges = [...this.edges.keys()];
    this.view = null;
    this.nodes = new Map();
    this.edges = new Map();
    this.publish(change);
  }

  apply(message: ViewMessage): GraphChange {
    const change = message.type === 'full' ? this.applyFull(message) : this.applyDiff(message);
    this.publish(change);
    return change;
  }

  private publish(change: GraphChange): void {
    this.version += 1;
    const snapshot = this.snapshot();
    for (const listener of this.listeners) listener(snapshot, change);
  }

  private applyFull(message: FullMessage): GraphChange {
    const change = emptyChange(true);
    const previousNodes = this.nodes;
    const previousEdges = this.edges;
    this.view = message.view;
    this.nodes = new Map();
    this.edges = new Map();
    for (const node of message.nodes) {
      this.nodes.set(node.id, node);
      (previousNodes.has(node.id) ? change.updatedNodes : change.addedNodes).push(node.id);
    }
    for (const id of previousNodes.keys()) if (!this.nodes.has(id)) change.removedNodes.push(id);
    for (const edge of message.edges) {
      if (!this.insertEdge(edge, change)) continue;
      (previousEdges.has(edge.id) ? change.updatedEdges : change.addedEdges).push(edge.id);
    }
    for (const id of previousEdges.keys()) if (!this.edges.has(id)) change.removedEdges.push(id);
    return change;
  }

  private applyDiff(message: DiffMessage): GraphChange {
    const change = emptyChange(false);
    if (this.view === null) {
      // A diff with no full before it has no base; the socket layer asks for
      // a fresh full view by reconnecting.
      change.problems.push(`diff for ${message.view} before any full view`);
      return change;
    }
    if (message.view !== this.view) {
      change.problems.push(`diff for ${message.view} while showing ${this.view}`);
      return change;
    }
    // Removals first: a diff may remove an id and add it back with new content.
    for (const id of message.edges.remove) {
      if (this.edges.delete(id)) change.removedEdges.push(id);
      else change.problems.push(`remove of unknown edge ${id}`);
    }
    for (const id of message.nodes.remove) {
      if (this.nodes.delete(id)) change.removedNodes.push(id);
      else change.problems.push(`remove of unknown node ${id}`);
    }
    for (const node of message.nodes.add) {
      if (this.nodes.has(node.id)) {
        change.problems.push(`add of existing node ${node.id}`);
        change.updatedNodes.push(node.id);
      } else {
        change.addedNodes.push(node.id);
      }
      this.nodes.set(node.id, node);
    }
    // Updates carry only the fields that changed: merge them into what is held.
    for (const patch of message.nodes.update) {
      const held = this.nodes.get(patch.id);
      if (held === undefined) {
        change.problems.push(`update of unknown node ${patch.id}`);
        continue;
      }
      change.updatedNodes.push(patch.id);
      this.nodes.set(patch.id, { ...held, ...patch });
    }
    for (const edge of message.edges.add) {
      const existed = this.edges.has(edge.id);
      if (!this.insertEdge(edge, change)) continue;
      (existed ? change.updatedEdges : change.addedEdges).push(edge.id);
    }
    for (const patch of message.edges.update) {
      const held = this.edges.get(patch.id);
      if (held === undefined) {
        change.problems.push(`update of unknown edge ${patch.id}`);
        continue;
      }
      if (this.insertEdge({ ...held, ...patch }, change)) change.updatedEdges.push(patch.id);
    }
    this.dropDanglingEdges(change);
    return change;
  }

  /** Stores an edge if both ends exist; an edge to nowhere cannot be drawn. */
  private insertEdge(edge: TopologyEdge, change: GraphChange): boolean {
    if (!this.nodes.has(edge.source) || !this.nodes.has(edge.target)) {
      change.problems.push(`edge ${edge.id} references a missing node`);
      return false;
    }
    this.edges.set(edge.id, edge);
    return true;
  }

  /** Removing a node removes its edges, even if the diff forgot to say so. */
  private dropDanglingEdges(change: GraphChange): void {
    if (change.removedNodes.length === 0) return;
    for (const [id, edge] of this.edges) {
      if (!this.nodes.has(edge.source) || !this.nodes.has(edge.target)) {
        this.edges.delete(id);
        change.removedEdges.push(id);
      }
    }
  }
}
