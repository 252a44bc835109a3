// The list of views with their node counts for the chosen options. Fetched
// again soon after the open view changes (at most once a second), and every
// five seconds anyway, so counts follow the live model instead of lagging it.

import { useEffect, useRef, useState } from 'preact/hooks';

import { fetchTopologies } from '../../../lib/api-client';
import type { TopologySummary } from '../../../lib/api-types';
import type { ViewOptions } from '../../../lib/view-options';

const REFRESH_MS = 5000;
const MIN_GAP_MS = 1000;

export function useTopologies(options: ViewOptions, version: number): { data: TopologySummary[] | undefined; error: Error | undefined } {
  const [data, setData] = useState<TopologySummary[] | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const key = JSON.stringify(options);
  const last = useRef({ at: 0, timer: null as ReturnType<typeof setTimeout> | null, controller: null as AbortController | null });

  const load = () => {
    const state = last.current;
    if (state.timer !== null) return;
    const wait = Math.max(0, state.at + MIN_GAP_MS - Date.now());
    state.timer = setTimeout(() => {
      state.timer = null;
      state.at = Date.now();
      state.controller?.abort();
      const controller = new AbortController();
      state.controller = controller;
      fetchTopologies(options, controller.signal).then(
        (list) => {
          if (!controller.signal.aborted) {
            setData(list);
            setError(undefined);
          }
        },
        (failure: Error) => {
          if (!controller.signal.aborted) setError(failure);
        },
      );
    }, wait);
  };

  useEffect(() => {
    last.current.at = 0;
    load();
    const interval = setInterval(load, REFRESH_MS);
    return () => {
      clearInterval(interval);
      const state = last.current;
      if (state.timer !== null) clearTimeout(state.timer);
      state.timer = null;
      state.controller?.abort();
    };
  }, [key]);
  // The open view changed: counts of the others likely did too.
  useEffect(load, [version]);

  return { data, error };
}
