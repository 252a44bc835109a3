// What each probe cannot see, and why: sources the probe reported degraded
// (working, seeing less) or denied (refused by the host), each with the
// reason it gave, e.g. "sockets of other users' processes have no owner:
// the probe lacks CAP_SYS_PTRACE". Sources merely absent or disabled are
// left to the empty states.

import type { ProbeInfo } from '../../../lib/api-types';

export interface SourceProblem {
  probe: string;
  host: string;
  source: string;
  state: 'degraded' | 'denied';
  reason: string;
}

const LABELS: Record<string, string> = {
  host: 'host facts',
  proc: 'processes',
  sock_diag: 'sockets (sock_diag)',
  proc_net: 'sockets (/proc/net)',
  conntrack: 'conntrack',
  docker: 'Docker',
  ebpf: 'eBPF',
  controls: 'controls',
  host_shell: 'host shell',
  socket_owners: 'socket owners',
};

/** The degraded and denied sources of every probe, denied first. */
export function sourceProblems(probes: ProbeInfo[] | undefined): SourceProblem[] {
  const problems: SourceProblem[] = [];
  for (const probe of probes ?? []) {
    for (const status of probe.source_states ?? []) {
      if (status.state === 'degraded' || status.state === 'denied') {
        problems.push({
          probe: probe.id,
          host: probe.hostname || probe.host,
          source: status.source,
          state: status.state,
          reason: status.reason ?? '',
        });
      }
    }
  }
  const rank = (problem: SourceProblem) => (problem.state === 'denied' ? 0 : 1);
  return problems.sort((a, b) => rank(a) - rank(b) || a.host.localeCompare(b.host));
}

export function sourceLabel(source: string): string {
  return LABELS[source] ?? source;
}

/** A strip under the top bar; null when every probe sees all it can. */
export function SourceBanner({ probes }: { probes: ProbeInfo[] | undefined }) {
  const problems = sourceProblems(probes);
  if (problems.length === 0) {
    return null;
  }
  return (
    <div class="source-banner" role="status" data-testid="source-banner">
      <strong>Partial view:</strong>
      <ul>
        {problems.map((problem) => (
          <li
            key={`${problem.probe}/${problem.source}`}
            data-source={problem.source}
            data-state={problem.state}
            class={problem.state}
          >
            <span class="source-host">{problem.host}</span> · {sourceLabel(problem.source)} {problem.state}:{' '}
            {problem.reason}
          </li>
        ))}
      </ul>
    </div>
  );
}
