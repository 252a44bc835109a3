// The view options of docs/api.md (stopped, system, unconnected). The UI
// keeps only the options the user chose; the rest are the view's own
// defaults, which differ by view (processes views hide unconnected
// processes) and come from GET /api/topology.

import type { ViewOptionSpec } from './api-types';

/** Options the user chose, by id; an absent option is the view's default. */
export type ViewOptions = Record<string, string>;

export const OPTION_IDS = ['stopped', 'system', 'unconnected'] as const;

/** Views that hide unconnected nodes unless asked (as the app does). */
const HIDES_UNCONNECTED = new Set(['processes', 'processes-by-name']);

/** Option specs used when GET /api/topology does not answer (yet). */
export function defaultOptionSpecs(view: string): ViewOptionSpec[] {
  return [
    { id: 'stopped', values: ['hide', 'show', 'only'], default: 'hide' },
    { id: 'system', values: ['hide', 'show'], default: 'hide' },
    { id: 'unconnected', values: ['hide', 'show'], default: HIDES_UNCONNECTED.has(view) ? 'hide' : 'show' },
  ];
}

/**
 * The chosen options as query parameters (REST and WebSocket alike), with
 * whatever else rides along (time travel's `at` and `from`).
 */
export function optionsQuery(options: ViewOptions): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(options)) {
    if (value) params.set(key, value);
  }
  return params;
}

/** Sets one option; choosing the view's default forgets the choice, so links stay short. */
export function chooseOption(options: ViewOptions, spec: ViewOptionSpec, value: string): ViewOptions {
  const next = { ...options };
  if (value === spec.default) delete next[spec.id];
  else next[spec.id] = value;
  return next;
}
