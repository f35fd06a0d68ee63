import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError } from './config.js';
import { UserError } from './errors.js';
import { redisFailure, type RedisTarget } from './redis-failure.js';
import { displayUrl } from './secrets.js';

export {
  describeRedisError,
  isFatalRedisError,
  redisFailure,
  type RedisTarget,
  type RedisTlsFiles,
} from './redis-failure.js';

/** The URL without credentials, for messages. */
export function redisDisplayUrl(url: string): string {
  return displayUrl(url);
}

/** HOST:PORT of a Redis URL (the default port when it names none), for one-line messages: no user, no password. */
export function redisHostPort(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return redisDisplayUrl(url);
  }
}

/**
 * Before the first connection, a command gives up at once on these: nothing listens at that port, or the host
 * name does not exist, so the setting is what to fix. Time-outs, resets and unreachable networks are retried
 * until the connect timeout, since they can pass.
 */
const FAIL_FAST = new Set(['ECONNREFUSED', 'ENOTFOUND']);

const REASONS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** True for errors that mean "Redis is not reachable right now" (as opposed to a failed command). */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  return (
    (e?.code !== undefined && REASONS.has(e.code)) ||
    /Connection is closed|connect E[A-Z]+|Stream isn't writeable|ended/i.test(e?.message ?? '')
  );
}

type Target = string | RedisTarget;
const targetOf = (t: Target): RedisTarget => (typeof t === 'string' ? { url: t } : t);

function readPem(setting: string, file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(
      `${setting}=${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      { cause: err },
    );
  }
}

/** ioredis options for the target: for rediss:// URLs the CA, client certificate and key of its TLS files. */
export function redisOptions(target: Target): RedisOptions {
  const { url, tls } = targetOf(target);
  if (!url.startsWith('rediss:')) return {};
  const ca = readPem('CXR_REDIS_TLS_CA', tls?.ca);
  const cert = readPem('CXR_REDIS_TLS_CERT', tls?.cert);
  const key = readPem('CXR_REDIS_TLS_KEY', tls?.key);
  return { tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } };
}

/** A Redis that answers but refuses this client (password, certificate, permission): retrying will not help. */
export class RedisRefusedError extends UserError {
  constructor(line: string) {
    super(line);
    this.name = 'RedisRefusedError';
  }
}

/** Whether the user may run what every cxr process runs first (INFO, as BullMQ does) and read its prefix's keys; a NOPERM is fatal. */
async function probe(redis: Redis, t: RedisTarget, deadline: number, keyPrefix?: string): Promise<void> {
  for (;;) {
    try {
      await redis.info('server');
      if (keyPrefix) await redis.exists(`${keyPrefix}:acl-probe`);
      return;
    } catch (err) {
      const f = redisFailure(err, t);
      if (f.fatal) throw new RedisRefusedError(f.line);
      // LOADING: Redis is reading its data back after a restart.
      if (!/^LOADING/.test((err as Error).message) || Date.now() > deadline) throw new UserError(f.line);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export interface ConnectOptions {
  /** Give up connecting after this long (default 5 s). */
  timeoutMs?: number;
  /** Once connected, ride out outages this long before commands fail (default 60 s). */
  outageMs?: number;
  /** The key prefix the process works under: a user that may not read its keys is refused at once. */
  keyPrefix?: string;
}

/**
 * Connects for a command that is not a worker: within `timeoutMs`, or throws one line naming the host and
 * the reason; at once for problems waiting cannot fix (password, certificate, permission). Once connected
 * it reconnects with backoff through outages up to `outageMs`.
 */
export async function connectRedis(target: Target, opts: ConnectOptions = {}): Promise<Redis> {
  const t = targetOf(target);
  const timeoutMs = opts.timeoutMs ?? 5000;
  const outageMs = opts.outageMs ?? 60_000;
  const started = Date.now();
  let connected = false;
  let downSince: number | undefined;
  let lastError: unknown;
  let fatal: string | undefined;
  let refused = false;
  const redis = new Redis(t.url, {
    ...redisOptions(t),
    lazyConnect: true,
    // Its INFO would be refused to a user without that right, with a warning on the console: see probe().
    enableReadyCheck: false,
    maxRetriesPerRequest: null,
    connectTimeout: timeoutMs,
    retryStrategy: (times) => {
      if (!connected) return Date.now() - started < timeoutMs && !fatal && !refused ? Math.min(100 * times, 500) : null;
      downSince ??= Date.now();
      return Date.now() - downSince < outageMs ? Math.min(200 * 2 ** times, 2000) : null;
    },
  });
  const ok = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs + 1000);
    const done = (v: boolean) => (clearTimeout(timer), resolve(v));
    redis.on('error', (err) => {
      lastError = err;
      if (connected) return;
      const f = redisFailure(err, t);
      if (f.fatal) {
        fatal = f.line;
        done(false);
      } else if (FAIL_FAST.has((err as { code?: string }).code ?? '')) {
        refused = true;
        done(false);
      }
    });
    redis.once('ready', () => ((connected = true), done(true)));
    redis.once('end', () => done(false));
    redis.connect().catch(() => undefined);
  });
  redis.on('ready', () => (downSince = undefined));
  if (ok) {
    try {
      await probe(redis, t, started + timeoutMs, opts.keyPrefix);
      return redis;
    } catch (err) {
      redis.disconnect();
      throw err;
    }
  }
  redis.disconnect();
  if (fatal) throw new RedisRefusedError(fatal);
  const reason = lastError ? redisFailure(lastError, t).reason : 'no answer';
  const after = refused ? '' : ` after ${Math.round(timeoutMs / 1000)} s`;
  throw new UserError(`cannot reach Redis at ${redisDisplayUrl(t.url)} (${reason})${after}: check REDIS_URL`);
}

/** A connection for workers: reconnects forever with capped exponential backoff (BullMQ needs maxRetriesPerRequest: null). */
export function createWorkerRedis(target: Target, maxBackoffMs = 5000): Redis {
  const t = targetOf(target);
  return new Redis(t.url, {
    ...redisOptions(t),
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(250 * 2 ** Math.min(times, 10), maxBackoffMs),
  });
}
