import { describe, expect, it } from 'vitest';

import type { ProbeInfo } from '../../../lib/api-types';
import { tracerSummary } from './tracer-badge';

const probe = (hostname: string, connections: 'ebpf' | 'sockets', reason: string | null = null): ProbeInfo => ({
  id: hostname,
  host: hostname,
  hostname,
  version: '0.1.0',
  last_seen: 0,
  sources: [],
  source_states: [],
  docker: 'connected',
  dropped_frames: 0,
  host_conflict: null,
  connections,
  ebpf_unavailable: reason,
  traced_overflow: 0,
});

describe('tracerSummary', () => {
  it('says which probes trace with eBPF, and why the others do not', () => {
    expect(tracerSummary([probe('a', 'ebpf')])?.text).toBe('eBPF');
    const mixed = tracerSummary([probe('a', 'ebpf'), probe('b', 'sockets', 'disabled by --ebpf off')]);
    expect(mixed?.text).toBe('eBPF on 1/2');
    expect(mixed?.title).toContain('b: sockets (disabled by --ebpf off)');
    expect(tracerSummary([])).toBeNull();
  });
});
