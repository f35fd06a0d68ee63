import type { Job, Worker } from 'bullmq';
import { within } from '../shared/deadline.js';

/** A job a worker holds (taken, not yet completed or failed): what a shutdown abandons if it cannot finish it. */
export interface HeldJob {
  jobId: string;
  /** The job's name on its queue: batch, settle, finalize, ... */
  name: string;
  runId?: string;
  batch?: number;
}

function heldJob(job: Job): HeldJob {
  const data = (job.data ?? {}) as { runId?: unknown; batch?: unknown };
  return {
    jobId: String(job.id),
    name: job.name,
    ...(typeof data.runId === 'string' ? { runId: data.runId } : {}),
    ...(typeof data.batch === 'number' ? { batch: data.batch } : {}),
  };
}

/** The jobs a process's workers hold now, from their events; read by the drain (what it would abandon) and the heartbeat (idle or scoring). */
export class HeldJobs {
  private readonly jobs = new Map<string, HeldJob>();

  watch(workers: readonly Worker[]): this {
    for (const w of workers) {
      w.on('active', (job) => void this.jobs.set(String(job.id), heldJob(job)));
      w.on('completed', (job) => void this.jobs.delete(String(job.id)));
      w.on('failed', (job) => void (job && this.jobs.delete(String(job.id))));
    }
    return this;
  }

  get size(): number {
    return this.jobs.size;
  }

  list(): HeldJob[] {
    return [...this.jobs.values()];
  }
}

/** "batch 3 of run r1, finalize of run r2": which jobs, of which runs. Pure. */
export function describeHeld(jobs: readonly HeldJob[]): string {
  return jobs
    .map((j) =>
      j.runId === undefined
        ? `job ${j.jobId}`
        : `${j.name === 'batch' && j.batch !== undefined ? `batch ${j.batch}` : j.name} of run ${j.runId}`,
    )
    .join(', ');
}

export interface CloseWorkersOptions {
  /** How long jobs in progress may take to finish (0: close at once, abandoning them). */
  graceMs: number;
  /** How long the forced close (after the grace) may take before the workers are left as they are. */
  forceMs?: number;
  /** Whether Redis is reachable now: when it stays unreachable for `lostMs`, the grace ends early (nothing could be recorded). */
  redisConnected?: () => boolean;
  lostMs?: number;
}

export interface ClosedWorkers {
  /** Every worker closed (its connections too) within the deadlines. */
  closed: boolean;
  /** Jobs still held when the grace ended: left to BullMQ's stalled-job recovery (or `cxr score --resume`). */
  abandoned: HeldJob[];
  /** Why the grace ended early, if it did. */
  why?: 'redis-lost' | 'grace-ended';
}

/**
 * Closes workers with deadlines: first they stop taking jobs and finish the ones in progress (BullMQ's pause)
 * for at most graceMs, ended early once Redis has been unreachable for lostMs; then they close, forced (not
 * waiting for jobs: BullMQ's close(true)) when the grace ran out, for at most forceMs. A graceful close()
 * cannot be forced later (BullMQ returns the close in progress), hence pause first. What was still held is
 * returned, not waited for: its lock expires and another worker runs it again.
 */
export async function closeWorkers(
  workers: readonly Worker[],
  held: HeldJobs,
  opts: CloseWorkersOptions,
): Promise<ClosedWorkers> {
  const { graceMs, forceMs = 3000, redisConnected, lostMs = 3000 } = opts;
  const stop = new AbortController();
  let lost = false;
  let downSince: number | undefined;
  const poll = redisConnected
    ? setInterval(() => {
        if (redisConnected()) return void (downSince = undefined);
        downSince ??= Date.now();
        if (Date.now() - downSince < lostMs) return;
        lost = true;
        stop.abort();
      }, 250).unref()
    : undefined;
  const first =
    graceMs > 0 ? await within(Promise.all(workers.map((w) => w.pause())), graceMs, stop.signal) : undefined;
  clearInterval(poll);
  const finished = first?.kind === 'done';
  const abandoned = finished ? [] : held.list();
  // Even a forced close talks to Redis (it releases locks, closes connections): with Redis gone it may never return.
  const closed = await within(Promise.all(workers.map((w) => w.close(!finished))), forceMs);
  return {
    closed: closed.kind !== 'timed-out',
    abandoned,
    ...(finished ? {} : { why: lost ? 'redis-lost' : 'grace-ended' }),
  } as ClosedWorkers;
}
