// A node's control buttons, offered by its state. Controls that change
// state ask first; logs and the terminal open a pipe, shown by the page.

import { useState } from 'preact/hooks';

import type { Control } from '../../../lib/api-types';
import { runControl } from '../api/run-control';

export interface OpenedPipe {
  kind: 'logs' | 'exec';
  url: string;
  title: string;
}

export interface ControlButtonsProps {
  nodeId: string;
  nodeLabel: string;
  controls: Control[];
  onPipe: (pipe: OpenedPipe) => void;
}

export function ControlButtons({ nodeId, nodeLabel, controls, onPipe }: ControlButtonsProps) {
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);

  const run = async (control: Control) => {
    if (!control.pipe && !window.confirm(`${control.label} ${nodeLabel}?`)) return;
    setBusy(control.id);
    setMessage(null);
    try {
      const params: Record<string, number> =
        control.id === 'logs' ? { tail: 500 } : control.id === 'exec' ? { cols: 100, rows: 30 } : {};
      const outcome = await runControl(control.probe, nodeId, control.id, params);
      if ('url' in outcome) {
        onPipe({ kind: control.id === 'exec' ? 'exec' : 'logs', url: outcome.url, title: `${control.label}: ${nodeLabel}` });
      } else {
        setMessage({ text: `${control.label}: done`, error: false });
      }
    } catch (error) {
      setMessage({ text: `${control.label}: ${(error as Error).message}`, error: true });
    } finally {
      setBusy(null);
    }
  };

  return (
    <div>
      <div class="controls">
        {controls.map((control) => (
          <button
            type="button"
            key={control.id}
            data-control={control.id}
            class={control.pipe ? 'control-pipe' : 'control-action'}
            disabled={busy !== null}
            onClick={() => void run(control)}
          >
            {busy === control.id ? `${control.label}…` : control.label}
          </button>
        ))}
      </div>
      {message ? (
        <p class={message.error ? 'error' : 'muted'} data-testid="control-message">
          {message.text}
        </p>
      ) : null}
    </div>
  );
}
