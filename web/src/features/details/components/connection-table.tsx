// Inbound or outbound connections of the selected node.

import type { Connection, Rates } from '../../../lib/api-types';
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
  const hasRates = connections.some((c) => c.per_minute);
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
              {hasRates ? <th class="numeric">Per min</th> : null}
              {hasRates ? <th>Failures/min</th> : null}
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
                {hasRates ? <td class="numeric">{connection.per_minute?.connections ?? '–'}</td> : null}
                {hasRates ? (
                  <td class={connection.failing ? 'failing' : undefined}>{describeFailures(connection.per_minute)}</td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** "3 refused, 1 unanswered" — the kinds that happened, or a dash. */
export function describeFailures(rates: Rates | null | undefined): string {
  if (!rates) return '–';
  const kinds: [number, string][] = [
    [rates.refused, 'refused'],
    [rates.unanswered, 'unanswered'],
    [rates.reset, 'reset'],
    [rates.retransmits, 'retransmits'],
  ];
  const parts = kinds.filter(([count]) => count > 0).map(([count, kind]) => `${count} ${kind}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}
