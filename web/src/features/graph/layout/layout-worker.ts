// The layout worker: computes positions off the main thread so the page
// never freezes while thousands of nodes are being placed.

import { computeLayout } from './compute-layout';
import type { LayoutRequest } from './layout-types';
import { warmPlacement } from './place-new';

let warmed = false;

self.onmessage = (event: MessageEvent<LayoutRequest>) => {
  self.postMessage(computeLayout(event.data));
  if (!warmed) {
    warmed = true;
    // After the first answer, while the page draws it: ready for the next.
    setTimeout(warmPlacement, 0);
  }
};
