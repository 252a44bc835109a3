import { describe, expect, it } from 'vitest';

import { parseUrlState, serializeUrlState } from './url-state';
import { chooseOption, defaultOptionSpecs, optionsQuery } from './view-options';

describe('url state', () => {
  it('has defaults for an empty URL and writes nothing for them', () => {
    const state = parseUrlState('');
    expect(state).toEqual({
      view: 'containers',
      options: {},
      mode: 'graph',
      search: '',
      filter: false,
      selected: null,
      edge: null,
      metric: 'cpu',
      sort: 'name-asc',
    });
    expect(serializeUrlState(state)).toBe('');
  });

  it('round-trips every field', () => {
    const state = {
      view: 'hosts',
      options: { stopped: 'only', system: 'show', unconnected: 'hide' },
      mode: 'resources' as const,
      search: 'cpu > 5% image:"a b"',
      filter: true,
      selected: 'container:3f2a/x',
      edge: 'container:a>container:b',
      metric: 'memory' as const,
      sort: 'cpu-desc',
    };
    expect(parseUrlState(serializeUrlState(state))).toEqual(state);
  });

  it('keeps only chosen options, so each view applies its own defaults', () => {
    const [, , unconnected] = defaultOptionSpecs('processes');
    expect(unconnected?.default).toBe('hide');
    const shown = chooseOption({}, unconnected!, 'show');
    expect(optionsQuery(shown).toString()).toBe('unconnected=show');
    expect(chooseOption(shown, unconnected!, 'hide')).toEqual({});
    expect(defaultOptionSpecs('containers')[2]?.default).toBe('show');
  });
});
