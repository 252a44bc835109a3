// Maps the API's node shapes to cytoscape shapes. Cytoscape has no cloud,
// so pseudo nodes (The Internet, Uncontained) get a bumpy polygon.

import type { NodeShape } from '../../lib/api-types';

export const CLOUD_POINTS = cloudPolygon();

export function cytoscapeShape(shape: NodeShape): string {
  switch (shape) {
    case 'circle':
      return 'ellipse';
    case 'hexagon':
      return 'hexagon';
    case 'heptagon':
      return 'heptagon';
    case 'square':
      return 'round-rectangle';
    case 'cloud':
      return 'polygon';
  }
}

/** A closed outline with six bumps, in cytoscape's [-1, 1] polygon space. */
function cloudPolygon(): string {
  const points: string[] = [];
  const steps = 48;
  for (let step = 0; step < steps; step++) {
    const angle = (step / steps) * Math.PI * 2;
    const radius = 0.82 + 0.18 * Math.abs(Math.sin(angle * 3));
    points.push((Math.cos(angle) * radius).toFixed(3), (Math.sin(angle) * radius * 0.8).toFixed(3));
  }
  return points.join(' ');
}
