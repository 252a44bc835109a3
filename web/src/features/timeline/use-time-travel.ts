// Time-travel state of the page: the moment shown (null = live), the
// timeline's window, its events, and compare mode (a past moment against
// now). History info and events are polled; the moment is the caller's to
// put into the view's requests (`at` on every view and details route).

import { useEffect, useMemo, useState } from 'preact/hooks';

import { usePolling } from '../../lib/use-polling';
import type { ViewOptions } from '../../lib/view-options';
import { fetchEvents, fetchHistory, fetchViewAt, type HistoryInfo, type TimelineEvent } from './api/history-api';
import { type Comparison, compareViews } from './compare';
import { visibleSpan, WINDOWS } from './time-scale';

const POLL_MS = 5000;

export interface TimeTravel {
  history: HistoryInfo | undefined;
  /** The moment shown (Unix ms), or null for live. */
  at: number | null;
  setAt: (at: number | null) => void;
  windowId: string;
  setWindowId: (id: string) => void;
  span: { from: number; to: number };
  events: TimelineEvent[];
  eventsError: string | undefined;
  /** Compare mode: the earlier moment, compared with now. */
  compareFrom: number | null;
  comparison: Comparison | null;
  compareError: string | undefined;
  setCompareFrom: (at: number | null) => void;
}

export function useTimeTravel(view: string, options: ViewOptions): TimeTravel {
  const [at, setAt] = useState<number | null>(null);
  const [windowId, setWindowId] = useState('1h');
  const [compareFrom, setCompareFrom] = useState<number | null>(null);
  const [comparison, setComparison] = useState<Comparison | null>(null);
  const [compareError, setCompareError] = useState<string | undefined>(undefined);
  const history = usePolling(fetchHistory, POLL_MS, 'history');
  const held = history.data;
  const end = held?.to ?? Date.now();
  const windowMs = WINDOWS.find((w) => w.id === windowId)?.ms ?? 3_600_000;
  const span = useMemo(() => visibleSpan(end, windowMs, held?.from ?? null), [end, windowMs, held?.from]);
  // Events refetch when the span's start moves by a poll's worth, not on every tick of `end`.
  const eventsKey = `${windowId}\u0000${Math.floor(span.from / POLL_MS)}\u0000${held?.enabled}`;
  const events = usePolling(
    (signal) => (held?.enabled ? fetchEvents(span.from, span.to, signal) : Promise.resolve(null)),
    POLL_MS,
    eventsKey,
  );

  const optionsKey = JSON.stringify(options);
  useEffect(() => {
    setComparison(null);
    setCompareError(undefined);
    if (compareFrom === null) return;
    const controller = new AbortController();
    Promise.all([
      fetchViewAt(view, options, compareFrom, controller.signal),
      fetchViewAt(view, options, null, controller.signal),
    ])
      .then(([before, after]) => setComparison(compareViews(before, after)))
      .catch((error: Error) => {
        if (!controller.signal.aborted) setCompareError(error.message);
      });
    return () => controller.abort();
  }, [compareFrom, view, optionsKey]);

  return {
    history: held,
    at,
    setAt,
    windowId,
    setWindowId,
    span,
    events: events.data?.events ?? [],
    eventsError: events.error?.message,
    compareFrom,
    comparison,
    compareError,
    setCompareFrom: (moment) => {
      setCompareFrom(moment);
      // Compare shows now on the map, with the changes highlighted.
      if (moment !== null) setAt(null);
    },
  };
}
