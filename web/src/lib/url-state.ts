// What the URL holds, so a link reproduces what you see: the view, the
// options the user chose, graph, table or resources, the search and its
// mode, the selected node or edge, the metric that fills nodes, and the
// table's sort.

import { OPTION_IDS, type ViewOptions } from './view-options';

export type DisplayMode = 'graph' | 'table' | 'resources';
export type Metric = 'cpu' | 'memory' | 'none';

export interface UrlState {
  view: string;
  options: ViewOptions;
  mode: DisplayMode;
  search: string;
  /** Hide non-matching nodes instead of dimming them. */
  filter: boolean;
  selected: string | null;
  /** A selected edge (`source>target`), shown in the details panel instead of a node. */
  edge: string | null;
  metric: Metric;
  /** Table sort as `column-asc` / `column-desc`. */
  sort: string;
}

export const DEFAULT_VIEW = 'containers';
export const DEFAULT_SORT = 'name-asc';
const MODES: DisplayMode[] = ['graph', 'table', 'resources'];
const METRICS: Metric[] = ['cpu', 'memory', 'none'];

export function parseUrlState(search: string): UrlState {
  const params = new URLSearchParams(search);
  const options: ViewOptions = {};
  for (const key of OPTION_IDS) {
    const value = params.get(key);
    if (value) options[key] = value;
  }
  const mode = params.get('mode') as DisplayMode | null;
  const metric = params.get('metric') as Metric | null;
  return {
    view: params.get('view') || DEFAULT_VIEW,
    options,
    mode: mode && MODES.includes(mode) ? mode : 'graph',
    search: params.get('q') ?? '',
    filter: params.get('filter') === '1',
    selected: params.get('node') || null,
    edge: params.get('edge') || null,
    metric: metric && METRICS.includes(metric) ? metric : 'cpu',
    sort: params.get('sort') || DEFAULT_SORT,
  };
}

export function serializeUrlState(state: UrlState): string {
  const params = new URLSearchParams();
  if (state.view !== DEFAULT_VIEW) params.set('view', state.view);
  for (const key of OPTION_IDS) {
    const value = state.options[key];
    if (value) params.set(key, value);
  }
  if (state.mode !== 'graph') params.set('mode', state.mode);
  if (state.search) params.set('q', state.search);
  if (state.filter) params.set('filter', '1');
  if (state.selected) params.set('node', state.selected);
  if (state.edge) params.set('edge', state.edge);
  if (state.metric !== 'cpu') params.set('metric', state.metric);
  if (state.sort !== DEFAULT_SORT) params.set('sort', state.sort);
  const text = params.toString();
  return text ? `?${text}` : '';
}
