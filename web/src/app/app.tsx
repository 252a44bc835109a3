// Composes the features into the page. State lives where its kind says:
// view/options/search/selection/metric/sort in the URL, the streamed graph in
// one GraphStore per open view (the last few kept for switching back), polled
// REST data in the hooks that poll it.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';

import { fetchAppInfo } from '../lib/api-client';
import { isEmptyQuery, matchesNode, parseSearch } from '../lib/search-query';
import { PALETTES, useTheme } from '../lib/theme';
import { useTopologyStream } from '../lib/use-topology-stream';
import { useUrlState } from '../lib/use-url-state';
import { chooseOption } from '../lib/view-options';
import { ControlButtons, type OpenedPipe } from '../features/controls/components/control-buttons';
import { DetailsPanel } from '../features/details/components/details-panel';
import { EdgeDetails } from '../features/details/components/edge-details';
import { LogPanel } from '../features/logs/components/log-panel';
import { TerminalPanel } from '../features/terminal/components/terminal-panel';
import { GraphView } from '../features/graph/components/graph-view';
import { ResourceView } from '../features/resources/components/resource-view';
import { SearchBox } from '../features/search/components/search-box';
import { useProbes } from '../features/status/api/use-probes';
import { ConnectionBadge } from '../features/status/components/connection-badge';
import { TracerBadge } from '../features/status/components/tracer-badge';
import { EmptyState } from '../features/status/components/empty-state';
import { SourceBanner } from '../features/status/components/source-banner';
import { OutageBanner } from '../features/status/components/outage-banner';
import { ShortcutsDialog } from '../features/status/components/shortcuts-dialog';
import { TableView } from '../features/table/components/table-view';
import { useTopologies } from '../features/topology-picker/api/use-topologies';
import { KNOWN_VIEWS, TopologyPicker } from '../features/topology-picker/components/topology-picker';
import { TimelineStrip } from '../features/timeline/components/timeline-strip';
import { useTimeTravel } from '../features/timeline/use-time-travel';

/**
 * The processes view folds far sooner than others: hundreds of processes
 * read as a few groups, one per container (or host), that open on click.
 */
const PROCESSES_FOLD_ABOVE = 60;

/** Compose projects, drawn as nodes on request: their services folded into one group each. */
const COMPOSE_GROUPING = { label: 'Projects', kinds: ['compose-service' as const] };

/** The view a node id belongs to, for nodes picked in the resource view. */
function viewOfNode(id: string, fallback: string): string {
  if (id.startsWith('host:')) return 'hosts';
  if (id.startsWith('container:')) return 'containers';
  if (id.startsWith('process:')) return 'processes';
  return fallback;
}

export function App() {
  const [url, setUrl] = useUrlState();
  const [theme, toggleTheme] = useTheme();
  const palette = PALETTES[theme];
  const [shortcutsOpen, setShortcutsOpen] = useState(false);
  const resources = url.mode === 'resources';
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
  // The resource view shows every process of every host, connected or not.
  const streamView = resources ? 'processes' : url.view;
  const streamOptions = useMemo(
    () => (resources ? { ...shownOptions, unconnected: 'show' } : shownOptions),
    [resources, shownOptions],
  );
  const [viewList, setViewList] = useState<Array<{ id: string }>>(KNOWN_VIEWS);
  const unknownView = !viewList.some((view) => view.id === url.view);
  const stream = useTopologyStream(streamView, streamOptions, !unknownView || resources);
  const topologies = useTopologies(url.options, stream.version);
  const probes = useProbes();
  const [readOnly, setReadOnly] = useState(false);
  const [pipe, setPipe] = useState<OpenedPipe | null>(null);

  useEffect(() => {
    if (topologies.data) setViewList(topologies.data);
  }, [topologies.data]);

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

  // One listener for the page's life, reading the latest state: one
  // re-registered on every change missed an Esc pressed right after Enter.
  const keyState = useRef({ shortcutsOpen });
  keyState.current = { shortcutsOpen };
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      const typing = target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT');
      const now = keyState.current;
      if (event.key === 'Escape') {
        // Closing details when none are open changes nothing (the URL stays).
        if (now.shortcutsOpen) setShortcutsOpen(false);
        else setUrl({ selected: null, edge: null });
      } else if (event.key === '?' && !typing) {
        event.preventDefault();
        setShortcutsOpen((open) => !open);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [setUrl]);

  const select = (id: string | null) => setUrl({ selected: id, edge: null });
  const open = (view: string, id: string) => setUrl({ view, selected: id, edge: null });
  const outage = stream.connection === 'reconnecting';
  const failed = stream.connection === 'failed' || (unknownView && !resources);
  const viewLabel = topologies.data?.find((view) => view.id === url.view)?.label ?? url.view;
  const edge = url.edge ? snapshot.edges.get(url.edge) : undefined;

  return (
    <div class="app" data-theme={theme}>
      <header class="topbar">
        <div class="brand" title="Periscope: live container topology">
          <span class="logo" aria-hidden="true">◉</span> Periscope
        </div>
        <TopologyPicker
          topologies={topologies.data}
          current={url.view}
          currentCount={!resources && snapshot.view !== null ? snapshot.nodes.size : null}
          options={url.options}
          onSelect={(view) => setUrl({ view, selected: null, edge: null, mode: resources ? 'graph' : url.mode })}
          onOptionChange={(spec, value) => setUrl({ options: chooseOption(url.options, spec, value) })}
        />
        <div class="topbar-right">
          <div class="mode-switch" role="group" aria-label="Display">
            {(['graph', 'table', 'resources'] as const).map((mode) => (
              <button
                type="button"
                key={mode}
                data-mode={mode}
                class={url.mode === mode ? 'active' : ''}
                aria-pressed={url.mode === mode}
                onClick={() => setUrl({ mode })}
              >
                {mode === 'graph' ? 'Graph' : mode === 'table' ? 'Table' : 'Resources'}
              </button>
            ))}
          </div>
          <button type="button" class="theme-toggle" data-testid="theme-toggle" onClick={toggleTheme}>
            {theme === 'dark' ? 'Light' : 'Dark'}
          </button>
          <TracerBadge probes={probes.data} />
          <button type="button" class="help-button" title="Keyboard shortcuts (?)" aria-label="Keyboard shortcuts" onClick={() => setShortcutsOpen(true)}>
            ?
          </button>
          <ConnectionBadge state={stream.connection} detail={stream.connectionDetail} />
        </div>
      </header>
      <SourceBanner probes={probes.data} />
      {outage ? <OutageBanner receivedAt={stream.receivedAt} detail={stream.connectionDetail} /> : null}
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
      <main class={`content ${url.selected || url.edge ? 'with-details' : ''}`}>
        <div class={`stage ${travel.at !== null ? 'stage-past' : ''}`}>
          {failed ? (
            <div class="empty-state" data-testid="view-error" role="alert">
              <h2>Cannot show “{url.view}”</h2>
              <p>
                {unknownView ? 'There is no such view.' : stream.connectionDetail} Pick one of the views above:{' '}
                {viewList.map((view) => view.id).join(', ')}.
              </p>
            </div>
          ) : url.mode === 'graph' ? (
            <GraphView
              store={stream.store}
              palette={palette}
              matcher={matcher}
              filterMode={url.filter}
              selected={url.selected}
              selectedEdge={url.edge}
              onSelect={select}
              onSelectEdge={(id) => setUrl({ edge: id, selected: null })}
              metric={url.metric}
              onMetricChange={(metric) => setUrl({ metric }, 'replace')}
              stale={outage}
              foldAbove={url.view === 'processes' ? PROCESSES_FOLD_ABOVE : undefined}
              groupToggle={url.view === 'compose' ? COMPOSE_GROUPING : undefined}
              label={`${viewLabel}: ${snapshot.nodes.size} nodes, ${snapshot.edges.size} edges`}
            />
          ) : url.mode === 'table' ? (
            <TableView
              store={stream.store}
              version={stream.version}
              matcher={matcher}
              filterMode={url.filter}
              selected={url.selected}
              onSelect={select}
              sort={url.sort}
              onSortChange={(sort) => setUrl({ sort }, 'replace')}
            />
          ) : (
            <ResourceView
              store={stream.store}
              version={stream.version}
              metric={url.metric}
              matcher={matcher}
              filterMode={url.filter}
              selected={url.selected}
              onOpen={(_view, id) => select(id)}
            />
          )}
          {matchCount === 0 && !failed ? (
            <div class="no-matches" data-testid="no-matches" role="status">
              No node matches “{url.search.trim()}”
              {query.errors.length > 0 ? ` (${query.errors.join('; ')})` : ''}.
            </div>
          ) : null}
          {failed ? null : (
            <EmptyState
              probes={probes.data}
              view={streamView}
              nodeCount={snapshot.nodes.size}
              loaded={snapshot.view !== null}
              outage={outage}
            />
          )}
        </div>
        {url.edge ? (
          <EdgeDetails
            key={`${url.view}/${url.edge}`}
            view={url.view}
            edge={edge}
            edgeId={url.edge}
            source={edge ? snapshot.nodes.get(edge.source) : undefined}
            target={edge ? snapshot.nodes.get(edge.target) : undefined}
            options={detailsOptions}
            onClose={() => setUrl({ edge: null })}
            onOpen={open}
          />
        ) : url.selected ? (
          <DetailsPanel
            key={`${url.view}/${url.selected}`}
            view={resources ? viewOfNode(url.selected, url.view) : url.view}
            nodeId={url.selected}
            options={detailsOptions}
            palette={palette}
            readOnly={readOnly}
            onClose={() => select(null)}
            onOpen={open}
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
      <TimelineStrip travel={travel} view={url.view} onOpen={open} />
      {shortcutsOpen ? <ShortcutsDialog onClose={() => setShortcutsOpen(false)} /> : null}
    </div>
  );
}
