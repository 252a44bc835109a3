// The details panel of the selected node: metadata, live metrics,
// connections, children, parents, and the place for control buttons.

import type { ComponentChildren } from 'preact';

import type { Control, MetricSeries, NodeDetails } from '../../../lib/api-types';
import { formatMetric } from '../../../lib/format';
import { formatMetadata, metadataLabel } from '../../../lib/metadata-format';
import type { Palette } from '../../../lib/theme';
import type { ViewOptions } from '../../../lib/view-options';
import { Sparkline } from '../../../components/sparkline';
import { useNodeDetails } from '../api/use-node-details';
import { ConnectionTable } from './connection-table';

export interface DetailsPanelProps {
  view: string;
  nodeId: string;
  options: ViewOptions;
  palette: Palette;
  readOnly: boolean;
  onClose: () => void;
  /** Open a node, possibly in another view (parents, children). */
  onOpen: (view: string, id: string) => void;
  /** Draws the node's control buttons (the page composes them from the controls feature). */
  renderControls?: (controls: Control[], nodeId: string, label: string) => ComponentChildren;
}

export function DetailsPanel(props: DetailsPanelProps) {
  const { data, error, loading } = useNodeDetails(props.view, props.nodeId, props.options);
  return (
    <aside class="details-panel" data-testid="details" aria-label="Node details">
      <header class="details-header">
        <div>
          <h2 data-testid="details-title">{data?.node.label ?? props.nodeId}</h2>
          <div class="muted">{data ? `${data.node.kind} · ${data.node.minor_label}` : ''}</div>
        </div>
        <button type="button" class="close" title="Close (Esc)" onClick={props.onClose}>
          ×
        </button>
      </header>
      {error && !data ? <p class="error">Could not load details: {error.message}</p> : null}
      {error && data ? <p class="warning">Details may be stale: {error.message}</p> : null}
      {loading && !data ? <p class="muted">Loading…</p> : null}
      {data ? <DetailsBody details={data} {...props} /> : null}
    </aside>
  );
}

function DetailsBody({
  details,
  view,
  palette,
  readOnly,
  onOpen,
  renderControls,
}: DetailsPanelProps & { details: NodeDetails }) {
  const colors = [palette.accent, palette.nodeBorder, palette.match];
  return (
    <div class="details-body">
      <section class="details-section" data-testid="details-controls">
        <h3>Controls</h3>
        {details.controls.length === 0 || readOnly || !renderControls ? (
          <p class="muted">{readOnly ? 'Read-only mode: no controls.' : 'No controls for this node.'}</p>
        ) : (
          renderControls(details.controls, details.node.id, details.node.label)
        )}
      </section>

      {details.metrics.length > 0 ? (
        <section class="details-section">
          <h3>Metrics</h3>
          {details.metrics.map((metric, index) => (
            <div class="metric" key={metric.id} data-metric={metric.id}>
              <div class="metric-label">
                <span>{metric.label}</span>
                <strong>{formatMetric(metric.unit, metric.value)}</strong>
              </div>
              <Sparkline
                samples={metric.samples}
                value={metric.value}
                floor={metric.unit === '%' ? 1 : 0}
                color={colors[index % colors.length] as string}
                label={sparklineLabel(metric)}
              />
            </div>
          ))}
        </section>
      ) : null}

      <section class="details-section">
        <h3>Info</h3>
        <dl class="metadata" data-testid="details-metadata">
          {details.metadata.map((row) => (
            <div class="metadata-row" key={row.key} data-key={row.key}>
              <dt>{metadataLabel(row.key, row.label)}</dt>
              <dd title={row.value}>{formatMetadata(row.key, row.value)}</dd>
            </div>
          ))}
        </dl>
      </section>

      {details.parents.length > 0 ? (
        <section class="details-section">
          <h3>Parents</h3>
          <ul class="links">
            {details.parents.map((parent) => (
              <li key={`${parent.view}/${parent.id}`}>
                <button type="button" class="link" onClick={() => onOpen(parent.view, parent.id)}>
                  {parent.label}
                </button>{' '}
                <span class="muted">{parent.view}</span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}

      <ConnectionTable
        title="Inbound"
        connections={details.connections.inbound}
        onOpenNode={(id) => onOpen(view, id)}
      />
      <ConnectionTable
        title="Outbound"
        connections={details.connections.outbound}
        onOpenNode={(id) => onOpen(view, id)}
      />

      {details.children.map((group) => (
        <section class="details-section" key={group.view}>
          <h3>
            {group.label} <span class="count">{group.nodes.length}</span>
          </h3>
          <ul class="links">
            {group.nodes.map((child) => (
              <li key={child.id}>
                <button type="button" class="link" onClick={() => onOpen(group.view, child.id)}>
                  {child.label}
                </button>{' '}
                <span class="muted">{child.minor_label}</span>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </div>
  );
}

/** Tooltip of a sparkline: what it spans, and its lowest and highest value. */
function sparklineLabel(metric: MetricSeries): string {
  const values = metric.samples.map((sample) => sample.v);
  const first = metric.samples[0];
  const last = metric.samples[metric.samples.length - 1];
  if (!first || !last) return `${metric.label}: no samples yet`;
  if (values.length === 1) return `${metric.label}: one sample so far, ${formatMetric(metric.unit, first.v)}`;
  const seconds = Math.round((last.t - first.t) / 1000);
  const span = seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
  const low = formatMetric(metric.unit, Math.min(...values));
  const high = formatMetric(metric.unit, Math.max(...values));
  return `${metric.label} over the last ${span}: ${low} – ${high}`;
}
