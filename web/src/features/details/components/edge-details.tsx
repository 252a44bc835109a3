// Details of a selected edge: the pair, its totals from the live view, and
// each connection row (addresses, port, RTT, bytes) from the client node's
// details, which list its outbound connections by server node.

import type { TopologyEdge, TopologyNode } from '../../../lib/api-types';
import { formatBytes, formatRtt } from '../../../lib/format';
import type { ViewOptions } from '../../../lib/view-options';
import { useNodeDetails } from '../api/use-node-details';
import { ConnectionTable } from './connection-table';

export interface EdgeDetailsProps {
  view: string;
  edge: TopologyEdge | undefined;
  edgeId: string;
  source: TopologyNode | undefined;
  target: TopologyNode | undefined;
  options: ViewOptions;
  onClose: () => void;
  onOpen: (view: string, id: string) => void;
}

export function EdgeDetails(props: EdgeDetailsProps) {
  const { edge, source, target } = props;
  const sourceId = edge?.source ?? props.edgeId.split('>')[0] ?? '';
  const details = useNodeDetails(props.view, sourceId, props.options);
  const rows = details.data?.connections.outbound.filter((row) => row.node === edge?.target) ?? [];
  return (
    <aside class="details-panel" data-testid="details" aria-label="Edge details">
      <header class="details-header">
        <div>
          <h2 data-testid="details-title">
            {source?.label ?? edge?.source ?? '?'} → {target?.label ?? edge?.target ?? '?'}
          </h2>
          <div class="muted">connection · client → server</div>
        </div>
        <button type="button" class="close" title="Close (Esc)" onClick={props.onClose}>
          ×
        </button>
      </header>
      {!edge ? <p class="muted">This edge is not in the view any more.</p> : null}
      {edge ? (
        <div class="details-body">
          <section class="details-section">
            <h3>Totals</h3>
            <dl class="metadata" data-testid="edge-facts">
              <Fact label="Connections" value={String(edge.connections)} />
              <Fact label="Ports" value={edge.ports.length > 0 ? edge.ports.join(', ') : '–'} />
              <Fact label="RTT" value={formatRtt(edge.rtt_us)} />
              <Fact label="Bytes out / in" value={`${formatBytes(edge.bytes_sent)} / ${formatBytes(edge.bytes_received)}`} />
              <Fact label="Retransmits" value={edge.retransmits === null || edge.retransmits === undefined ? '–' : String(edge.retransmits)} />
              {edge.failures !== undefined ? <Fact label="Failures" value={edge.failures === null ? '–' : String(edge.failures)} /> : null}
            </dl>
          </section>
          <section class="details-section">
            <h3>Ends</h3>
            <ul class="links">
              {[source, target].map((node, index) =>
                node ? (
                  <li key={node.id}>
                    <button type="button" class="link" onClick={() => props.onOpen(props.view, node.id)}>
                      {node.label}
                    </button>{' '}
                    <span class="muted">{index === 0 ? 'client' : 'server'}</span>
                  </li>
                ) : null,
              )}
            </ul>
          </section>
          <ConnectionTable title="Connections" connections={rows} onOpenNode={(id) => props.onOpen(props.view, id)} />
        </div>
      ) : null}
    </aside>
  );
}

function Fact({ label, value }: { label: string; value: string }) {
  return (
    <div class="metadata-row">
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}
