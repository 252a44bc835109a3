// The search language of the search box, parsed once and matched per node.
//
//   web             plain term: label, minor label, kind, id or any metadata value contains it
//   image:nginx     field:value: that field contains the value ("quoted values" may hold spaces)
//   cpu > 5%        metric comparison: cpu (percent), memory (bytes), connections (count)
//   memory>=100MB   units: B, KB/MB/GB (decimal), KiB/MiB/GiB (binary); % for cpu
//   -redis          a leading '-' negates a term or a field:value
//
// Clauses combine with AND. Parsing never throws: what it cannot read is
// reported in `errors` and left out, so a half-typed query still filters.

import type { TopologyNode } from './api-types';

export type MetricName = 'cpu' | 'memory' | 'connections';
export type Comparison = '>' | '>=' | '<' | '<=' | '=' | '!=';

export type Clause =
  | { type: 'term'; text: string; negate: boolean }
  | { type: 'field'; field: string; value: string; negate: boolean }
  | { type: 'metric'; metric: MetricName; op: Comparison; value: number };

export interface SearchQuery {
  clauses: Clause[];
  errors: string[];
}

const METRIC_ALIASES: Record<string, MetricName> = {
  cpu: 'cpu',
  memory: 'memory',
  mem: 'memory',
  connections: 'connections',
  conn: 'connections',
  conns: 'connections',
};

const MEMORY_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

// A unit follows its number directly ("5MB"), or after spaces only when it is a
// known unit ("5 MB"): "cpu > 5 mem < 9" must not read "mem" as a unit.
const METRIC_PATTERN =
  /^(cpu|memory|mem|connections|conns|conn)\s*(>=|<=|!=|==|=|>|<)\s*(\d+(?:\.\d+)?|\.\d+)(?:\s+(%|[kmg]i?b|[kmgb])(?=\s|$)|([a-z%]*))(?=\s|$)/i;
/** A metric and a comparison with no number yet: "cpu >" while typing. */
const PARTIAL_METRIC_PATTERN = /^(cpu|memory|mem|connections|conns|conn)\s*(>=|<=|!=|==|=|>|<)\s*(?!\d|\.\d)/i;
const FIELD_PATTERN = /^(-?)([a-z_][\w.-]*):(?:"([^"]*)"?|(\S*))/i;
const TERM_PATTERN = /^(-?)(?:"([^"]*)"?|(\S+))/;

export function parseSearch(input: string): SearchQuery {
  const clauses: Clause[] = [];
  const errors: string[] = [];
  let rest = input.trim();
  while (rest.length > 0) {
    const consumed =
      readMetric(rest, clauses, errors) ?? readField(rest, clauses) ?? readTerm(rest, clauses);
    rest = rest.slice(consumed).trimStart();
  }
  return { clauses, errors };
}

function readMetric(rest: string, clauses: Clause[], errors: string[]): number | null {
  const match = METRIC_PATTERN.exec(rest);
  if (!match) {
    // Say what is missing instead of searching for the words "cpu" and ">".
    const partial = PARTIAL_METRIC_PATTERN.exec(rest);
    if (!partial) return null;
    const [whole, name = '', op = ''] = partial;
    errors.push(`"${name} ${op}" needs a number, e.g. ${name.toLowerCase()} ${op} ${name.toLowerCase().startsWith('mem') ? '100MB' : name.toLowerCase() === 'cpu' ? '5%' : '3'}`);
    return whole.length;
  }
  const [whole, name = '', rawOp = '', number = '', spacedUnit, rawUnit = spacedUnit ?? ''] = match;
  const metric = METRIC_ALIASES[name.toLowerCase()];
  if (!metric) return null;
  const op: Comparison = rawOp === '==' ? '=' : (rawOp as Comparison);
  const scaled = scaleMetric(metric, Number(number), rawUnit.toLowerCase());
  if (scaled === null) errors.push(`unknown unit "${rawUnit}" for ${metric} in "${whole}"`);
  else clauses.push({ type: 'metric', metric, op, value: scaled });
  return whole.length;
}

/** Converts a typed number to the unit the API uses (percent, bytes, count). */
function scaleMetric(metric: MetricName, value: number, unit: string): number | null {
  switch (metric) {
    case 'cpu':
      return unit === '' || unit === '%' ? value : null;
    case 'connections':
      return unit === '' ? value : null;
    case 'memory': {
      const factor = MEMORY_UNITS[unit];
      return factor === undefined ? null : value * factor;
    }
  }
}

function readField(rest: string, clauses: Clause[]): number | null {
  const match = FIELD_PATTERN.exec(rest);
  if (!match) return null;
  const [whole, minus, field = '', quoted, bare] = match;
  const value = quoted ?? bare ?? '';
  // "image:" with nothing after it yet is a query being typed: match nothing
  // extra rather than everything or nothing.
  if (value !== '') {
    clauses.push({ type: 'field', field: field.toLowerCase(), value: value.toLowerCase(), negate: minus === '-' });
  }
  return whole.length;
}

function readTerm(rest: string, clauses: Clause[]): number {
  const match = TERM_PATTERN.exec(rest);
  if (!match) return rest.length;
  const [whole, minus, quoted, bare] = match;
  const text = (quoted ?? bare ?? '').toLowerCase();
  // A lone "-" is someone about to type a negation.
  if (text !== '' && whole !== '-') clauses.push({ type: 'term', text, negate: minus === '-' });
  return Math.max(whole.length, 1);
}

export function isEmptyQuery(query: SearchQuery): boolean {
  return query.clauses.length === 0;
}

export function matchesNode(query: SearchQuery, node: TopologyNode): boolean {
  return query.clauses.every((clause) => matchesClause(clause, node));
}

function matchesClause(clause: Clause, node: TopologyNode): boolean {
  switch (clause.type) {
    case 'term':
      return searchableTexts(node).some((text) => text.includes(clause.text)) !== clause.negate;
    case 'field': {
      const value = fieldValue(node, clause.field);
      const found = value !== undefined && value.toLowerCase().includes(clause.value);
      return found !== clause.negate;
    }
    case 'metric': {
      const actual = metricValue(node, clause.metric);
      return actual !== null && compare(actual, clause.op, clause.value);
    }
  }
}

function searchableTexts(node: TopologyNode): string[] {
  return [node.label, node.minor_label, node.kind, node.id, ...Object.values(node.metadata)].map(
    (text) => text.toLowerCase(),
  );
}

/** Built-in fields first, then metadata keys (image, ip, state, …). */
function fieldValue(node: TopologyNode, field: string): string | undefined {
  switch (field) {
    case 'name':
    case 'label':
      return node.label;
    case 'minor':
    case 'minor_label':
      return node.minor_label;
    case 'kind':
      return node.kind;
    case 'id':
      return node.id;
    case 'rank':
      return node.rank;
  }
  const exact = node.metadata[field];
  if (exact !== undefined) return exact;
  // Metadata keys are snake_case on the wire; people type them any case.
  for (const [key, value] of Object.entries(node.metadata)) {
    if (key.toLowerCase() === field) return value;
  }
  return undefined;
}

function metricValue(node: TopologyNode, metric: MetricName): number | null {
  switch (metric) {
    case 'cpu':
      return node.metrics.cpu;
    case 'memory':
      return node.metrics.memory;
    case 'connections':
      return node.connections;
  }
}

function compare(actual: number, op: Comparison, expected: number): boolean {
  switch (op) {
    case '>':
      return actual > expected;
    case '>=':
      return actual >= expected;
    case '<':
      return actual < expected;
    case '<=':
      return actual <= expected;
    case '=':
      return actual === expected;
    case '!=':
      return actual !== expected;
  }
}
