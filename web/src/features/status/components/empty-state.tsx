// Empty states that say what to do: no probe, Docker unreachable, or a view
// with nothing in it under the current options.

import type { ProbeInfo } from '../../../lib/api-types';

export interface EmptyStateProps {
  probes: ProbeInfo[] | undefined;
  view: string;
  nodeCount: number;
  /** True once the first full view has arrived. */
  loaded: boolean;
  /** The app is unreachable right now. */
  outage?: boolean;
}

const CONTAINER_VIEWS = new Set(['containers', 'containers-by-image', 'containers-by-hostname', 'compose']);

/** A banner shown over the graph; null when there is nothing to say. */
export function EmptyState({ probes, view, nodeCount, loaded, outage }: EmptyStateProps) {
  if (outage && !loaded) {
    return (
      <div class="empty-state" data-testid="empty-state" data-reason="no-data-yet">
        <h2>No data for this view yet</h2>
        <p>The app is unreachable, and this view was not open before it went away. It will fill in once the app answers again.</p>
      </div>
    );
  }
  if (probes && probes.length === 0) {
    return (
      <div class="empty-state" data-testid="empty-state" data-reason="no-probes">
        <h2>No probes connected</h2>
        <p>
          Periscope draws what its probes report. Start one on each host you want to see, pointing at this app, e.g.
          <code>periscope-probe --app ws://HOST:4040</code> (or run the app in standalone mode, which has a built-in
          probe).
        </p>
      </div>
    );
  }
  const dockerDown = probes?.filter((probe) => probe.docker === 'unavailable') ?? [];
  if (dockerDown.length > 0 && CONTAINER_VIEWS.has(view)) {
    return (
      <div class="empty-state banner" data-testid="empty-state" data-reason="docker-unavailable">
        <h2>Docker not reachable</h2>
        <p>
          The probe on {dockerDown.map((probe) => probe.hostname || probe.host).join(', ')} cannot reach the Docker
          engine, so containers there are missing. Check that Docker is running and that the probe can read
          <code>/var/run/docker.sock</code>.
        </p>
      </div>
    );
  }
  if (loaded && nodeCount === 0) {
    return (
      <div class="empty-state" data-testid="empty-state" data-reason="empty-view">
        <h2>Nothing to show in this view</h2>
        <p>Try another view, or show stopped, system or unconnected nodes with the options above.</p>
      </div>
    );
  }
  return null;
}
