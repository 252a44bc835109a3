// Main-thread side of the layout worker. Only the latest request matters:
// when diffs arrive faster than layouts finish, older answers are dropped
// instead of being drawn and immediately replaced.
//
// A worker can fail: its script may not load, or a layout may throw. Then
// the pending request is rejected (the graph says so and lays out in the
// page instead, see `layoutInPage`), and the next request starts a fresh
// worker, so one bad moment does not leave new nodes undrawn for good.

import { computeLayout } from './compute-layout';
import type { LayoutEdge, LayoutNode, LayoutRequest, LayoutResult, Point } from './layout-types';

/** The part of a Worker this client uses; tests hand in a stand-in that fails. */
export interface LayoutWorker {
  onmessage: ((event: MessageEvent<LayoutResult>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  onmessageerror?: ((event: MessageEvent) => void) | null;
  postMessage(message: LayoutRequest): void;
  terminate(): void;
}

let spare: LayoutWorker | null = null;

function startWorker(): LayoutWorker {
  return new Worker(new URL('./layout-worker.ts', import.meta.url), { type: 'module' }) as unknown as LayoutWorker;
}

/**
 * Starts a layout worker ahead of time, so loading its script overlaps with
 * fetching the first view instead of delaying the first layout. The next
 * LayoutClient takes it over.
 */
export function prewarmLayoutWorker(): void {
  spare ??= startWorker();
}

interface Waiting {
  resolve: (result: LayoutResult | null) => void;
  reject: (error: Error) => void;
}

export class LayoutClient {
  private worker: LayoutWorker | null = null;
  private nextId = 1;
  private waiting = new Map<number, Waiting>();

  constructor(private readonly makeWorker: () => LayoutWorker = startWorker) {}

  private ensureWorker(): LayoutWorker {
    if (this.worker) return this.worker;
    const worker = this.makeWorker === startWorker && spare ? spare : this.makeWorker();
    if (worker === spare) spare = null;
    worker.onmessage = (event: MessageEvent<LayoutResult>) => {
      const waiting = this.waiting.get(event.data.requestId);
      this.waiting.delete(event.data.requestId);
      waiting?.resolve(event.data);
    };
    const fail = (message: string) => {
      // This worker is done for: the next request gets a new one.
      worker.terminate();
      if (this.worker === worker) this.worker = null;
      const error = new Error(message);
      for (const waiting of this.waiting.values()) waiting.reject(error);
      this.waiting.clear();
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault?.();
      fail(event.message || 'the layout worker stopped');
    };
    worker.onmessageerror = () => fail('a layout message could not be read');
    this.worker = worker;
    return worker;
  }

  /** Resolves with positions, or null when a newer request superseded it; rejects when the worker fails. */
  layout(
    nodes: LayoutNode[],
    edges: LayoutEdge[],
    previous: Record<string, Point>,
    hints: Record<string, Point> = {},
  ): Promise<LayoutResult | null> {
    const requestId = this.nextId++;
    for (const [id, waiting] of this.waiting) {
      this.waiting.delete(id);
      waiting.resolve(null);
    }
    return new Promise((resolve, reject) => {
      this.waiting.set(requestId, { resolve, reject });
      try {
        this.ensureWorker().postMessage({ requestId, nodes, edges, previous, hints });
      } catch (error) {
        this.waiting.delete(requestId);
        reject(error as Error);
      }
    });
  }

  /** The same layout on the page's own thread: the fallback when the worker failed. */
  async layoutInPage(
    nodes: LayoutNode[],
    edges: LayoutEdge[],
    previous: Record<string, Point>,
    hints: Record<string, Point> = {},
  ): Promise<LayoutResult | null> {
    const requestId = this.nextId++;
    for (const [id, waiting] of this.waiting) {
      this.waiting.delete(id);
      waiting.resolve(null);
    }
    return computeLayout({ requestId, nodes, edges, previous, hints });
  }

  dispose(): void {
    this.worker?.terminate();
    this.worker = null;
    for (const waiting of this.waiting.values()) waiting.resolve(null);
    this.waiting.clear();
  }
}
