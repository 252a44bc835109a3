import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { GraphStore } from './graph-store';
import { SILENCE_MS, TopologySocket, withJitter } from './topology-socket';

/** A stand-in for the browser's WebSocket: records instances, lets a test open, message and close them. */
class FakeSocket {
  static made: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;

  constructor(readonly url: string) {
    FakeSocket.made.push(this);
  }

  close(): void {
    this.closed = true;
  }
}

describe('TopologySocket', () => {
  beforeEach(() => {
    FakeSocket.made = [];
    vi.useFakeTimers();
    vi.stubGlobal('WebSocket', FakeSocket);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('gives up on a silent connection and reconnects', () => {
    const states: string[] = [];
    const socket = new TopologySocket('ws://app/api/topology/containers/ws', new GraphStore(), (state) => states.push(state));
    const first = FakeSocket.made[0];
    if (!first) throw new Error('no socket was made');
    first.onopen?.();
    // Heartbeats keep it open.
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(SILENCE_MS - 1_000);
      first.onmessage?.({ data: '{"type":"heartbeat"}' });
    }
    expect(first.closed).toBe(false);
    expect(states.at(-1)).toBe('open');
    // Then nothing: a half-open link is dropped and a new one made.
    vi.advanceTimersByTime(SILENCE_MS);
    expect(first.closed).toBe(true);
    expect(states.at(-1)).toBe('reconnecting');
    vi.advanceTimersByTime(MAX_WAIT);
    expect(FakeSocket.made.length).toBe(2);
    socket.close();
  });

  it('spreads retries between half and all of the delay', () => {
    expect(withJitter(1_000, () => 0)).toBe(500);
    expect(withJitter(1_000, () => 1)).toBe(1_000);
  });
});

const MAX_WAIT = 10_000;
