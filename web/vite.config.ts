// Vite build for the Periscope UI. The app embeds dist/ and serves it at `/`,
// so every asset path is relative (base './') and nothing is fetched from a CDN.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
  },
  server: {
    // During development the fake server (dev/fake-server.mjs) or a real app
    // on 127.0.0.1:4040 answers /api; Vite proxies to it.
    proxy: {
      '/api': { target: process.env.PERISCOPE_DEV_API ?? 'http://127.0.0.1:4040', ws: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
