// An interactive shell over a pipe, drawn by xterm.js: keystrokes go up as
// bytes, output comes down, the TTY follows the panel's size, and the
// selection can be copied (or the clipboard pasted) with the buttons as well
// as the browser's own shortcuts.

import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'preact/hooks';

import { PipeSocket } from '../../../lib/pipe-socket';

export interface TerminalPanelProps {
  url: string;
  title: string;
  onClose: () => void;
}

export function TerminalPanel({ url, title, onClose }: TerminalPanelProps) {
  const host = useRef<HTMLDivElement>(null);
  const terminalRef = useRef<Terminal | null>(null);
  const pipeRef = useRef<PipeSocket | null>(null);
  const [closed, setClosed] = useState<string | null>(null);

  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const terminal = new Terminal({ cursorBlink: true, fontSize: 13, scrollback: 5000 });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    terminal.open(element);
    const pipe = new PipeSocket(url, {
      onOutput: (bytes) => terminal.write(bytes),
      onClosed: (reason) => {
        terminal.write(`\r\n\x1b[2m[closed: ${reason}]\x1b[0m\r\n`);
        setClosed(reason);
      },
    });
    terminalRef.current = terminal;
    pipeRef.current = pipe;
    const input = terminal.onData((data) => pipe.send(data));
    const resized = terminal.onResize(({ cols, rows }) => pipe.resize(cols, rows));
    const refit = () => {
      try {
        fit.fit();
      } catch {
        // Not laid out yet (zero size): the observer calls again.
      }
    };
    const observer = new ResizeObserver(refit);
    observer.observe(element);
    refit();
    pipe.resize(terminal.cols, terminal.rows);
    terminal.focus();
    return () => {
      observer.disconnect();
      input.dispose();
      resized.dispose();
      pipe.close();
      terminal.dispose();
    };
  }, [url]);

  const copy = () => {
    const selection = terminalRef.current?.getSelection() ?? '';
    if (selection) void navigator.clipboard?.writeText(selection);
  };
  const paste = async () => {
    const text = await navigator.clipboard?.readText().catch(() => '');
    if (text) pipeRef.current?.send(text);
    terminalRef.current?.focus();
  };

  return (
    <section class="pipe-panel terminal-panel" data-testid="terminal-panel" aria-label={title}>
      <header class="pipe-header">
        <strong>{title}</strong>
        {closed ? <span class="muted" data-testid="pipe-closed">Closed: {closed}</span> : null}
        <button type="button" onClick={copy} title="Copy the selection">
          Copy
        </button>
        <button type="button" onClick={() => void paste()} title="Paste the clipboard">
          Paste
        </button>
        <button type="button" class="close" title="Close" onClick={onClose}>
          ×
        </button>
      </header>
      <div class="terminal-host" data-testid="terminal" ref={host} />
    </section>
  );
}
