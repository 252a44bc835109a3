// The history routes of docs/api.md ("History"): what range is held, the
// change timeline, and a view at a past moment (for compare). Resolved
// against the page like every other call (lib/api-client's apiUrl).

import { apiUrl } from '../../../lib/api-client';
import type { TopologyView } from '../../../lib/api-types';
import { optionsQuery, type ViewOptions } from '../../../lib/view-options';

export interface HistoryInfo {
  enabled: boolean;
  from: number | null;
  to: number | null;
  error: string | null;
  dropped_records: number;
}

export interface EventNode {
  view: string;
  id: string;
  label: string;
}

export type EventKind =
  | 'container_created'
  | 'container_started'
  | 'container_died'
  | 'container_oom_killed'
  | 'container_restarted'
  | 'container_health'
  | 'container_paused'
  | 'container_unpaused'
  | 'container_removed'
  | 'edge_seen'
  | 'edge_gone'
  | 'probe_connected'
  | 'probe_lost'
  | 'edge_failing';

export interface TimelineEvent {
  at: number;
  kind: EventKind;
  node: EventNode;
  peer: EventNode | null;
  host: string | null;
  exit_code: number | null;
  oom_killed: boolean | null;
  health: string | null;
  restart_count: number | null;
}

export interface EventList {
  from: number;
  to: number;
  truncated: boolean;
  events: TimelineEvent[];
}

async function getJson<T>(path: string, params: URLSearchParams, signal?: AbortSignal): Promise<T> {
  const response = await fetch(apiUrl(path, params), { signal, headers: { accept: 'application/json' } });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = (await response.json()) as { error?: string };
      if (body.error) message = body.error;
    } catch {
      // Not JSON: the status line is the best message we have.
    }
    throw new Error(message);
  }
  return (await response.json()) as T;
}

export function fetchHistory(signal?: AbortSignal): Promise<HistoryInfo> {
  return getJson('api/history', new URLSearchParams(), signal);
}

export function fetchEvents(from: number, to: number, signal?: AbortSignal): Promise<EventList> {
  const params = new URLSearchParams({ from: String(Math.floor(from)), to: String(Math.ceil(to)), limit: '2000' });
  return getJson('api/events', params, signal);
}

/** The view at `at` (Unix ms), or live when `at` is null. */
export function fetchViewAt(
  view: string,
  options: ViewOptions,
  at: number | null,
  signal?: AbortSignal,
): Promise<TopologyView> {
  const params = optionsQuery(options);
  if (at !== null) params.set('at', String(Math.floor(at)));
  return getJson(`api/topology/${encodeURIComponent(view)}`, params, signal);
}
