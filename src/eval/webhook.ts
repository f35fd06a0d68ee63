import { displayUrl } from '../shared/secrets.js';

const ENV_REF = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;

/** Checks a --webhook value: an http(s) URL, or env:NAME (the URL is in variable NAME of the process that posts). */
export function parseWebhook(value: string): string {
  if (ENV_REF.test(value)) return value;
  if (!URL.canParse(value) || !['http:', 'https:'].includes(new URL(value).protocol))
    throw new Error('expected an http:// or https:// URL, or env:NAME');
  return value;
}

/** A URL that carries a credential where it can be seen: user-info or a query string. */
export function webhookHoldsToken(value: string): boolean {
  if (ENV_REF.test(value)) return false;
  const u = new URL(value);
  return u.username !== '' || u.password !== '' || u.search !== '';
}

/** The URL to POST to: the value itself, or for env:NAME the variable's value in `env`. */
export function resolveWebhook(value: string, env: NodeJS.ProcessEnv = process.env): string {
  const name = ENV_REF.exec(value)?.[1];
  if (!name) return value;
  const url = env[name];
  if (!url) throw new Error(`webhook env:${name}: ${name} is not set in this process's environment`);
  return parseWebhook(url);
}

/** POSTs a JSON payload; throws on a network error or a non-2xx answer. */
export async function postJson(
  url: string,
  payload: unknown,
  fetchImpl: typeof fetch = fetch,
  timeoutMs = 10_000,
): Promise<void> {
  const res = await fetchImpl(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(timeoutMs),
  });
  // The query string often holds the hook's token: named without it.
  if (!res.ok) throw new Error(`webhook ${displayUrl(url)} answered ${res.status} ${res.statusText}`);
}
