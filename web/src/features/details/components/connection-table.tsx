// Inbound or outbound connections of the selected node.

import type { Connection } from '../../../lib/api-types';
import { formatBytes, formatRtt } from '../../../lib/format';

export interface ConnectionTableProps {
  title: string;
  connections: Connection[];
  onOpenNode: (id: string) => void;
}

export function ConnectionTable({ title, connections, onOpenNode }: ConnectionTableProps) {
  const hasTcpFacts = connections.some(
    (c) => c.rtt_us !== null || c.bytes_sent !== null || c.bytes_received !== null,
  );
  return (
    <section class="details-section">
      <h3>
        {title} <span class="count">{connections.length}</span>
      </h3>
      {connections.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <table class="connections">
          <thead>
            <tr>
              <th>Remote</th>
              <th>Address</th>
              <th class="numeric">Port</th>
              <th class="numeric">Count</th>
              {hasTcpFacts ? <th class="numeric">RTT</th> : null}
              {hasTcpFacts ? <th class="numeric">Bytes out/in</th> : null}
            </tr>
          </thead>
          <tbody>
            {connections.map((connection, index) => (
              <tr key={`${connection.node ?? connection.address}:${connection.port ?? ''}:${index}`}>
                <td>
                  {connection.node ? (
                    <button type="button" class="link" onClick={() => onOpenNode(connection.node as string)}>
                      {connection.label}
                    </button>
                  ) : (
                    connection.label
                  )}
                </td>
                <td>{connection.address}</td>
                <td class="numeric">{connection.port ?? '–'}</td>
                <td class="numeric">{connection.count}</td>
                {hasTcpFacts ? <td class="numeric">{formatRtt(connection.rtt_us)}</td> : null}
                {hasTcpFacts ? (
                  <td class="numeric">
                    {formatBytes(connection.bytes_sent)} / {formatBytes(connection.bytes_received)}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
