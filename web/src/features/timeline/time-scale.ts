// The timeline's arithmetic: where a moment sits on the strip, the window
// presets, and how moments and events read.

import type { EventKind, TimelineEvent } from './api/history-api';

export const WINDOWS: { id: string; label: string; ms: number }[] = [
  { id: '15m', label: '15 min', ms: 15 * 60_000 },
  { id: '1h', label: '1 h', ms: 3_600_000 },
  { id: '6h', label: '6 h', ms: 6 * 3_600_000 },
  { id: '24h', label: '24 h', ms: 24 * 3_600_000 },
  { id: '7d', label: '7 d', ms: 7 * 24 * 3_600_000 },
];

/** The strip's span: the window before `end`, clipped to what history holds. */
export function visibleSpan(end: number, windowMs: number, heldFrom: number | null): { from: number; to: number } {
  const from = Math.max(end - windowMs, heldFrom ?? end - windowMs);
  return { from: Math.min(from, end), to: end };
}

/** A moment's position on the strip, 0 to 100 (percent), clamped. */
export function position(t: number, from: number, to: number): number {
  if (to <= from) return 100;
  return Math.min(100, Math.max(0, ((t - from) / (to - from)) * 100));
}

export type Severity = 'bad' | 'good' | 'change' | 'edge' | 'probe';

export function severity(kind: EventKind): Severity {
  switch (kind) {
    case 'container_died':
    case 'container_oom_killed':
    case 'container_restarted':
    case 'probe_lost':
    case 'edge_failing':
      return 'bad';
    case 'container_started':
    case 'container_created':
    case 'container_unpaused':
    case 'probe_connected':
      return 'good';
    case 'edge_seen':
    case 'edge_gone':
      return 'edge';
    default:
      return 'change';
  }
}

export function describe(event: TimelineEvent): string {
  const what = event.kind.replace(/^container_|^probe_/, '').replace(/_/g, ' ');
  const extra = [
    event.exit_code !== null ? `exit ${event.exit_code}` : '',
    event.oom_killed ? 'OOM-killed' : '',
    event.health ? event.health : '',
    event.restart_count !== null ? `restart #${event.restart_count}` : '',
  ].filter((part) => part !== '');
  const subject = event.peer ? `${event.node.label} → ${event.peer.label}` : event.node.label;
  return `${formatMoment(event.at)} ${subject}: ${what}${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
}

export function formatMoment(t: number): string {
  const date = new Date(t);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
