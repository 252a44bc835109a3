// The timeline under the map: event markers over the chosen window, a
// scrubber to pick a moment (the map then shows the past, clearly marked,
// with a Live button back), and compare mode's lists of what appeared,
// vanished or changed since the picked moment.

import { useEffect, useState } from 'preact/hooks';

import type { TopologyNode } from '../../../lib/api-types';
import type { Comparison } from '../compare';
import { describe, formatMoment, position, severity, WINDOWS } from '../time-scale';
import type { TimeTravel } from '../use-time-travel';
import '../timeline.css';

export interface TimelineStripProps {
  travel: TimeTravel;
  /** The view on the map; compare lists open nodes in it. */
  view: string;
  /** Open an event's node (it may live in another view). */
  onOpen: (view: string, id: string) => void;
}

/** Scrubbing re-renders the past view: wait until the pointer rests. */
const SCRUB_SETTLE_MS = 300;

export function TimelineStrip({ travel, view, onOpen }: TimelineStripProps) {
  const { history, at, span, events } = travel;
  const [scrub, setScrub] = useState<number | null>(null);
  useEffect(() => {
    if (scrub === null) return;
    const timer = setTimeout(() => travel.setAt(scrub), SCRUB_SETTLE_MS);
    return () => clearTimeout(timer);
  }, [scrub]);

  if (!history) return null;
  if (!history.enabled) {
    return (
      <section class="timeline timeline-off" data-testid="timeline">
        <span class="muted">History is off (--no-history): no time travel.</span>
      </section>
    );
  }
  const shown = scrub ?? at;
  const past = at !== null;
  return (
    <section class={`timeline ${past ? 'timeline-past' : ''}`} data-testid="timeline" aria-label="Timeline">
      <div class="timeline-bar">
        {past ? (
          <span class="timeline-badge" data-testid="timeline-past">
            Past: {formatMoment(at)}
          </span>
        ) : (
          <span class="timeline-badge timeline-live">Live</span>
        )}
        <button
          type="button"
          data-testid="timeline-live"
          disabled={!past && travel.compareFrom === null}
          onClick={() => {
            setScrub(null);
            travel.setAt(null);
            travel.setCompareFrom(null);
          }}
        >
          Live
        </button>
        <button
          type="button"
          data-testid="timeline-compare"
          class={travel.compareFrom !== null ? 'active' : ''}
          title="Compare the picked moment (or the window's start) with now"
          onClick={() =>
            travel.setCompareFrom(travel.compareFrom !== null ? null : (at ?? span.from))
          }
        >
          Compare
        </button>
        <div class="timeline-windows" role="group" aria-label="Window">
          {WINDOWS.map((w) => (
            <button
              type="button"
              key={w.id}
              class={travel.windowId === w.id ? 'active' : ''}
              onClick={() => travel.setWindowId(w.id)}
            >
              {w.label}
            </button>
          ))}
        </div>
        <span class="muted timeline-span">
          {formatMoment(span.from)} – {formatMoment(span.to)} · {events.length} events
        </span>
        {history.error ? <span class="error">History stopped: {history.error}</span> : null}
      </div>
      <div class="timeline-track">
        {events.map((event, index) => (
          <button
            type="button"
            key={`${event.at}-${index}`}
            class={`timeline-marker severity-${severity(event.kind)}`}
            data-kind={event.kind}
            style={{ left: `${position(event.at, span.from, span.to)}%` }}
            title={describe(event)}
            onClick={() => {
              setScrub(null);
              travel.setAt(event.at);
              onOpen(event.node.view, event.node.id);
            }}
          />
        ))}
        {shown !== null ? (
          <div class="timeline-cursor" style={{ left: `${position(shown, span.from, span.to)}%` }} />
        ) : null}
        {travel.compareFrom !== null ? (
          <div class="timeline-cursor timeline-compare-from" style={{ left: `${position(travel.compareFrom, span.from, span.to)}%` }} />
        ) : null}
        <input
          type="range"
          class="timeline-scrubber"
          data-testid="timeline-scrubber"
          aria-label="Pick a moment"
          min={span.from}
          max={span.to}
          step={1000}
          value={shown ?? span.to}
          onInput={(event) => setScrub(Number((event.target as HTMLInputElement).value))}
        />
      </div>
      {travel.compareFrom !== null ? (
        <ComparePanel
          comparison={travel.comparison}
          error={travel.compareError}
          since={travel.compareFrom}
          onOpen={(id) => onOpen(view, id)}
        />
      ) : null}
    </section>
  );
}

function ComparePanel(props: {
  comparison: Comparison | null;
  error: string | undefined;
  since: number;
  onOpen: (id: string) => void;
}) {
  if (props.error) return <p class="error">Compare failed: {props.error}</p>;
  if (!props.comparison) return <p class="muted">Comparing…</p>;
  const list = (title: string, kind: string, nodes: TopologyNode[]) => (
    <div class={`compare-list compare-${kind}`} data-testid={`compare-${kind}`}>
      <strong>
        {title} ({nodes.length})
      </strong>
      {nodes.slice(0, 50).map((node) => (
        <button type="button" key={node.id} onClick={() => props.onOpen(node.id)}>
          {node.label}
        </button>
      ))}
    </div>
  );
  return (
    <div class="compare" data-testid="compare">
      <span class="muted">Since {formatMoment(props.since)}:</span>
      {list('Appeared', 'appeared', props.comparison.appeared)}
      {list('Vanished', 'vanished', props.comparison.vanished)}
      {list('Changed', 'changed', props.comparison.changed)}
    </div>
  );
}
