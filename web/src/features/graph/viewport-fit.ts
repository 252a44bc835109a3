// Where the viewport goes when the map is fitted: the nodes' boxes inside
// the room the overlays leave (the map's buttons, its notes), never zoomed in
// past MAX_FIT_ZOOM, and, for the first picture of a view of up to
// LEGIBLE_MAX_NODES, never zoomed out below LEGIBLE_ZOOM: captions stay
// readable and what does not fit is a pan (or the Fit button) away.

export interface Bounds {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  /** How many nodes the bounds hold. */
  count: number;
}

export interface Insets {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

export interface Viewport {
  zoom: number;
  pan: { x: number; y: number };
}

/** fit never zooms in further than this; the user still can. */
export const MAX_FIT_ZOOM = 1.3;
/** 12 px captions draw at 9.6 px or more at this zoom. */
export const LEGIBLE_ZOOM = 0.8;
export const LEGIBLE_MAX_NODES = 150;
/** Clear space kept between the nodes and the window's (or an overlay's) edge. */
const MARGIN = 16;

export function fitViewport(bounds: Bounds, size: { width: number; height: number }, insets: Insets, firstPicture: boolean): Viewport {
  const room = {
    left: insets.left + MARGIN,
    top: insets.top + MARGIN,
    width: Math.max(50, size.width - insets.left - insets.right - 2 * MARGIN),
    height: Math.max(50, size.height - insets.top - insets.bottom - 2 * MARGIN),
  };
  const width = Math.max(1, bounds.maxX - bounds.minX);
  const height = Math.max(1, bounds.maxY - bounds.minY);
  // A handful of nodes would otherwise be blown up to fill the window.
  let zoom = Math.min(MAX_FIT_ZOOM, room.width / width, room.height / height);
  if (firstPicture && bounds.count <= LEGIBLE_MAX_NODES) zoom = Math.max(zoom, LEGIBLE_ZOOM);
  // Centred where it fits; from the top-left corner (where the layout packs
  // the biggest component) where it does not.
  const panX = width * zoom <= room.width ? room.left + (room.width - width * zoom) / 2 : room.left;
  const panY = height * zoom <= room.height ? room.top + (room.height - height * zoom) / 2 : room.top;
  return { zoom, pan: { x: panX - bounds.minX * zoom, y: panY - bounds.minY * zoom } };
}
