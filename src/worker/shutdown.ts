import { readdirSync, readFileSync } from 'node:fs';
import type { Job, Worker } from 'bullmq';
import { downFor, within } from '../shared/deadline.js';

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
  /** Once the grace has ended with Redis unreachable, SIGKILL this process's BullMQ sandboxes (their jobs are abandoned). */
  killSandboxes?: boolean;
}

/** The connection startWorkers made for each worker; cut when even the forced close missed its deadline. */
const connections = new WeakMap<Worker, { disconnect(): void }>();

export function ownConnection(worker: Worker, connection: { disconnect(): void }): void {
  connections.set(worker, connection);
}

/**
 * BullMQ's sandbox entry (bullmq/dist/{esm,cjs}/classes/main.js): each sandbox is a fork of it, which then loads
 * our processor file (sandbox.js, train-sandbox.js) over IPC, so the processor file is not on its command line.
 */
const SANDBOX_MAIN = /[\\/]bullmq[\\/]dist[\\/](esm|cjs)[\\/]classes[\\/]main\.js$/;

/**
 * This process's BullMQ sandboxes (Linux /proc; elsewhere none). A sandbox answers SIGTERM by finishing its job
 * first, which with Redis gone never happens, and BullMQ waits 30 s before SIGKILL. Other children (the demo's
 * redis-server and S3 server) do not match.
 */
export function sandboxChildren(): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return pids;
  }
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
      if (
        readFileSync(`/proc/${pid}/cmdline`, 'utf8')
          .split('\0')
          .some((arg) => SANDBOX_MAIN.test(arg))
      )
        pids.push(Number(pid));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
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
  const lost = redisConnected ? downFor(redisConnected, lostMs) : undefined;
  const first =
    graceMs > 0 ? await within(Promise.all(workers.map((w) => w.pause())), graceMs, lost?.signal) : undefined;
  lost?.stop();
  const finished = first?.kind === 'done';
  const abandoned = finished ? [] : held.list();
  // Only with Redis gone: then nothing could record the job, and a sandbox told to stop waits for its job first.
  // With Redis up a killed sandbox would fail its job as a crash of its process (isolation would split the
  // batch); left alone, it exits once this process is gone (sandbox-entry.ts) and the job stalls and runs again.
  // No grace at all is the caller's word that Redis is already gone (the drain and the bench decide it so).
  const redisDown =
    graceMs === 0 || lost?.signal.aborted === true || (redisConnected !== undefined && !redisConnected());
  if (!finished && opts.killSandboxes && redisDown)
    for (const pid of sandboxChildren())
      try {
        process.kill(pid, 'SIGKILL'); // its job is abandoned: another worker runs it again once the lock expires
      } catch {
        /* already gone */
      }
  // Even a forced close talks to Redis (it releases locks, closes connections): with Redis gone it may never return.
  const closed = await within(Promise.all(workers.map((w) => w.close(!finished))), forceMs);
  if (closed.kind === 'timed-out')
    for (const w of workers) {
      void w.disconnect().catch(() => undefined); // its own (blocking) connection
      connections.get(w)?.disconnect(); // and the one it was given, whose reconnect timer would keep the process alive
    }
  return {
    closed: closed.kind !== 'timed-out',
    abandoned,
    ...(finished ? {} : { why: lost?.signal.aborted ? 'redis-lost' : 'grace-ended' }),
  } as ClosedWorkers;
}
