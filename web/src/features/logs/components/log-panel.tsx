// A container's logs over a pipe: the last lines, then live. Follows the
// end unless scrolled away or paused; searches; downloads what it holds.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';

import { PipeSocket } from '../../../lib/pipe-socket';

/** Lines kept in the page; older ones fall off (the download says so). */
const MAX_LINES = 20_000;

export interface LogPanelProps {
  url: string;
  title: string;
  onClose: () => void;
}

export function LogPanel({ url, title, onClose }: LogPanelProps) {
  const [lines, setLines] = useState<string[]>([]);
  const [paused, setPaused] = useState(false);
  const [follow, setFollow] = useState(true);
  const [search, setSearch] = useState('');
  const [closed, setClosed] = useState<string | null>(null);
  const held = useRef<string[]>([]);
  const pausedRef = useRef(false);
  const bottom = useRef<HTMLPreElement>(null);

  useEffect(() => {
    const decoder = new TextDecoder();
    let partial = '';
    const pipe = new PipeSocket(url, {
      onOutput: (bytes) => {
        const text = partial + decoder.decode(bytes, { stream: true });
        const parts = text.split('\n');
        partial = parts.pop() ?? '';
        if (parts.length === 0) return;
        if (pausedRef.current) {
          held.current.push(...parts);
          return;
        }
        setLines((old) => [...old, ...parts].slice(-MAX_LINES));
      },
      onClosed: (reason) => {
        if (partial) setLines((old) => [...old, partial].slice(-MAX_LINES));
        setClosed(reason);
      },
    });
    return () => pipe.close();
  }, [url]);

  const togglePause = () => {
    const next = !paused;
    pausedRef.current = next;
    setPaused(next);
    if (!next && held.current.length > 0) {
      const released = held.current;
      held.current = [];
      setLines((old) => [...old, ...released].slice(-MAX_LINES));
    }
  };

  const shown = useMemo(() => {
    const needle = search.trim().toLowerCase();
    return needle ? lines.filter((line) => line.toLowerCase().includes(needle)) : lines;
  }, [lines, search]);

  useEffect(() => {
    const element = bottom.current;
    if (follow && element) element.scrollTop = element.scrollHeight;
  }, [shown, follow]);

  const download = () => {
    const blob = new Blob([lines.join('\n') + '\n'], { type: 'text/plain' });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `${title.replace(/[^\w.-]+/g, '_')}.log`;
    link.click();
    URL.revokeObjectURL(link.href);
  };

  return (
    <section class="pipe-panel log-panel" data-testid="log-panel" aria-label={title}>
      <header class="pipe-header">
        <strong>{title}</strong>
        <input
          type="search"
          placeholder="Search logs"
          value={search}
          data-testid="log-search"
          onInput={(event) => setSearch((event.target as HTMLInputElement).value)}
        />
        <span class="muted">{search ? `${shown.length} of ${lines.length} lines` : `${lines.length} lines`}</span>
        <label>
          <input type="checkbox" checked={follow} onChange={() => setFollow(!follow)} /> Follow
        </label>
        <button type="button" data-testid="log-pause" onClick={togglePause}>
          {paused ? `Resume (${held.current.length})` : 'Pause'}
        </button>
        <button type="button" onClick={download}>
          Download
        </button>
        <button type="button" class="close" title="Close" onClick={onClose}>
          ×
        </button>
      </header>
      <pre class="log-lines" data-testid="log-lines" ref={bottom}>
        {shown.join('\n')}
      </pre>
      {closed ? (
        <p class="muted" data-testid="pipe-closed">
          Closed: {closed}
        </p>
      ) : null}
    </section>
  );
}
