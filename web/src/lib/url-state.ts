// What the URL holds, so a link reproduces what you see: the view, its
// options, graph or table, the search and its mode, and the selected node.

import { DEFAULT_OPTIONS, type ViewOptions } from './view-options';

export type DisplayMode = 'graph' | 'table';

export interface UrlState {
  view: string;
  options: ViewOptions;
  mode: DisplayMode;
  search: string;
  /** Hide non-matching nodes instead of dimming them. */
  filter: boolean;
  selected: string | null;
}

export const DEFAULT_VIEW = 'containers';

export function parseUrlState(search: string): UrlState {
  const params = new URLSearchParams(search);
  const options: ViewOptions = { ...DEFAULT_OPTIONS };
  for (const key of Object.keys(DEFAULT_OPTIONS)) {
    const value = params.get(key);
    if (value) options[key] = value;
  }
  return {
    view: params.get('view') || DEFAULT_VIEW,
    options,
    mode: params.get('mode') === 'table' ? 'table' : 'graph',
    search: params.get('q') ?? '',
    filter: params.get('filter') === '1',
    selected: params.get('node') || null,
  };
}

export function serializeUrlState(state: UrlState): string {
  const params = new URLSearchParams();
  if (state.view !== DEFAULT_VIEW) params.set('view', state.view);
  for (const [key, value] of Object.entries(state.options)) {
    if (DEFAULT_OPTIONS[key] !== value) params.set(key, value);
  }
  if (state.mode !== 'graph') params.set('mode', state.mode);
  if (state.search) params.set('q', state.search);
  if (state.filter) params.set('filter', '1');
  if (state.selected) params.set('node', state.selected);
  const text = params.toString();
  return text ? `?${text}` : '';
}
