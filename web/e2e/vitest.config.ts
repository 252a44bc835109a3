// Vitest for the browser-side checks that need the real app (PERISCOPE_URL),
// run by `npm run e2e` after the playwright tests; `npm test` never runs them.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
  },
});
