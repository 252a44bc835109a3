// The one client for the app's REST API (docs/api.md). Every call is
// declared here, typed, and resolved against the page's own location so the
// UI works wherever the app serves it.

import type { AppInfo, NodeDetails, ProbeInfo, TopologySummary, TopologyView } from './api-types';
import { optionsQuery, type ViewOptions } from './view-options';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** URL of an API path relative to the page (http or ws scheme). */
export function apiUrl(path: string, params?: URLSearchParams, scheme: 'http' | 'ws' = 'http'): string {
  const url = new URL(path, document.baseURI);
  if (params && [...params.keys()].length > 0) url.search = params.toString();
  if (scheme === 'ws') url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

async function getJson<T>(path: string, params?: URLSearchParams, signal?: AbortSignal): Promise<T> {
  const response = await fetch(apiUrl(path, params), { signal, headers: { accept: 'application/json' } });
  if (response.status === 401 && typeof window !== 'undefined') {
    // The session expired (or never was): the app's login page sets a new one.
    window.location.assign(new URL('login', document.baseURI).toString());
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = (await response.json()) as { error?: string };
      if (body.error) message = body.error;
    } catch {
      // Not JSON: the status line is the best message we have.
    }
    throw new ApiError(response.status, message);
  }
  return (await response.json()) as T;
}

export function fetchAppInfo(signal?: AbortSignal): Promise<AppInfo> {
  return getJson('api', undefined, signal);
}

export function fetchTopologies(options: ViewOptions, signal?: AbortSignal): Promise<TopologySummary[]> {
  return getJson('api/topology', optionsQuery(options), signal);
}

export function fetchView(view: string, options: ViewOptions, signal?: AbortSignal): Promise<TopologyView> {
  return getJson(`api/topology/${encodeURIComponent(view)}`, optionsQuery(options), signal);
}

export function fetchNodeDetails(
  view: string,
  node: string,
  options: ViewOptions,
  signal?: AbortSignal,
): Promise<NodeDetails> {
  return getJson(
    `api/topology/${encodeURIComponent(view)}/${encodeURIComponent(node)}`,
    optionsQuery(options),
    signal,
  );
}

export function fetchProbes(signal?: AbortSignal): Promise<ProbeInfo[]> {
  return getJson('api/probes', undefined, signal);
}

export function viewSocketUrl(view: string, options: ViewOptions): string {
  return apiUrl(`api/topology/${encodeURIComponent(view)}/ws`, optionsQuery(options), 'ws');
}
