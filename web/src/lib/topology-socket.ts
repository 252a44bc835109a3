// One WebSocket per open view, feeding a GraphStore, with an explicit
// connection state and automatic reconnect. After a reconnect the app sends a
// fresh `full` message, so nothing missed while away is lost.
//
// A socket that never opens may be refused for good (an unknown view is a
// 404): after a few failed tries the view is asked for over REST, and a 4xx
// answer ends the retries with its message instead of retrying forever.

import { ApiError } from './api-client';
import type { ViewMessage } from './api-types';
import type { GraphStore } from './graph-store';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'failed' | 'closed';

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;
/** Failed opens in a row before asking REST whether the view exists at all. */
const CHECK_AFTER = 2;
/** The app sends at least a heartbeat every 5 s; this long without a message means the link is dead. */
export const SILENCE_MS = 15_000;

/** Half the delay fixed, half random, so a restarted app is not hit by every browser at once. */
export function withJitter(ms: number, random: () => number = Math.random): number {
  return ms / 2 + random() * (ms / 2);
}

export class TopologySocket {
  private socket: WebSocket | null = null;
  private retryMs = FIRST_RETRY_MS;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private silenceTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private failedOpens = 0;
  state: ConnectionState = 'connecting';

  constructor(
    private readonly url: string,
    private readonly store: GraphStore,
    private readonly onState: (state: ConnectionState, detail?: string) => void,
    /** Resolves when the view exists; rejects with an ApiError when the app refuses it. */
    private readonly checkView: () => Promise<unknown> = () => Promise.resolve(),
  ) {
    this.connect();
  }

  private setState(state: ConnectionState, detail?: string): void {
    this.state = state;
    this.onState(state, detail);
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = new WebSocket(this.url);
    let opened = false;
    this.socket = socket;
    socket.onopen = () => {
      opened = true;
      this.failedOpens = 0;
      this.retryMs = FIRST_RETRY_MS;
      this.setState('open');
      this.watchSilence(socket);
    };
    socket.onmessage = (event: MessageEvent) => {
      this.watchSilence(socket);
      if (typeof event.data !== 'string') return;
      let message: ViewMessage;
      try {
        message = JSON.parse(event.data) as ViewMessage;
      } catch {
        console.warn('periscope: ignoring a WebSocket message that is not JSON');
        return;
      }
      if (message.type !== 'full' && message.type !== 'diff') return;
      const change = this.store.apply(message);
      if (change.problems.length > 0) console.debug('periscope: tolerated diff problems', change.problems);
      if (message.type === 'diff' && this.store.snapshot().view === null) {
        // A diff without a base: reconnect to get a full view.
        socket.close();
      }
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.clearSilence();
      if (this.stopped) return;
      if (!opened) this.failedOpens += 1;
      this.setState('reconnecting', event.reason || `closed (${event.code})`);
      if (this.failedOpens >= CHECK_AFTER) {
        this.checkView().then(
          () => this.retryLater(),
          (error: unknown) => {
            if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
              this.stopped = true;
              this.setState('failed', error.message);
            } else {
              this.retryLater();
            }
          },
        );
      } else {
        this.retryLater();
      }
    };
    // Errors are always followed by close, which schedules the retry.
    socket.onerror = () => {};
  }

  private retryLater(): void {
    if (this.stopped) return;
    this.retryTimer = setTimeout(() => this.connect(), withJitter(this.retryMs));
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
  }

  /** A half-open connection never closes by itself: give up on it after a silence. */
  private watchSilence(socket: WebSocket): void {
    this.clearSilence();
    this.silenceTimer = setTimeout(() => {
      if (this.socket !== socket) return;
      this.socket = null;
      socket.close();
      this.setState('reconnecting', `no message for ${SILENCE_MS / 1000} s`);
      this.retryLater();
    }, SILENCE_MS);
  }

  private clearSilence(): void {
    if (this.silenceTimer !== null) clearTimeout(this.silenceTimer);
    this.silenceTimer = null;
  }

  close(): void {
    this.stopped = true;
    this.clearSilence();
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.setState('closed');
  }
}
