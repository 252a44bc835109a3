// Messages between the graph view and the layout worker. Plain data only:
// they cross a structured-clone boundary.

export interface Point {
  x: number;
  y: number;
}

export interface LayoutNode {
  id: string;
  /** Nodes of the same rank sit together (the API's layout hint). */
  rank: string;
  /** Drawn width of the node with its label; neighbours in a row keep clear of it. */
  width?: number;
}

export interface LayoutEdge {
  /** Client side: drawn above its server in layered layouts. */
  source: string;
  target: string;
}

export interface LayoutRequest {
  requestId: number;
  nodes: LayoutNode[];
  edges: LayoutEdge[];
  /** Positions the user already sees; kept as they are so nodes never jump. */
  previous: Record<string, Point>;
  /**
   * Where some new nodes should start (the spot of the group they came out
   * of, say). They settle from there like other new nodes; not pinned.
   */
  hints?: Record<string, Point>;
}

export type LayoutAlgorithm = 'layered' | 'force' | 'incremental';

export interface LayoutResult {
  requestId: number;
  positions: Record<string, Point>;
  algorithm: LayoutAlgorithm;
  /** Time spent computing inside the worker, in milliseconds. */
  millis: number;
}

/** Spacing between node centres; nodes are ~40 px with a label below. */
export const NODE_SPACING = 110;
/** Clear space left between two labels side by side. */
export const LABEL_GAP = 24;

/** Half the room a node of drawn `width` takes in a row: never less than half the spacing. */
export function halfRoom(width: number | undefined): number {
  return Math.max(NODE_SPACING, (width ?? 0) + LABEL_GAP) / 2;
}
