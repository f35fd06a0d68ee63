import type { Worker } from 'bullmq';
import type { Logger } from '../shared/logger.js';

export interface DrainOptions {
  logger: Logger;
  /** How long running jobs may take to finish after the first signal. */
  timeoutMs: number;
  /** Redis is reachable now: without it nothing could be recorded, so there is nothing to wait for. */
  redisConnected(): boolean;
  /** Called at the first signal, before waiting (readiness goes false). */
  onDrain?(): void;
  /** Closes what the workers do not own (the HTTP endpoint); awaited before exit. */
  closeOthers?(): Promise<void>;
  exit(code: number): void;
}

/**
 * Graceful drain on SIGTERM/SIGINT: the workers stop taking jobs and finish the ones they hold, then the
 * process exits 0. The drain timeout or a second signal exits 1 at once; jobs still held are left to
 * BullMQ's stalled-job recovery (another worker re-runs them once their lock expires). Workers can be set
 * after the handler is installed: a signal that comes before (during the model check) exits 0 at once.
 */
export class Drain {
  private workers: readonly Worker[] = [];
  private stopping = false;
  private readonly held = new Set<unknown>();

  constructor(private readonly opts: DrainOptions) {}

  install(): this {
    process.on('SIGTERM', () => void this.stop('SIGTERM'));
    process.on('SIGINT', () => void this.stop('SIGINT'));
    return this;
  }

  setWorkers(workers: readonly Worker[]): void {
    this.workers = workers;
    for (const w of workers) {
      w.on('active', (job) => this.held.add(job.id));
      w.on('completed', (job) => this.held.delete(job.id));
      w.on('failed', (job) => job && this.held.delete(job.id));
    }
  }

  async stop(signal: string): Promise<void> {
    const { logger } = this.opts;
    if (this.stopping) {
      logger.warn({ signal }, 'second signal: exiting now; jobs still held are left to stalled-job recovery');
      return this.opts.exit(1);
    }
    this.stopping = true;
    this.opts.onDrain?.();
    const graceful = this.opts.redisConnected();
    const held = this.held.size;
    logger.info(
      { signal, graceful, held, timeoutS: this.opts.timeoutMs / 1000 },
      graceful ? 'draining: finishing jobs in progress, taking no new ones' : 'closing workers now (Redis unreachable)',
    );
    const closed = Promise.all(this.workers.map((w) => w.close(!graceful))).then(() => true);
    const limit = graceful ? this.opts.timeoutMs : 2000;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([closed, new Promise<false>((r) => (timer = setTimeout(() => r(false), limit)))]);
    clearTimeout(timer);
    await this.opts.closeOthers?.().catch(() => undefined);
    if (!done && graceful) {
      logger.warn(
        { timeoutS: limit / 1000, held: this.held.size },
        'drain timeout: exiting; jobs still held are left to stalled-job recovery',
      );
      return this.opts.exit(1);
    }
    logger.info('drained; exiting');
    this.opts.exit(0);
  }
}
