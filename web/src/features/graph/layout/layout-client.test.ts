import { describe, expect, it } from 'vitest';

import { LayoutClient, type LayoutWorker } from './layout-client';
import type { LayoutRequest, LayoutResult } from './layout-types';

/** A worker that fails the way a real one does when its script breaks: an error event, no answer. */
class FailingWorker implements LayoutWorker {
  onmessage: ((event: MessageEvent<LayoutResult>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  terminated = false;
  postMessage(_message: LayoutRequest): void {
    queueMicrotask(() => this.onerror?.({ message: 'boom', preventDefault: () => {} } as ErrorEvent));
  }
  terminate(): void {
    this.terminated = true;
  }
}

describe('LayoutClient', () => {
  it('rejects when the worker fails, lays out in the page instead, and starts a new worker next time', async () => {
    const workers: FailingWorker[] = [];
    const client = new LayoutClient(() => {
      const worker = new FailingWorker();
      workers.push(worker);
      return worker;
    });
    const nodes = [
      { id: 'a', rank: '' },
      { id: 'b', rank: '' },
    ];
    const edges = [{ source: 'a', target: 'b' }];
    await expect(client.layout(nodes, edges, {})).rejects.toThrow('boom');
    expect(workers[0]?.terminated).toBe(true);
    const fallback = await client.layoutInPage(nodes, edges, {});
    expect(Object.keys(fallback?.positions ?? {}).sort()).toEqual(['a', 'b']);
    await expect(client.layout(nodes, edges, {})).rejects.toThrow('boom');
    expect(workers).toHaveLength(2);
  });
});
