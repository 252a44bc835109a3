import { describe as suite, expect, it } from 'vitest';

import type { TimelineEvent } from './api/history-api';
import { compareViews } from './compare';
import { describe, position, severity, visibleSpan } from './time-scale';
import type { TopologyView } from '../../lib/api-types';
import { makeNode as node } from '../../lib/test-fixtures';

const emptyView = (): TopologyView => ({ view: 'containers', nodes: [], edges: [] });

suite('time scale', () => {
  it('places moments on the strip and clamps outside ones', () => {
    expect(position(150, 100, 200)).toBe(50);
    expect(position(50, 100, 200)).toBe(0);
    expect(position(250, 100, 200)).toBe(100);
    expect(position(5, 10, 10)).toBe(100);
  });

  it('clips the window to what history holds', () => {
    expect(visibleSpan(10_000, 5_000, null)).toEqual({ from: 5_000, to: 10_000 });
    expect(visibleSpan(10_000, 5_000, 8_000)).toEqual({ from: 8_000, to: 10_000 });
    expect(visibleSpan(10_000, 5_000, 12_000)).toEqual({ from: 10_000, to: 10_000 });
  });

  it('describes an event with its exit code and OOM kill', () => {
    const event: TimelineEvent = {
      at: 0,
      kind: 'container_died',
      node: { view: 'containers', id: 'container:a', label: 'web' },
      peer: null,
      host: 'h',
      exit_code: 137,
      oom_killed: true,
      health: null,
      restart_count: null,
    };
    expect(describe(event)).toContain('web: died (exit 137, OOM-killed)');
    expect(severity(event.kind)).toBe('bad');
    expect(severity('edge_seen')).toBe('edge');
  });
});

suite('compare', () => {
  it('finds what appeared, vanished and changed, ignoring metric drift', () => {
    const before = emptyView();
    before.nodes = [node('a'), node('b'), node('c'), node('d')];
    const after = emptyView();
    const moved = { ...node('c'), metadata: { state: 'exited' } };
    const busier = { ...node('d'), metrics: { cpu: 99, memory: 5 } };
    after.nodes = [node('a'), moved, busier, node('e')];
    const result = compareViews(before, after);
    expect(result.appeared.map((n) => n.id)).toEqual(['e']);
    expect(result.vanished.map((n) => n.id)).toEqual(['b']);
    expect(result.changed.map((n) => n.id)).toEqual(['c']);
  });
});
