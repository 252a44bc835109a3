import { describe, expect, it } from 'vitest';

import { readyForPlacement } from './placement-hold';

describe('readyForPlacement', () => {
  it('places newcomers with an edge at once and holds lone ones until the hold runs out', () => {
    const firstSeen = new Map<string, number>();
    const input = {
      nodes: ['old', 'linked', 'lone'],
      edges: [{ source: 'linked', target: 'old' }],
      placed: (id: string) => id === 'old',
      firstSeen,
      holdMs: 2500,
    };
    const early = readyForPlacement({ ...input, now: 1000 });
    expect([...early.ready].sort()).toEqual(['linked', 'old']);
    expect(early.recheckInMs).toBe(2500);
    const later = readyForPlacement({ ...input, now: 2000 });
    expect(later.ready.has('lone')).toBe(false);
    expect(later.recheckInMs).toBe(1500);
    const done = readyForPlacement({ ...input, now: 3500 });
    expect(done.ready.has('lone')).toBe(true);
    expect(done.recheckInMs).toBeNull();
  });
});
