// Opens the WebSocket of the current view and keeps one GraphStore filled
// from it. Stores of the views seen lately are kept: switching back to one
// shows its last data at once (marked stale while the app is unreachable)
// and the socket brings it up to date.

import { useEffect, useMemo, useState } from 'preact/hooks';

import { fetchView, viewSocketUrl } from './api-client';
import { GraphStore } from './graph-store';
import { type ConnectionState, TopologySocket } from './topology-socket';
import type { ViewOptions } from './view-options';

export interface TopologyStream {
  store: GraphStore;
  /** Changes whenever the store does, to re-render readers. */
  version: number;
  connection: ConnectionState;
  connectionDetail: string | undefined;
  /** When the store last got a message from the app (ms since epoch); null before the first. */
  receivedAt: number | null;
}

/** How many views' last data is kept for switching back during an outage. */
const KEPT_VIEWS = 8;
const kept = new Map<string, { store: GraphStore; receivedAt: number | null }>();

function keptStore(key: string): { store: GraphStore; receivedAt: number | null } {
  let entry = kept.get(key);
  if (entry) kept.delete(key);
  else entry = { store: new GraphStore(), receivedAt: null };
  kept.set(key, entry);
  while (kept.size > KEPT_VIEWS) kept.delete(kept.keys().next().value as string);
  return entry;
}

export function useTopologyStream(view: string, options: ViewOptions, enabled = true): TopologyStream {
  const optionsKey = JSON.stringify(options);
  const key = `${view}?${optionsKey}`;
  // One store per view and options: positions and state of another view do not apply.
  const entry = useMemo(() => keptStore(key), [key]);
  const { store } = entry;
  const [version, setVersion] = useState(0);
  const [receivedAt, setReceivedAt] = useState<number | null>(entry.receivedAt);
  const [connection, setConnection] = useState<ConnectionState>('connecting');
  const [detail, setDetail] = useState<string | undefined>(undefined);

  useEffect(() => {
    setReceivedAt(entry.receivedAt);
    return store.subscribe((snapshot) => {
      entry.receivedAt = Date.now();
      setReceivedAt(entry.receivedAt);
      setVersion(snapshot.version);
    });
  }, [store]);

  useEffect(() => {
    if (!enabled) {
      setConnection('failed');
      setDetail(`unknown view "${view}"`);
      return;
    }
    setConnection('connecting');
    const socket = new TopologySocket(
      viewSocketUrl(view, options),
      store,
      (state, why) => {
        setConnection(state);
        setDetail(why);
      },
      () => fetchView(view, options),
    );
    return () => socket.close();
    // `key` stands for view and options: a new object with equal content must not reconnect.
  }, [store, enabled]);

  return { store, version, connection, connectionDetail: detail, receivedAt };
}
