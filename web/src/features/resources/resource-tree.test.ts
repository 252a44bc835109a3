import { describe, expect, it } from 'vitest';

import { makeNode } from '../../lib/test-fixtures';
import { resourceTree } from './resource-tree';

const host = { view: 'hosts', id: 'host:a', label: 'host-a' };
const web = { view: 'containers', id: 'container:web', label: 'web' };

function process(id: string, cpu: number, memory: number, parents = [host, web]) {
  return makeNode(id, { kind: 'process', shape: 'circle', label: id, metrics: { cpu, memory }, parents });
}

describe('resourceTree', () => {
  it('nests processes under containers under hosts, sized by the metric, biggest first', () => {
    const tree = resourceTree(
      [process('nginx', 2, 100), process('worker', 8, 50), process('sshd', 1, 300, [host])],
      'cpu',
    );
    expect(tree.map((h) => [h.label, h.value])).toEqual([['host-a', 11]]);
    const [first, second] = tree[0]!.children;
    expect([first?.label, first?.value, first?.view]).toEqual(['web', 10, 'containers']);
    expect(first?.children.map((p) => p.label)).toEqual(['worker', 'nginx']);
    expect([second?.label, second?.view]).toEqual(['Uncontained', null]);
    const byMemory = resourceTree([process('nginx', 2, 100), process('sshd', 1, 300, [host])], 'memory');
    expect(byMemory[0]!.children.map((c) => [c.label, c.value])).toEqual([
      ['Uncontained', 300],
      ['web', 100],
    ]);
  });
});
