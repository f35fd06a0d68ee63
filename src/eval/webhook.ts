import { displayUrl } from '../shared/secrets.js';

/** POSTs a JSON payload; throws on a network error or a non-2xx answer. */
export async function postJson(url: string, payload: unknown, fetchImpl: typeof fetch = fetch, timeoutMs = 10_000): Promise<void> {
  const res = await fetchImpl(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(timeoutMs),
  });
  // The query string often holds the hook's token: named without it.
  if (!res.ok) throw new Error(`webhook ${displayUrl(url)} answered ${res.status} ${res.statusText}`);
}
