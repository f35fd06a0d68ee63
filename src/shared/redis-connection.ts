import { Redis } from 'ioredis';
import { UserError } from './errors.js';

/** The URL without credentials, for messages. */
export function redisDisplayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? u.pathname : ''}`;
  } catch {
    return '(invalid Redis URL)';
  }
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'timed out',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
};

/** A short reason for a connection error: "connection refused", "authentication failed", ... */
export function describeRedisError(err: unknown): string {
  const e = err as { code?: string; message?: string } | undefined;
  if (e?.code && REASONS[e.code]) return REASONS[e.code];
  const msg = e?.message ?? String(err);
  if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(msg)) return 'authentication failed';
  if (/connect ETIMEDOUT|timed? ?out/i.test(msg)) return 'timed out';
  return msg.split('\n')[0];
}

/** True for errors that mean "Redis is not reachable right now" (as opposed to a failed command). */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  return (e?.code !== undefined && e.code in REASONS) || /Connection is closed|connect E[A-Z]+|Stream isn't writeable|ended/i.test(e?.message ?? '');
}

export interface ConnectOptions {
  /** Give up connecting after this long (default 5 s). */
  timeoutMs?: number;
  /** Once connected, ride out outages this long before commands fail (default 60 s). */
  outageMs?: number;
}

/**
 * Connects for a command that is not a worker: within `timeoutMs`, or throws one line naming the URL and
 * the reason. Once connected it reconnects with backoff through outages up to `outageMs`.
 */
export async function connectRedis(url: string, opts: ConnectOptions = {}): Promise<Redis> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const outageMs = opts.outageMs ?? 60_000;
  const started = Date.now();
  let connected = false;
  let downSince: number | undefined;
  let lastError: unknown;
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    connectTimeout: timeoutMs,
    retryStrategy: (times) => {
      if (!connected) return Date.now() - started < timeoutMs ? Math.min(100 * times, 500) : null;
      downSince ??= Date.now();
      return Date.now() - downSince < outageMs ? Math.min(200 * 2 ** times, 2000) : null;
    },
  });
  redis.on('error', (err) => (lastError = err));
  redis.on('ready', () => {
    connected = true;
    downSince = undefined;
  });
  const ok = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs + 1000);
    redis.once('ready', () => (clearTimeout(timer), resolve(true)));
    redis.once('end', () => (clearTimeout(timer), resolve(false)));
    redis.connect().catch(() => undefined);
  });
  if (ok) return redis;
  redis.disconnect();
  const reason = lastError ? describeRedisError(lastError) : 'no answer';
  throw new UserError(`cannot reach Redis at ${redisDisplayUrl(url)} (${reason}) after ${Math.round(timeoutMs / 1000)} s`);
}

/** A connection for workers: reconnects forever with capped exponential backoff (BullMQ needs maxRetriesPerRequest: null). */
export function createWorkerRedis(url: string, maxBackoffMs = 5000): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(250 * 2 ** Math.min(times, 10), maxBackoffMs),
  });
}
