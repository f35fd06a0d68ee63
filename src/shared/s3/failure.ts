import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config.js';
import { displayUrl } from '../secrets.js';

/**
 * S3 failures that do not say they come from S3 (a bare `connect ECONNREFUSED 127.0.0.1:1`, `getaddrinfo
 * ENOTFOUND …`, the SDK's `UnknownError` for an answer that is not S3's) as one line naming S3, the endpoint
 * and the setting to change. The client tags each error with its endpoint (nameEndpoint); s3FailureLine is pure.
 */

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'timed out',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
  ECONNABORTED: 'connection aborted',
};

/** The property an S3 client's errors carry: where the request went, without credentials. */
const ENDPOINT = 'cxrS3Endpoint';

/** Where a client sends its requests, for messages: the endpoint without user-info, or AWS and the region. */
export function endpointLabel(settings: Pick<S3Settings, 'endpoint' | 'region'>): string {
  return settings.endpoint ? displayUrl(settings.endpoint) : `AWS S3 (region ${settings.region})`;
}

/** Tags every error the client's commands throw with its endpoint, after the SDK's own retries. */
export function nameEndpoint(client: S3Client, settings: Pick<S3Settings, 'endpoint' | 'region'>): void {
  const label = endpointLabel(settings);
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (err && typeof err === 'object' && !(ENDPOINT in err))
          Object.defineProperty(err, ENDPOINT, { value: label, enumerable: false });
        throw err;
      }
    },
    { step: 'initialize', name: 'cxrNameEndpoint' },
  );
}

/** The one line for an S3 failure that names neither S3 nor the setting; undefined for anything else. Pure. */
export function s3FailureLine(err: unknown): string | undefined {
  const e = err as {
    [ENDPOINT]?: string;
    code?: string;
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  } | null;
  const at = e?.[ENDPOINT];
  if (!at) return undefined;
  const setting = at.startsWith('AWS S3')
    ? 'set S3_ENDPOINT for an S3-compatible server, or check AWS_REGION'
    : 'check S3_ENDPOINT';
  const code = e?.code ?? /\b(E[A-Z_]{3,})\b/.exec(e?.message ?? '')?.[1] ?? '';
  if (NETWORK[code]) return `cannot reach S3 at ${at} (${NETWORK[code]}): ${setting}`;
  if (e?.name === 'TimeoutError') return `cannot reach S3 at ${at} (timed out): ${setting}`;
  // The SDK's name for an answer it could not read as an S3 error: something else listens there.
  if (e?.name === 'UnknownError' || e?.message === 'UnknownError') {
    const status = e.$metadata?.httpStatusCode;
    return `S3 at ${at} answered${status ? ` HTTP ${status}` : ''} without an S3 error (UnknownError): ${setting} (is it an S3 server?)`;
  }
  return undefined;
}
