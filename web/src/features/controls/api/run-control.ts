// Runs a control: POST api/control/{probe}/{node}/{control} (docs/api.md).

import { ApiError, apiUrl } from '../../../lib/api-client';

export type ControlOutcome = { ok: true } | { pipe: string; url: string };

export async function runControl(
  probe: string,
  node: string,
  control: string,
  params?: Record<string, number>,
): Promise<ControlOutcome> {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params ?? {})) query.set(key, String(value));
  const path = `api/control/${encodeURIComponent(probe)}/${encodeURIComponent(node)}/${encodeURIComponent(control)}`;
  const response = await fetch(apiUrl(path, query), { method: 'POST', headers: { accept: 'application/json' } });
  const body = (await response.json().catch(() => ({}))) as { error?: string } & Partial<ControlOutcome>;
  if (!response.ok) throw new ApiError(response.status, body.error ?? `${response.status} ${response.statusText}`);
  return body as ControlOutcome;
}
