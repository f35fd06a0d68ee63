import os from 'node:os';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { closeWithin } from '../shared/deadline.js';

/** What a worker process is doing: starting (connecting), loading the model, idle (no job held) or scoring. */
export type WorkerPhase = 'starting' | 'loading' | 'idle' | 'scoring';

/** One worker process's heartbeat, as stored. */
export interface Heartbeat {
  host: string;
  pid: number;
  phase: WorkerPhase;
  /** When it entered this phase (ms since the epoch). */
  since: number;
  /** Sandboxed processes that died under a job in the last CRASH_WINDOW_MS. */
  crashes: number;
  /** When this beat was written (ms since the epoch). */
  at: number;
}

/** One write every HEARTBEAT_MS per worker process; a beat expires after HEARTBEAT_TTL_S (three missed beats). */
export const HEARTBEAT_MS = 5000;
export const HEARTBEAT_TTL_S = 15;
export const CRASH_WINDOW_MS = 120_000;

/**
 * Key layout, beside the run's keys (PREFIX:run:ID) under the queue prefix:
 *   PREFIX:workers           sorted set: HOST:PID scored by its last beat (ms); members older than a minute are trimmed
 *   PREFIX:worker:HOST:PID   the beat as JSON (Heartbeat), expiring after HEARTBEAT_TTL_S
 * A reader takes the members beaten in the last HEARTBEAT_TTL_S and MGETs their beats: two commands, however
 * large the keyspace (no SCAN).
 */
export const heartbeatKeys = (prefix: string) => ({
  index: `${prefix}:workers`,
  beat: (id: string) => `${prefix}:worker:${id}`,
});

/** A crashed sandbox fails its job with BullMQ's "Unexpected exit code: N signal: S". */
const SANDBOX_CRASH = /^Unexpected exit code/;

/**
 * Writes this process's heartbeat on its own connection (which it owns and closes). A write still pending
 * (Redis down) is not stacked on: the next beat waits for it. Idle or scoring is read from `held` at each beat.
 */
export class HeartbeatWriter {
  private readonly id = `${os.hostname()}:${process.pid}`;
  private readonly keys: ReturnType<typeof heartbeatKeys>;
  private phase: WorkerPhase = 'starting';
  private since = Date.now();
  private crashTimes: number[] = [];
  private timer?: NodeJS.Timeout;
  private pending = false;
  private running = false;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly held: () => number = () => 0,
  ) {
    this.keys = heartbeatKeys(prefix);
  }

  /** Starting or loading; after that (`running`), idle or scoring follows the jobs held. */
  setPhase(phase: 'starting' | 'loading' | 'running'): void {
    this.running = phase === 'running';
    this.move(this.running ? this.current() : (phase as WorkerPhase));
    this.beat();
  }

  /** Counts the workers' jobs that failed because their sandboxed process died. */
  watch(workers: readonly Worker[]): this {
    for (const w of workers)
      w.on('failed', (_job, err) => {
        if (SANDBOX_CRASH.test(err.message)) this.crashTimes.push(Date.now());
      });
    return this;
  }

  start(): this {
    this.beat();
    this.timer = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.timer.unref();
    return this;
  }

  /** Stops beating, removes the beat (within a deadline: Redis may be gone) and closes the connection. */
  async stop(deadlineMs = 1000): Promise<void> {
    clearInterval(this.timer);
    this.stopped = true;
    await closeWithin(deadlineMs, () =>
      this.redis.multi().del(this.keys.beat(this.id)).zrem(this.keys.index, this.id).exec(),
    );
    this.redis.disconnect();
  }

  private current(): WorkerPhase {
    if (!this.running) return this.phase;
    return this.held() > 0 ? 'scoring' : 'idle';
  }

  private move(phase: WorkerPhase): void {
    if (phase !== this.phase) [this.phase, this.since] = [phase, Date.now()];
  }

  private beat(): void {
    if (this.pending || !this.timer || this.stopped) return;
    const now = Date.now();
    this.move(this.current());
    this.crashTimes = this.crashTimes.filter((t) => now - t < CRASH_WINDOW_MS);
    const beat: Heartbeat = {
      host: os.hostname(),
      pid: process.pid,
      phase: this.phase,
      since: this.since,
      crashes: this.crashTimes.length,
      at: now,
    };
    this.pending = true;
    this.redis
      .multi()
      .set(this.keys.beat(this.id), JSON.stringify(beat), 'EX', HEARTBEAT_TTL_S)
      .zadd(this.keys.index, now, this.id)
      .zremrangebyscore(this.keys.index, '-inf', now - 60_000)
      .exec()
      .catch(() => undefined) // an outage is the ConnectionWatch's to report
      .finally(() => (this.pending = false));
  }
}

/** The live heartbeats under a prefix (beaten in the last HEARTBEAT_TTL_S). */
export async function readHeartbeats(redis: Redis, prefix: string, now = Date.now()): Promise<Heartbeat[]> {
  const keys = heartbeatKeys(prefix);
  const ids = await redis.zrangebyscore(keys.index, now - HEARTBEAT_TTL_S * 1000, '+inf');
  if (!ids.length) return [];
  const beats = await redis.mget(ids.map((id) => keys.beat(id)));
  return beats.filter((b): b is string => b !== null).map((b) => JSON.parse(b) as Heartbeat);
}
