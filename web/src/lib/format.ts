// Display formats for metrics; the API sends raw percent and bytes.

export function formatCpu(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return `${value < 10 ? value.toFixed(1) : Math.round(value)}%`;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  let scaled = value;
  let unit = 0;
  while (scaled >= 1024 && unit < BYTE_UNITS.length - 1) {
    scaled /= 1024;
    unit += 1;
  }
  return `${scaled < 10 && unit > 0 ? scaled.toFixed(1) : Math.round(scaled)} ${BYTE_UNITS[unit]}`;
}

export function formatRtt(micros: number | null | undefined): string {
  if (micros === null || micros === undefined) return '–';
  return micros < 1000 ? `${micros} µs` : `${(micros / 1000).toFixed(1)} ms`;
}

export function formatMetric(unit: string, value: number | null | undefined): string {
  if (unit === '%') return formatCpu(value);
  if (unit === 'bytes') return formatBytes(value);
  if (value === null || value === undefined) return '–';
  return `${value}${unit ? ` ${unit}` : ''}`;
}
