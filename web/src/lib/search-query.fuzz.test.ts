// Property tests (fast-check) for the search box's parser: whatever is typed
// or pasted, parsing never throws, terminates, and yields well-formed
// clauses that match nodes without throwing; queries built from known
// tokens parse back into those clauses. The seed is fixed, so a failure
// repeats; fast-check prints the shrunk counterexample, to be kept below as
// a regression case.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { matchesNode, parseSearch, type Clause } from './search-query';
import { makeNode } from './test-fixtures';

const SEED = 15;
const nodes = [
  makeNode('container:web', {
    label: 'web-1',
    metrics: { cpu: 7.5, memory: 150e6 },
    connections: 3,
    metadata: { image: 'nginx:latest', state: 'running' },
  }),
  makeNode('container:idle', { label: 'idle', metadata: { image: 'busybox' } }),
];

function wellFormed(clause: Clause): boolean {
  switch (clause.type) {
    case 'term':
      return clause.text.length > 0 && clause.text === clause.text.toLowerCase();
    case 'field':
      return clause.field.length > 0 && clause.value.length > 0 && clause.value === clause.value.toLowerCase();
    case 'metric':
      return Number.isFinite(clause.value) && clause.value >= 0;
  }
}

/** Text made of the parser's own alphabet (quotes, colons, operators, units), so it is often almost valid. */
const queryish = fc
  .array(
    fc.oneof(
      fc.constantFrom('cpu', 'mem', 'memory', 'conns', 'image', ':', '"', '-', '>', '>=', '<', '!=', '==', '=', '%'),
      fc.constantFrom(' ', '  ', '\t', '5', '0.5', '.5', '100', 'MB', 'KiB', 'gib', 'x', 'nginx', 'é', '\u{1F600}'),
      fc.string({ maxLength: 4 }),
    ),
    { maxLength: 24 },
  )
  .map((parts) => parts.join(''));

describe('parseSearch under arbitrary input', () => {
  it('keeps the counterexamples it found (regressions)', () => {
    // Found by the round-trip property: the unit of the first comparison swallowed the next metric's name.
    expect(parseSearch('cpu > 0 cpu > 0').clauses).toEqual([
      { type: 'metric', metric: 'cpu', op: '>', value: 0 },
      { type: 'metric', metric: 'cpu', op: '>', value: 0 },
    ]);
    expect(parseSearch('cpu > 5 mem < 2 MB').clauses).toEqual([
      { type: 'metric', metric: 'cpu', op: '>', value: 5 },
      { type: 'metric', metric: 'memory', op: '<', value: 2e6 },
    ]);
  });

  it('never throws, and every clause it keeps is well formed', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200, unit: 'binary' }), queryish), (input) => {
        const query = parseSearch(input);
        expect(query.clauses.every(wellFormed)).toBe(true);
        // Each clause consumed at least one character.
        expect(query.clauses.length + query.errors.length).toBeLessThanOrEqual(input.length);
        for (const node of nodes) expect(typeof matchesNode(query, node)).toBe('boolean');
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('parses clauses built from known tokens back into them', () => {
    const word = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
    const clause = fc.oneof(
      fc.record({ type: fc.constant('term' as const), text: word, negate: fc.boolean() }),
      fc.record({ type: fc.constant('field' as const), field: fc.constantFrom('image', 'state', 'ip'), value: word, negate: fc.boolean() }),
      fc.record({
        type: fc.constant('metric' as const),
        metric: fc.constantFrom('cpu' as const, 'connections' as const),
        op: fc.constantFrom('>' as const, '>=' as const, '<' as const, '<=' as const, '=' as const, '!=' as const),
        value: fc.integer({ min: 0, max: 10_000 }),
      }),
    );
    const text = (c: Clause): string => {
      switch (c.type) {
        case 'term':
          return `${c.negate ? '-' : ''}${c.text}`;
        case 'field':
          return `${c.negate ? '-' : ''}${c.field}:${c.value}`;
        case 'metric':
          return `${c.metric} ${c.op} ${c.value}`;
      }
    };
    fc.assert(
      fc.property(fc.array(clause, { maxLength: 6 }), (clauses) => {
        // A bare word that names a metric or a unit ("cpu > 5 mb") reads as one: keep terms apart from those.
        const plain = clauses.filter(
          (c) => c.type !== 'term' || !/^(cpu|mem|memory|conn|conns|connections|[kmg]i?b|[kmgb])$/.test(c.text),
        );
        expect(parseSearch(plain.map(text).join(' ')).clauses).toEqual(plain);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });
});
