// The search box. `/` anywhere focuses it (unless already typing in a
// field); parse problems show under it instead of silently matching nothing.

import { useEffect, useRef } from 'preact/hooks';

import type { SearchQuery } from '../../../lib/search-query';

export interface SearchBoxProps {
  value: string;
  query: SearchQuery;
  filterMode: boolean;
  matchCount: number | null;
  onChange: (value: string) => void;
  onFilterModeChange: (filter: boolean) => void;
}

export function SearchBox(props: SearchBoxProps) {
  const inputRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target as HTMLElement | null;
      if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable)) return;
      event.preventDefault();
      inputRef.current?.focus();
      inputRef.current?.select();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  return (
    <div class="search-box">
      <input
        ref={inputRef}
        type="search"
        data-testid="search"
        placeholder="Search  ( / )   e.g. nginx, image:redis, cpu > 5%, memory > 100MB"
        value={props.value}
        onInput={(event) => props.onChange((event.target as HTMLInputElement).value)}
        onKeyDown={(event) => {
          if (event.key === 'Escape') {
            // Esc in the box clears it first; the next Esc closes details.
            if (props.value) {
              event.stopPropagation();
              props.onChange('');
            } else {
              (event.target as HTMLInputElement).blur();
            }
          }
        }}
        aria-label="Search nodes"
      />
      <label class="filter-toggle" title="Hide nodes that do not match, instead of dimming them">
        <input
          type="checkbox"
          data-testid="filter-toggle"
          checked={props.filterMode}
          onChange={(event) => props.onFilterModeChange((event.target as HTMLInputElement).checked)}
        />
        Filter
      </label>
      {props.matchCount !== null ? (
        <span class="match-count" data-testid="match-count">
          {props.matchCount} match{props.matchCount === 1 ? '' : 'es'}
        </span>
      ) : null}
      {props.query.errors.length > 0 ? <div class="search-errors">{props.query.errors.join('; ')}</div> : null}
    </div>
  );
}
