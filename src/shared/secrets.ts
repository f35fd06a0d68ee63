/**
 * Keeping credentials out of output. Two nets: URLs are printed without their user-info and query string,
 * and any text bound for stderr or a log can be scrubbed of the secret values this process was given.
 */

export const REDACTED = '[redacted]';

/** The URL as scheme://host:port/path: no user, password or query string (webhook tokens live there). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

/** Names of settings whose whole value is a secret. */
const SECRET_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|PASSPHRASE|^AWS_ACCESS_KEY_ID$/i;
/** Shorter values are too likely to occur by chance; URL user-info is scrubbed by shape whatever its length. */
const MIN_SECRET_LENGTH = 8;

/** The secret values in an environment: secret-named settings, and passwords and query values inside URL settings. */
export function secretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const found = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (!value) continue;
    if (SECRET_NAME.test(name)) found.add(value);
    if (/^(rediss?|https?):\/\//i.test(value)) {
      try {
        const u = new URL(value);
        if (u.password) found.add(decodeURIComponent(u.password)).add(u.password);
        for (const v of u.searchParams.values()) found.add(v);
      } catch {
        // not a URL after all
      }
    }
  }
  return [...found].filter((v) => v.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

/** The user-info hints print as an example (`redis://USER:PASSWORD@HOST`): a placeholder, not a secret, so it is kept. */
const PLACEHOLDER_USERINFO = 'USER:PASSWORD';

/** `text` with URL user-info (scheme://user:pass@) and every value of `secrets` replaced. */
export function scrubText(text: string, secrets: readonly string[]): string {
  let out = text.replace(
    /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@'"]*:[^\s/@'"]*)@/gi,
    (match, scheme: string, userinfo: string) => (userinfo === PLACEHOLDER_USERINFO ? match : `${scheme}${REDACTED}@`),
  );
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}
