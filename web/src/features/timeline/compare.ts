// Compare mode: what appeared, vanished or changed in a view between two
// moments. A node "changed" when what an operator reads about it moved
// (label, metadata such as state or image, connection count, parents), not
// when only its CPU or memory figures drifted.

import type { TopologyNode, TopologyView } from '../../lib/api-types';

export interface Comparison {
  appeared: TopologyNode[];
  vanished: TopologyNode[];
  changed: TopologyNode[];
}

function signature(node: TopologyNode): string {
  return JSON.stringify([node.label, node.minor_label, node.metadata, node.connections, node.parents.map((p) => p.id)]);
}

export function compareViews(before: TopologyView, after: TopologyView): Comparison {
  const old = new Map(before.nodes.map((node) => [node.id, node]));
  const now = new Map(after.nodes.map((node) => [node.id, node]));
  const byLabel = (a: TopologyNode, b: TopologyNode) => a.label.localeCompare(b.label);
  const appeared = after.nodes.filter((node) => !old.has(node.id)).sort(byLabel);
  const vanished = before.nodes.filter((node) => !now.has(node.id)).sort(byLabel);
  const changed = after.nodes
    .filter((node) => {
      const was = old.get(node.id);
      return was !== undefined && signature(was) !== signature(node);
    })
    .sort(byLabel);
  return { appeared, vanished, changed };
}
