// Serves files from a directory for the dev fake server and the benchmark.
// Local only: it is never a production server (the app embeds dist/).

import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Answers a request from `root`; returns false when no file matched. */
export async function serveStatic(root, request, response) {
  const base = resolve(root);
  const path = decodeURIComponent(new URL(request.url, 'http://local').pathname);
  let file = normalize(join(base, path));
  if (!file.startsWith(base)) return false;
  try {
    if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
    const body = await readFile(file);
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    response.end(body);
    return true;
  } catch {
    return false;
  }
}
