import { describe, expect, it } from 'vitest';

import { isEmptyQuery, matchesNode, parseSearch } from './search-query';
import { makeNode } from './test-fixtures';

const web = makeNode('container:web', {
  label: 'web-1',
  minor_label: 'host-a',
  metrics: { cpu: 7.5, memory: 150 * 1e6 },
  connections: 3,
  metadata: { image: 'nginx:latest', ip: '172.17.0.2', state: 'running' },
});
const db = makeNode('container:db', {
  label: 'db',
  minor_label: 'host-b',
  metrics: { cpu: 1, memory: 50 * 1024 * 1024 },
  connections: 1,
  metadata: { image: 'postgres:16', ip: '172.17.0.3', state: 'running' },
});
const idle = makeNode('container:idle', {
  label: 'idle',
  kind: 'container',
  metrics: { cpu: null, memory: null },
  metadata: { image: 'busybox', state: 'exited' },
});
const all = [web, db, idle];

function matching(query: string): string[] {
  const parsed = parseSearch(query);
  return all.filter((node) => matchesNode(parsed, node)).map((node) => node.label);
}

describe('parseSearch', () => {
  it('reads plain terms, lower-cased', () => {
    expect(parseSearch('Web  nginx').clauses).toEqual([
      { type: 'term', text: 'web', negate: false },
      { type: 'term', text: 'nginx', negate: false },
    ]);
  });

  it('reads field:value with quotes and negation', () => {
    expect(parseSearch('image:"nginx latest" -state:exited').clauses).toEqual([
      { type: 'field', field: 'image', value: 'nginx latest', negate: false },
      { type: 'field', field: 'state', value: 'exited', negate: true },
    ]);
  });

  it('reads metric comparisons with and without spaces and scales units', () => {
    expect(parseSearch('cpu > 5%').clauses).toEqual([{ type: 'metric', metric: 'cpu', op: '>', value: 5 }]);
    expect(parseSearch('memory>=100MB').clauses).toEqual([
      { type: 'metric', metric: 'memory', op: '>=', value: 100e6 },
    ]);
    expect(parseSearch('mem < 1.5GiB').clauses).toEqual([
      { type: 'metric', metric: 'memory', op: '<', value: 1.5 * 1024 ** 3 },
    ]);
    expect(parseSearch('conn == 2').clauses).toEqual([
      { type: 'metric', metric: 'connections', op: '=', value: 2 },
    ]);
  });

  it('reports a wrong unit instead of guessing, and keeps the rest', () => {
    const parsed = parseSearch('cpu > 5MB web');
    expect(parsed.errors).toHaveLength(1);
    expect(parsed.errors[0]).toContain('MB');
    expect(parsed.clauses).toEqual([{ type: 'term', text: 'web', negate: false }]);
  });

  it('treats a bare metric name as a plain term', () => {
    expect(parseSearch('cpu').clauses).toEqual([{ type: 'term', text: 'cpu', negate: false }]);
  });

  it('ignores half-typed pieces', () => {
    expect(isEmptyQuery(parseSearch('   '))).toBe(true);
    expect(isEmptyQuery(parseSearch('image:'))).toBe(true);
    expect(isEmptyQuery(parseSearch('-'))).toBe(true);
  });

  it('says a half-typed comparison needs a number instead of matching nothing', () => {
    const parsed = parseSearch('cpu >');
    expect(parsed.clauses).toEqual([]);
    expect(parsed.errors).toEqual(['"cpu >" needs a number, e.g. cpu > 5%']);
    const withTerm = parseSearch('web memory>=');
    expect(withTerm.clauses).toEqual([{ type: 'term', text: 'web', negate: false }]);
    expect(withTerm.errors[0]).toContain('100MB');
  });
});

describe('matchesNode', () => {
  it('matches everything on an empty query', () => {
    expect(matching('')).toEqual(['web-1', 'db', 'idle']);
  });

  it('matches plain terms against label, minor label and metadata values', () => {
    expect(matching('web')).toEqual(['web-1']);
    expect(matching('host-b')).toEqual(['db']);
    expect(matching('172.17.0')).toEqual(['web-1', 'db']);
    expect(matching('POSTGRES')).toEqual(['db']);
  });

  it('ANDs clauses together', () => {
    expect(matching('running 172.17.0.3')).toEqual(['db']);
    expect(matching('web postgres')).toEqual([]);
  });

  it('matches field:value on metadata and built-in fields only in that field', () => {
    expect(matching('image:nginx')).toEqual(['web-1']);
    expect(matching('name:db')).toEqual(['db']);
    expect(matching('image:host-a')).toEqual([]);
    expect(matching('nosuchfield:x')).toEqual([]);
  });

  it('negates terms and fields', () => {
    expect(matching('-web')).toEqual(['db', 'idle']);
    expect(matching('-state:running')).toEqual(['idle']);
  });

  it('compares metrics and never matches unknown ones', () => {
    expect(matching('cpu > 5%')).toEqual(['web-1']);
    expect(matching('cpu < 5%')).toEqual(['db']);
    expect(matching('memory > 100MB')).toEqual(['web-1']);
    expect(matching('memory < 100MiB')).toEqual(['db']);
    expect(matching('memory >= 50MiB')).toEqual(['web-1', 'db']);
    expect(matching('connections >= 1')).toEqual(['web-1', 'db']);
    expect(matching('connections = 0')).toEqual(['idle']);
  });
});
