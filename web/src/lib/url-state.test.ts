import { describe, expect, it } from 'vitest';

import { parseUrlState, serializeUrlState } from './url-state';

describe('url state', () => {
  it('has defaults for an empty URL and writes nothing for them', () => {
    const state = parseUrlState('');
    expect(state).toEqual({
      view: 'containers',
      options: { stopped: 'hide', system: 'hide', unconnected: 'show' },
      mode: 'graph',
      search: '',
      filter: false,
      selected: null,
    });
    expect(serializeUrlState(state)).toBe('');
  });

  it('round-trips every field', () => {
    const state = {
      view: 'hosts',
      options: { stopped: 'only', system: 'show', unconnected: 'hide' },
      mode: 'table' as const,
      search: 'cpu > 5% image:"a b"',
      filter: true,
      selected: 'container:3f2a/x',
    };
    expect(parseUrlState(serializeUrlState(state))).toEqual(state);
  });
});
