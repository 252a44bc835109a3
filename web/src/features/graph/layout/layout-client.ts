// Main-thread side of the layout worker. Only the latest request matters:
// when diffs arrive faster than layouts finish, older answers are dropped
// instead of being drawn and immediately replaced.

import type { LayoutEdge, LayoutNode, LayoutResult, Point } from './layout-types';

let spare: Worker | null = null;

function startWorker(): Worker {
  return new Worker(new URL('./layout-worker.ts', import.meta.url), { type: 'module' });
}

/**
 * Starts a layout worker ahead of time, so loading its script overlaps with
 * fetching the first view instead of delaying the first layout. The next
 * LayoutClient takes it over.
 */
export function prewarmLayoutWorker(): void {
  spare ??= startWorker();
}

export class LayoutClient {
  private worker: Worker;
  private nextId = 1;
  private waiting = new Map<number, (result: LayoutResult | null) => void>();

  constructor() {
    this.worker = spare ?? startWorker();
    spare = null;
    this.worker.onmessage = (event: MessageEvent<LayoutResult>) => {
      const resolve = this.waiting.get(event.data.requestId);
      this.waiting.delete(event.data.requestId);
      resolve?.(event.data);
    };
  }

  /** Resolves with positions, or null when a newer request superseded it. */
  layout(
    nodes: LayoutNode[],
    edges: LayoutEdge[],
    previous: Record<string, Point>,
    hints: Record<string, Point> = {},
  ): Promise<LayoutResult | null> {
    const requestId = this.nextId++;
    for (const [id, resolve] of this.waiting) {
      this.waiting.delete(id);
      resolve(null);
    }
    return new Promise((resolve) => {
      this.waiting.set(requestId, resolve);
      this.worker.postMessage({ requestId, nodes, edges, previous, hints });
    });
  }

  dispose(): void {
    this.worker.terminate();
    for (const resolve of this.waiting.values()) resolve(null);
    this.waiting.clear();
  }
}
