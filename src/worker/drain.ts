import type { Worker } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import { closeWithin } from '../shared/deadline.js';
import { closeWorkers, describeHeld, HeldJobs } from './shutdown.js';

export interface DrainOptions {
  logger: Logger;
  /** How long running jobs may take to finish after the first signal. */
  timeoutMs: number;
  /** Redis is reachable now: without it nothing could be recorded, so there is nothing to wait for. */
  redisConnected(): boolean;
  /** Where Redis is (no password), for the line saying it was lost. */
  redis?: string;
  /** Called at the first signal, before waiting (readiness goes false). */
  onDrain?(): void;
  /** Closes what the workers do not own (the HTTP endpoint, the shared inference, the heartbeat); awaited, within CLOSE_OTHERS_MS, before exit. */
  closeOthers?(): Promise<void>;
  /** Ends the process; `why` is the one line saying what was abandoned (printed by the caller), absent on a clean drain. */
  exit(code: number, why?: string): void;
}

/** How long the forced close of the workers and the close of everything else may each take. */
export const FORCE_CLOSE_MS = 2000;

/** Redis unreachable this long during a drain ends it: the jobs in progress could not be recorded. */
export const REDIS_LOST_MS = 3000;

/**
 * Graceful drain on SIGTERM/SIGINT: the workers stop taking jobs and finish the ones they hold, then the
 * process exits 0. The drain timeout, Redis lost for REDIS_LOST_MS, or a second signal ends it: the jobs
 * still held are named (job, run) and left to BullMQ's stalled-job recovery (another worker re-runs them
 * once their lock expires; `cxr score --resume` otherwise), and the process exits 1. Every step has a
 * deadline, so the process always ends. Workers can be set after the handler is installed: a signal that
 * comes before (during the model check) exits 0 at once.
 */
export class Drain {
  private workers: readonly Worker[] = [];
  private stopping = false;
  readonly held = new HeldJobs();

  constructor(private readonly opts: DrainOptions) {}

  install(): this {
    process.on('SIGTERM', () => void this.stop('SIGTERM'));
    process.on('SIGINT', () => void this.stop('SIGINT'));
    return this;
  }

  setWorkers(workers: readonly Worker[]): void {
    this.workers = workers;
    this.held.watch(workers);
  }

  async stop(signal: string): Promise<void> {
    const { logger } = this.opts;
    if (this.stopping) {
      const held = this.held.list();
      logger.warn({ signal, held: held.length }, 'second signal: exiting now');
      return this.opts.exit(1, this.abandonedLine(held, `${signal} again`));
    }
    this.stopping = true;
    this.opts.onDrain?.();
    const graceful = this.opts.redisConnected();
    logger.info(
      { signal, graceful, held: this.held.size, timeoutS: this.opts.timeoutMs / 1000 },
      graceful ? 'draining: finishing jobs in progress, taking no new ones' : 'closing workers now (Redis unreachable)',
    );
    const result = await closeWorkers(this.workers, this.held, {
      graceMs: graceful ? this.opts.timeoutMs : 0,
      forceMs: FORCE_CLOSE_MS,
      redisConnected: () => this.opts.redisConnected(),
      lostMs: REDIS_LOST_MS,
      killSandboxes: true,
    });
    const othersClosed = await closeWithin(FORCE_CLOSE_MS, () => this.opts.closeOthers?.());
    if (!result.closed || !othersClosed)
      logger.warn(
        { workers: result.closed, others: othersClosed },
        'some connections did not close in time; exiting anyway',
      );
    if (result.abandoned.length) {
      const why =
        result.why === 'redis-lost'
          ? `lost Redis${this.opts.redis ? ` at ${this.opts.redis}` : ''} while draining`
          : `drain timeout (${this.opts.timeoutMs / 1000} s)`;
      logger.warn(
        { held: result.abandoned, timeoutS: this.opts.timeoutMs / 1000 },
        `${result.why === 'redis-lost' ? 'lost Redis while draining' : 'drain timeout'}: exiting; jobs still held are left to stalled-job recovery`,
      );
      return this.opts.exit(1, this.abandonedLine(result.abandoned, why));
    }
    logger.info('drained; exiting');
    this.opts.exit(0);
  }

  /** One line: why the drain ended, the jobs it abandoned (job, run), and what becomes of them. */
  private abandonedLine(held: ReturnType<HeldJobs['list']>, why: string): string {
    if (!held.length) return `${why}: no job was in progress`;
    const runs = [...new Set(held.map((j) => j.runId).filter(Boolean))];
    const resume = runs.length ? `; else cxr score --resume ${runs.join(' / ')}` : '';
    return `${why}: abandoned ${describeHeld(held)}; another worker runs ${held.length === 1 ? 'it' : 'them'} again once the lock expires${resume}`;
  }
}
