// The app's real JSON against the UI's types (through the zod schemas that
// src/lib/api-schemas.ts proves equal to them): every REST answer the UI
// reads, and a view's WebSocket `full` message. Strict: a field the app adds
// without the types knowing fails as surely as one it drops.

import { describe, expect, it } from 'vitest';
import type { z } from 'zod';

import {
  appInfo,
  diffMessage,
  fullMessage,
  nodeDetails,
  probeInfo,
  topologySummary,
  topologyView,
} from '../src/lib/api-schemas';

const APP_URL = process.env.PERISCOPE_URL ?? '';

async function json(path: string): Promise<unknown> {
  const response = await fetch(new URL(path, APP_URL));
  expect(response.ok, `${path}: ${response.status}`).toBe(true);
  return response.json();
}

function problems(schema: z.ZodType, value: unknown, where: string): string[] {
  const result = schema.safeParse(value);
  return result.success ? [] : result.error.issues.map((issue) => `${where} ${issue.path.join('.')}: ${issue.message}`);
}

describe.skipIf(!APP_URL)("the app's JSON matches the UI's types", () => {
  it('GET /api, /api/probes and /api/topology', async () => {
    expect(problems(appInfo, await json('api'), 'GET /api')).toEqual([]);
    const probes = (await json('api/probes')) as unknown[];
    expect(probes.length).toBeGreaterThan(0);
    expect(probes.flatMap((probe) => problems(probeInfo, probe, 'probe'))).toEqual([]);
    const list = (await json('api/topology?stopped=show')) as unknown[];
    expect(list.flatMap((entry) => problems(topologySummary, entry, 'summary'))).toEqual([]);
  });

  it('every view and the details of its nodes', async () => {
    for (const view of ['processes', 'processes-by-name', 'containers', 'containers-by-image', 'containers-by-hostname', 'compose', 'hosts']) {
      const graph = (await json(`api/topology/${view}?stopped=show&unconnected=show`)) as { nodes: Array<{ id: string }> };
      expect(problems(topologyView, graph, view)).toEqual([]);
      for (const node of graph.nodes.slice(0, 5)) {
        const response = await fetch(new URL(`api/topology/${view}/${encodeURIComponent(node.id)}`, APP_URL));
        // The model is live: a connection's address node can be gone a moment later.
        if (response.status === 404) continue;
        expect(response.ok, `${view}/${node.id}: ${response.status}`).toBe(true);
        expect(problems(nodeDetails, await response.json(), `${view}/${node.id}`)).toEqual([]);
      }
    }
  });

  it("a view's WebSocket messages: the full view, then a diff if one comes within 15 s", async () => {
    const url = new URL('api/topology/containers/ws', APP_URL);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    // Node 20 has no global WebSocket; ws is what the dev server uses too.
    const { WebSocket } = await import('ws');
    const messages = await new Promise<Array<{ type?: string }>>((resolve, reject) => {
      const socket = new WebSocket(url, { origin: new URL(APP_URL).origin });
      const seen: Array<{ type?: string }> = [];
      const done = () => {
        socket.close();
        resolve(seen);
      };
      const timer = setTimeout(done, 15_000);
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { type?: string };
        seen.push(message);
        if (message.type === 'diff') {
          clearTimeout(timer);
          done();
        }
      });
      socket.on('error', reject);
    });
    expect(messages[0]?.type).toBe('full');
    expect(problems(fullMessage, messages[0], 'ws full')).toEqual([]);
    for (const diff of messages.filter((message) => message.type === 'diff')) {
      expect(problems(diffMessage, diff, 'ws diff')).toEqual([]);
    }
  });
});
