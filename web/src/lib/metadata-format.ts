// Metadata values as people read them. The API keeps raw numbers (bytes,
// seconds) so scripts can use them; the key says the unit.

import { formatBytes } from './format';

const BYTE_KEYS = new Set(['memory_total', 'memory', 'memory_used']);
const SECOND_KEYS = new Set(['uptime_secs']);

/** "3 d 4 h", "2 h 5 min", "42 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours} h ${minutes} min`;
  if (minutes > 0) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(seconds)} s`;
}

export function formatMetadata(key: string, value: string): string {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) return value;
  if (BYTE_KEYS.has(key)) return formatBytes(number);
  if (SECOND_KEYS.has(key)) return formatDuration(number);
  return value;
}

/** Labels that named a unit the value no longer shows raw. */
export function metadataLabel(key: string, label: string): string {
  return SECOND_KEYS.has(key) ? label.replace(/\s*\(s\)$/, '') : label;
}
