// The list of views with their node counts, refreshed so counts follow the
// live model.

import { fetchTopologies } from '../../../lib/api-client';
import type { TopologySummary } from '../../../lib/api-types';
import { type Polled, usePolling } from '../../../lib/use-polling';
import type { ViewOptions } from '../../../lib/view-options';

const REFRESH_MS = 5000;

export function useTopologies(options: ViewOptions): Polled<TopologySummary[]> {
  return usePolling((signal) => fetchTopologies(options, signal), REFRESH_MS, JSON.stringify(options));
}
