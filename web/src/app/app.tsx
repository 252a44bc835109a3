// Composes the features into the page. State lives where its kind says:
// view/options/search/selection in the URL, the streamed graph in one
// GraphStore per open view, polled REST data in the hooks that poll it.

import { useEffect, useMemo, useState } from 'preact/hooks';

import { fetchAppInfo } from '../lib/api-client';
import { isEmptyQuery, matchesNode, parseSearch } from '../lib/search-query';
import { PALETTES, useTheme } from '../lib/theme';
import { useTopologyStream } from '../lib/use-topology-stream';
import { useUrlState } from '../lib/use-url-state';
import { ControlButtons, type OpenedPipe } from '../features/controls/components/control-buttons';
import { DetailsPanel } from '../features/details/components/details-panel';
import { LogPanel } from '../features/logs/components/log-panel';
import { TerminalPanel } from '../features/terminal/components/terminal-panel';
import { GraphView } from '../features/graph/components/graph-view';
import { SearchBox } from '../features/search/components/search-box';
import { useProbes } from '../features/status/api/use-probes';
import { ConnectionBadge } from '../features/status/components/connection-badge';
import { EmptyState } from '../features/status/components/empty-state';
import { SourceBanner } from '../features/status/components/source-banner';
import { TableView } from '../features/table/components/table-view';
import { useTopologies } from '../features/topology-picker/api/use-topologies';
import { TopologyPicker } from '../features/topology-picker/components/topology-picker';
import { TimelineStrip } from '../features/timeline/components/timeline-strip';
import { useTimeTravel } from '../features/timeline/use-time-travel';

export function App() {
  const [url, setUrl] = useUrlState();
  const [theme, toggleTheme] = useTheme();
  const palette = PALETTES[theme];
  const travel = useTimeTravel(url.view, url.options);
  // Time travel is one more query parameter on the view's socket and details (docs/api.md, "History").
  const shownOptions = useMemo(
    () => (travel.at === null ? url.options : { ...url.options, at: String(travel.at) }),
    [url.options, travel.at],
  );
  const detailsOptions = useMemo(
    () =>
      travel.history?.enabled && (travel.at !== null || travel.windowId !== '15m')
        ? { ...shownOptions, from: String(travel.span.from) }
        : shownOptions,
    [shownOptions, travel.history?.enabled, travel.windowId, Math.floor(travel.span.from / 60_000)],
  );
  const stream = useTopologyStream(url.view, shownOptions);
  const topologies = useTopologies(url.options);
  const probes = useProbes();
  const [readOnly, setReadOnly] = useState(false);
  const [pipe, setPipe] = useState<OpenedPipe | null>(null);

  useEffect(() => {
    fetchAppInfo()
      .then((info) => setReadOnly(info.read_only))
      .catch(() => {
        // Older apps may lack GET /api; controls then just stay as they are.
      });
  }, []);

  const query = useMemo(() => parseSearch(url.search), [url.search]);
  const compared = travel.comparison;
  const matcher = useMemo(() => {
    if (compared) {
      // Compare mode highlights what appeared or changed since the picked moment.
      const ids = new Set([...compared.appeared, ...compared.changed].map((node) => node.id));
      return (node: Parameters<typeof matchesNode>[1]) => ids.has(node.id);
    }
    return isEmptyQuery(query) ? null : (node: Parameters<typeof matchesNode>[1]) => matchesNode(query, node);
  }, [query, compared]);
  const snapshot = stream.store.snapshot();
  const matchCount = useMemo(() => {
    if (!matcher) return null;
    let count = 0;
    for (const node of snapshot.nodes.values()) if (matcher(node)) count += 1;
    return count;
  }, [matcher, stream.version, stream.store]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape' && url.selected) setUrl({ selected: null });
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [url.selected, setUrl]);

  const select = (id: string | null) => setUrl({ selected: id });

  return (
    <div class="app" data-theme={theme}>
      <header class="topbar">
        <div class="brand" title="Periscope: live container topology">
          <span class="logo" aria-hidden="true">◉</span> Periscope
        </div>
        <TopologyPicker
          topologies={topologies.data}
          current={url.view}
          options={url.options}
          onSelect={(view) => setUrl({ view, selected: null })}
          onOptionChange={(id, value) => setUrl({ options: { ...url.options, [id]: value } })}
        />
        <div class="topbar-right">
          <div class="mode-switch" role="group" aria-label="Display">
            <button
              type="button"
              data-mode="graph"
              class={url.mode === 'graph' ? 'active' : ''}
              onClick={() => setUrl({ mode: 'graph' })}
            >
              Graph
            </button>
            <button
              type="button"
              data-mode="table"
              class={url.mode === 'table' ? 'active' : ''}
              onClick={() => setUrl({ mode: 'table' })}
            >
              Table
            </button>
          </div>
          <button type="button" class="theme-toggle" data-testid="theme-toggle" onClick={toggleTheme}>
            {theme === 'dark' ? 'Light' : 'Dark'}
          </button>
          <ConnectionBadge state={stream.connection} detail={stream.connectionDetail} />
        </div>
      </header>
      <SourceBanner probes={probes.data} />
      <div class="searchbar">
        <SearchBox
          value={url.search}
          query={query}
          filterMode={url.filter}
          matchCount={matchCount}
          onChange={(search) => setUrl({ search }, 'replace')}
          onFilterModeChange={(filter) => setUrl({ filter }, 'replace')}
        />
        <span class="node-count" data-testid="node-count">
          {snapshot.nodes.size} nodes · {snapshot.edges.size} edges
        </span>
      </div>
      <main class={`content ${url.selected ? 'with-details' : ''}`}>
        <div class={`stage ${travel.at !== null ? 'stage-past' : ''}`}>
          {url.mode === 'graph' ? (
            <GraphView
              store={stream.store}
              palette={palette}
              matcher={matcher}
              filterMode={url.filter}
              selected={url.selected}
              onSelect={select}
            />
          ) : (
            <TableView
              store={stream.store}
              version={stream.version}
              matcher={matcher}
              filterMode={url.filter}
              selected={url.selected}
              onSelect={select}
            />
          )}
          <EmptyState
            probes={probes.data}
            view={url.view}
            nodeCount={snapshot.nodes.size}
            loaded={snapshot.view !== null}
          />
        </div>
        {url.selected ? (
          <DetailsPanel
            key={`${url.view}/${url.selected}`}
            view={url.view}
            nodeId={url.selected}
            options={detailsOptions}
            palette={palette}
            readOnly={readOnly}
            onClose={() => select(null)}
            onOpen={(view, id) => setUrl({ view, selected: id })}
            renderControls={(controls, nodeId, label) => (
              <ControlButtons controls={controls} nodeId={nodeId} nodeLabel={label} onPipe={setPipe} />
            )}
          />
        ) : null}
      </main>
      {pipe?.kind === 'logs' ? (
        <LogPanel key={pipe.url} url={pipe.url} title={pipe.title} onClose={() => setPipe(null)} />
      ) : null}
      {pipe?.kind === 'exec' ? (
        <TerminalPanel key={pipe.url} url={pipe.url} title={pipe.title} onClose={() => setPipe(null)} />
      ) : null}
      <TimelineStrip travel={travel} view={url.view} onOpen={(view, id) => setUrl({ view, selected: id })} />
    </div>
  );
}
