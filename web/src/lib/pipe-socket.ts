// The WebSocket of one pipe (docs/api.md, WS /api/pipe/{id}): binary frames
// carry bytes both ways; text frames carry JSON commands up (resize) and a
// closing reason down.

import { apiUrl } from './api-client';

export interface PipeHandlers {
  onOutput: (bytes: Uint8Array) => void;
  /** The pipe ended: the reason the app gave, or that the socket dropped. */
  onClosed: (reason: string) => void;
}

export class PipeSocket {
  private readonly socket: WebSocket;
  private readonly encoder = new TextEncoder();
  private closedReported = false;

  /** `url` is the `url` the control answered (`/api/pipe/{id}`). */
  constructor(url: string, handlers: PipeHandlers) {
    this.socket = new WebSocket(apiUrl(url.replace(/^\//, ''), undefined, 'ws'));
    this.socket.binaryType = 'arraybuffer';
    this.socket.onmessage = (event: MessageEvent) => {
      if (typeof event.data === 'string') {
        try {
          const message = JSON.parse(event.data) as { type?: string; reason?: string };
          if (message.type === 'closed') this.reportClosed(handlers, message.reason ?? 'closed');
        } catch {
          // Not a command we know: ignore, as the API allows new ones.
        }
        return;
      }
      handlers.onOutput(new Uint8Array(event.data as ArrayBuffer));
    };
    this.socket.onclose = () => this.reportClosed(handlers, 'the connection closed');
    this.socket.onerror = () => this.reportClosed(handlers, 'the connection failed');
  }

  private reportClosed(handlers: PipeHandlers, reason: string) {
    if (this.closedReported) return;
    this.closedReported = true;
    handlers.onClosed(reason);
  }

  send(text: string) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(this.encoder.encode(text));
  }

  resize(cols: number, rows: number) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: 'resize', cols, rows }));
  }

  close() {
    this.closedReported = true;
    this.socket.close();
  }
}
