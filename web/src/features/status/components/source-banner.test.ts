import { describe, expect, it } from 'vitest';

import type { ProbeInfo } from '../../../lib/api-types';
import { sourceProblems } from './source-banner';

function probe(id: string, states: ProbeInfo['source_states']): ProbeInfo {
  return {
    id,
    host: `host-${id}`,
    hostname: id,
    version: '0.1.0',
    last_seen: 0,
    sources: [],
    source_states: states,
    docker: 'connected',
    dropped_frames: 0,
    host_conflict: null,
    connections: 'sockets',
    ebpf_unavailable: null,
    traced_overflow: 0,
  };
}

describe('sourceProblems', () => {
  it('lists degraded and denied sources with their reasons, denied first', () => {
    const problems = sourceProblems([
      probe('a', [
        { source: 'proc', state: 'active' },
        { source: 'socket_owners', state: 'degraded', reason: 'the probe lacks CAP_SYS_PTRACE' },
        { source: 'proc_net', state: 'unavailable', reason: 'not needed: sock_diag works' },
      ]),
      probe('b', [{ source: 'docker', state: 'denied', reason: 'permission denied on /var/run/docker.sock' }]),
    ]);
    expect(problems.map((p) => [p.host, p.source, p.state, p.reason])).toEqual([
      ['b', 'docker', 'denied', 'permission denied on /var/run/docker.sock'],
      ['a', 'socket_owners', 'degraded', 'the probe lacks CAP_SYS_PTRACE'],
    ]);
  });

  it('says nothing when every source is active or merely absent', () => {
    expect(sourceProblems([probe('a', [{ source: 'ebpf', state: 'unavailable', reason: 'not built' }])])).toEqual([]);
    expect(sourceProblems(undefined)).toEqual([]);
  });
});
