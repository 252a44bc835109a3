// The layout worker: computes positions off the main thread so the page
// never freezes while thousands of nodes are being placed.

import { computeLayout } from './compute-layout';
import type { LayoutRequest } from './layout-types';

self.onmessage = (event: MessageEvent<LayoutRequest>) => {
  self.postMessage(computeLayout(event.data));
};
