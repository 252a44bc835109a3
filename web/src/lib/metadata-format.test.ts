import { describe, expect, it } from 'vitest';

import { formatDuration, formatMetadata, metadataLabel } from './metadata-format';

describe('metadata values', () => {
  it('shows host memory and uptime in units, not raw bytes and seconds', () => {
    expect(formatMetadata('memory_total', '25769803776')).toBe('24 GiB');
    expect(formatMetadata('uptime_secs', '273600')).toBe('3 d 4 h');
    expect(metadataLabel('uptime_secs', 'Uptime (s)')).toBe('Uptime');
    expect(formatMetadata('pid', '42')).toBe('42');
    expect(formatMetadata('image', 'nginx:1.25')).toBe('nginx:1.25');
    expect(formatDuration(125)).toBe('2 min 5 s');
  });
});
