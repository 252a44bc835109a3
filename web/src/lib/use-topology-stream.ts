// Opens the WebSocket of the current view and keeps one GraphStore filled
// from it; switching view or options closes the old socket and starts over.

import { useEffect, useMemo, useState } from 'preact/hooks';

import { viewSocketUrl } from './api-client';
import { GraphStore } from './graph-store';
import { type ConnectionState, TopologySocket } from './topology-socket';
import type { ViewOptions } from './view-options';

export interface TopologyStream {
  store: GraphStore;
  /** Changes whenever the store does, to re-render readers. */
  version: number;
  connection: ConnectionState;
  connectionDetail: string | undefined;
}

export function useTopologyStream(view: string, options: ViewOptions): TopologyStream {
  const optionsKey = JSON.stringify(options);
  // A fresh store per view: positions and state of another view do not apply.
  const store = useMemo(() => new GraphStore(), [view, optionsKey]);
  const [version, setVersion] = useState(0);
  const [connection, setConnection] = useState<ConnectionState>('connecting');
  const [detail, setDetail] = useState<string | undefined>(undefined);

  useEffect(() => store.subscribe((snapshot) => setVersion(snapshot.version)), [store]);

  useEffect(() => {
    setConnection('connecting');
    const socket = new TopologySocket(viewSocketUrl(view, options), store, (state, why) => {
      setConnection(state);
      setDetail(why);
    });
    return () => socket.close();
    // optionsKey stands for options: a new object with equal content must
    // not reconnect.
  }, [store]);

  return { store, version, connection, connectionDetail: detail };
}
