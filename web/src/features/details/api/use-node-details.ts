// The selected node's details, refreshed every two seconds so the metric
// sparklines and connection tables stay live while the panel is open.

import { fetchNodeDetails } from '../../../lib/api-client';
import type { NodeDetails } from '../../../lib/api-types';
import { type Polled, usePolling } from '../../../lib/use-polling';
import type { ViewOptions } from '../../../lib/view-options';

const REFRESH_MS = 2000;

export function useNodeDetails(view: string, node: string, options: ViewOptions): Polled<NodeDetails> {
  return usePolling(
    (signal) => fetchNodeDetails(view, node, options, signal),
    REFRESH_MS,
    `${view}\u0000${node}\u0000${JSON.stringify(options)}`,
  );
}
