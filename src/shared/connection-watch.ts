import type { EventEmitter } from 'node:events';
import type { Logger } from './logger.js';
import { redisDisplayUrl, redisFailure, type RedisTarget } from './redis-connection.js';

/**
 * Logs a process's Redis connections going down and coming back, one line per change of the state of all
 * of them together, instead of an error per reconnect attempt.
 */
export class ConnectionWatch {
  private readonly ready = new Map<EventEmitter, boolean>();
  private readonly listeners = new Map<EventEmitter, [event: string, fn: (err?: Error) => void][]>();
  private up: boolean | undefined;

  private readonly target: RedisTarget;

  /** `onFatal` hears the one line of a failure waiting cannot fix (password, certificate) met before the first connection. */
  constructor(
    private readonly logger: Logger,
    target: string | RedisTarget,
    private readonly onFatal?: (line: string) => void,
  ) {
    this.target = typeof target === 'string' ? { url: target } : target;
  }

  /** Every client is connected (false before the first connection). */
  get connected(): boolean {
    return this.up === true;
  }

  attach(client: EventEmitter): this {
    this.ready.set(client, false);
    const on: [string, (err?: Error) => void][] = [
      ['ready', () => this.set(client, true)],
      ['error', (err?: Error) => this.set(client, false, err)],
      ['close', () => this.set(client, false)],
    ];
    for (const [event, fn] of on) client.on(event, fn);
    this.listeners.set(client, on);
    return this;
  }

  /** Stops watching a client its owner is about to close, so closing it on purpose is not logged as an outage. */
  detach(client: EventEmitter): void {
    for (const [event, fn] of this.listeners.get(client) ?? []) client.off(event, fn);
    this.listeners.delete(client);
    this.ready.delete(client);
  }

  private set(client: EventEmitter, ready: boolean, err?: Error): void {
    this.ready.set(client, ready);
    const failure = err && redisFailure(err, this.target);
    if (failure?.fatal && this.up === undefined && this.onFatal) return this.onFatal(failure.line);
    const up = [...this.ready.values()].every(Boolean);
    if (up === this.up || (!up && this.up === undefined && !err)) return;
    const first = this.up === undefined;
    this.up = up;
    const where = redisDisplayUrl(this.target.url);
    if (up) this.logger.info({ redis: where }, first ? 'connected to Redis' : 'Redis connection restored');
    else
      this.logger.warn(
        { redis: where, reason: failure ? failure.reason : 'connection closed' },
        `cannot reach Redis at ${where}; reconnecting with backoff`,
      );
  }
}
