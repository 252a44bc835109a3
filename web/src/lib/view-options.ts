// The view options of docs/api.md (stopped, system, unconnected): their
// defaults and their query-string form, shared by REST, WebSocket and URL.

export type ViewOptions = Record<string, string>;

export const DEFAULT_OPTIONS: ViewOptions = {
  stopped: 'hide',
  system: 'hide',
  unconnected: 'show',
};

/** Option specs used when GET /api/topology does not list any. */
export const DEFAULT_OPTION_SPECS = [
  { id: 'stopped', values: ['hide', 'show', 'only'], default: 'hide' },
  { id: 'system', values: ['hide', 'show'], default: 'hide' },
  { id: 'unconnected', values: ['hide', 'show'], default: 'show' },
];

/** Only options that differ from the default go on the wire and in links. */
export function optionsQuery(options: ViewOptions): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(options)) {
    if (DEFAULT_OPTIONS[key] !== value) params.set(key, value);
  }
  return params;
}
