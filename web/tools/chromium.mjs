// Launches Debian's Chromium headless through playwright-core, for the
// browser tests and the benchmark. No browser is downloaded: the executable
// comes from the system (CHROMIUM_PATH, default /usr/bin/chromium).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

// Flags for a closed network: nothing may phone home.
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** Returns { context, close }; every run gets a fresh profile directory. `args` adds flags. */
export async function launchChromium({ viewport = { width: 1280, height: 800 }, args = [] } = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'periscope-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [...FLAGS, ...args],
    viewport,
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
