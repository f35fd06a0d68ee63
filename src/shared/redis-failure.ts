/** Redis connection failures, each as a short reason and one line a person can act on, naming no secret. */

/** Files of a TLS connection (paths, never their contents). */
export interface RedisTlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface RedisTarget {
  url: string;
  tls?: RedisTlsFiles;
}

export interface RedisFailure {
  /** A few words: "connection refused", "authentication failed", ... */
  reason: string;
  /** The one line: where, what, and which setting to change. */
  line: string;
  /** Waiting will not fix it (password, certificate, permission): fail now rather than retry. */
  fatal: boolean;
}

const TRANSIENT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'timed out',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
};

const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
]);

function where(url: string): { at: string; user: string; host: string } {
  try {
    const u = new URL(url);
    return {
      at: `${u.hostname}:${u.port || 6379}`,
      user: decodeURIComponent(u.username) || 'default',
      host: u.hostname,
    };
  } catch {
    return { at: '(invalid Redis URL)', user: 'default', host: '' };
  }
}

/** Classifies a connection error (anything else comes back as its first line, not fatal). */
export function redisFailure(err: unknown, target: RedisTarget): RedisFailure {
  const e = err as { code?: string; message?: string } | undefined;
  const code = e?.code ?? '';
  const msg = (e?.message ?? String(err)).split('\n')[0];
  const { at, user, host } = where(target.url);
  const tls = target.tls ?? {};
  const fatal = (reason: string, line: string): RedisFailure => ({ reason, line, fatal: true });

  if (TRANSIENT[code])
    return { reason: TRANSIENT[code], line: `cannot reach Redis at ${at} (${TRANSIENT[code]})`, fatal: false };
  if (/^NOAUTH/.test(msg))
    return fatal(
      'authentication required',
      `Redis at ${at} requires a password: give it in REDIS_URL as redis://USER:PASSWORD@${at}`,
    );
  if (/WRONGPASS|invalid username-password|invalid password/i.test(msg))
    return fatal('authentication failed', `authentication failed for user ${user} at ${at}`);
  if (/^NOPERM/.test(msg)) {
    return fatal(
      'permission denied',
      `Redis user ${user} at ${at} lacks a permission (${msg.replace(/^NOPERM\s*/, '')}); docs/security.md lists the ACL rules cxr needs`,
    );
  }
  if (UNTRUSTED.has(code)) {
    const fix = tls.ca
      ? `CXR_REDIS_TLS_CA (${tls.ca}) is not the CA that signed it`
      : 'set CXR_REDIS_TLS_CA to the file of the CA that signed it';
    return fatal('certificate not trusted', `TLS certificate of Redis at ${at} is not trusted (${msg}): ${fix}`);
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return fatal('certificate expired', `TLS certificate of Redis at ${at} is not valid now (${msg})`);
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return fatal(
      'certificate name mismatch',
      `TLS certificate of Redis at ${at} is not issued for ${host}: use a host name the certificate lists in REDIS_URL`,
    );
  }
  if (/CERTIFICATE_REQUIRED|certificate required|peer did not return a certificate/i.test(code + msg)) {
    return fatal(
      'client certificate required',
      `Redis at ${at} requires a client certificate: set CXR_REDIS_TLS_CERT and CXR_REDIS_TLS_KEY`,
    );
  }
  if (/BAD_CERTIFICATE|UNKNOWN_CA|bad certificate|unknown ca/i.test(code + msg)) {
    return fatal(
      'client certificate refused',
      `Redis at ${at} refused the client certificate in CXR_REDIS_TLS_CERT (not signed by a CA it trusts)`,
    );
  }
  if (/KEY_VALUES_MISMATCH|key values mismatch/i.test(code + msg)) {
    return fatal(
      'client key mismatch',
      'CXR_REDIS_TLS_KEY is not the private key of the certificate in CXR_REDIS_TLS_CERT',
    );
  }
  if (/WRONG_VERSION_NUMBER|wrong version number|packet length too long/i.test(code + msg)) {
    return fatal('not a TLS port', `Redis at ${at} does not speak TLS: use redis:// or the server's tls-port`);
  }
  if (/connect ETIMEDOUT|timed? ?out/i.test(msg))
    return { reason: 'timed out', line: `cannot reach Redis at ${at} (timed out)`, fatal: false };
  return { reason: msg, line: `Redis at ${at}: ${msg}`, fatal: false };
}

/**
 * The line for a command Redis refused for want of a permission (inside MULTI it comes back as EXECABORT
 * with the refusal among its previous errors); undefined for anything else.
 */
export function permissionLine(err: unknown): string | undefined {
  const e = err as { message?: string; previousErrors?: { message?: string }[] } | undefined;
  const noperm = [e, ...(e?.previousErrors ?? [])].find((x) => /^NOPERM/.test(x?.message ?? ''));
  if (!noperm) return undefined;
  return `Redis refused a command: ${noperm.message!.split('\n')[0].replace(/^NOPERM\s*/, '')}; docs/security.md lists the ACL rules cxr needs`;
}

/** A short reason for a connection error: "connection refused", "authentication failed", ... */
export function describeRedisError(err: unknown, url = 'redis://unknown'): string {
  return redisFailure(err, { url }).reason;
}

/** True for failures of the connection itself that retrying cannot fix (password, certificate); not a refused command. */
export function isFatalRedisError(err: unknown): boolean {
  const f = redisFailure(err, { url: 'redis://unknown' });
  return f.fatal && f.reason !== 'permission denied';
}
