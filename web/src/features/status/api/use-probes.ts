// Connected probes, polled: the source of the "no probes" and "Docker not
// reachable" empty states.

import { fetchProbes } from '../../../lib/api-client';
import type { ProbeInfo } from '../../../lib/api-types';
import { type Polled, usePolling } from '../../../lib/use-polling';

const REFRESH_MS = 5000;

export function useProbes(): Polled<ProbeInfo[]> {
  return usePolling((signal) => fetchProbes(signal), REFRESH_MS, 'probes');
}
