// URL state as a Preact hook. Navigation-worthy changes (view, selection,
// mode) push a history entry so Back works; typing in the search box only
// replaces the current one.

import { useCallback, useEffect, useState } from 'preact/hooks';

import { parseUrlState, serializeUrlState, type UrlState } from './url-state';

export type UrlUpdate = (change: Partial<UrlState>, how?: 'push' | 'replace') => void;

export function useUrlState(): [UrlState, UrlUpdate] {
  const [state, setState] = useState(() => parseUrlState(location.search));

  useEffect(() => {
    const onPop = () => setState(parseUrlState(location.search));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const update = useCallback<UrlUpdate>((change, how = 'push') => {
    setState((current) => {
      const next = { ...current, ...change };
      const url = `${location.pathname}${serializeUrlState(next)}`;
      if (url !== `${location.pathname}${location.search}`) {
        if (how === 'push') history.pushState(null, '', url);
        else history.replaceState(null, '', url);
      }
      return next;
    });
  }, []);

  return [state, update];
}
