// How the probes see connections: with their eBPF tracer (every connection,
// failures in red) or from sockets and conntrack alone. Shown beside the
// connection badge so "no red edges" is never mistaken for "no failures".

import type { ProbeInfo } from '../../../lib/api-types';

/** The badge's text and tooltip; null before any probe reported. */
export function tracerSummary(probes: ProbeInfo[] | undefined): { text: string; title: string } | null {
  if (!probes || probes.length === 0) return null;
  const without = probes.filter((probe) => probe.connections !== 'ebpf');
  const title = probes
    .map((probe) => {
      const name = probe.hostname || probe.host;
      return probe.connections === 'ebpf' ? `${name}: eBPF` : `${name}: sockets (${probe.ebpf_unavailable ?? 'no eBPF'})`;
    })
    .join('\n');
  if (without.length === 0) return { text: 'eBPF', title };
  if (without.length === probes.length) return { text: 'No eBPF', title };
  return { text: `eBPF on ${probes.length - without.length}/${probes.length}`, title };
}

export function TracerBadge({ probes }: { probes: ProbeInfo[] | undefined }) {
  const summary = tracerSummary(probes);
  if (!summary) return null;
  return (
    <span class="connection-badge" data-testid="tracer" title={summary.title}>
      {summary.text}
    </span>
  );
}
