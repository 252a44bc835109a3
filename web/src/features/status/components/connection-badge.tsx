// The live connection state of the view's WebSocket, always visible.

import type { ConnectionState } from '../../../lib/topology-socket';

const LABELS: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  failed: 'Refused',
  closed: 'Disconnected',
};

export function ConnectionBadge({ state, detail }: { state: ConnectionState; detail?: string | undefined }) {
  return (
    <span class={`connection-badge ${state}`} data-testid="connection" data-state={state} title={detail ?? ''}>
      <span class="dot" aria-hidden="true" />
      {LABELS[state]}
    </span>
  );
}
