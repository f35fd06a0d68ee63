import cliProgress from 'cli-progress';
import type { Queue } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import { UserError } from '../shared/errors.js';
import { scheduleFinalize } from '../shared/run/finalize-job.js';
import { isEnded } from '../shared/run/state.js';
import { judgeEnded, judgeRunning, type MaxFailures, type StallLimits, type WaitVerdict } from '../shared/run/outcome.js';
import type { RunState, RunStore } from '../shared/run/run-store.js';

export interface WaitDeps {
  store: RunStore;
  queue: Queue;
  logger: Logger;
}

export interface WaitOptions {
  maxFailures: MaxFailures;
  limits: StallLimits;
  intervalMs?: number;
  stream?: NodeJS.WriteStream;
}

/** Live workers on the queue, or undefined when Redis does not allow CLIENT LIST. */
async function workersAlive(queue: Queue): Promise<number | undefined> {
  try {
    return await queue.getWorkersCount();
  } catch {
    return undefined;
  }
}

/**
 * Draws a progress bar until the run ends or is stuck, and says how: the verdict (exit code and line) and
 * the last state seen. When the run vanishes from Redis (Redis lost its data) it asks the workers to
 * rebuild it from S3, once.
 */
export async function waitForRun(deps: WaitDeps, runId: string, opts: WaitOptions): Promise<{ verdict: WaitVerdict; state: RunState }> {
  const stream = opts.stream ?? process.stderr;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: ' {bar} {percentage}% | {done}/{total} images ({failed} failed) | {rate} img/s | ETA {eta_formatted} | {status}',
      noTTYOutput: true,
      notTTYSchedule: 5000,
      etaBuffer: 20,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let state = await deps.store.get(runId);
  if (!state) throw new UserError(`run ${runId} is unknown to Redis`);
  const started = Date.now();
  const startDone = state.scored + state.failed;
  bar.start(state.totalKeys, startDone, { done: startDone, failed: state.failed, rate: '0.0', status: state.status });
  let progressKey = '';
  let lastProgress = started;
  let lastWorker = started;
  let missingSince: number | undefined;
  try {
    for (;;) {
      const now = Date.now();
      const seen = await deps.store.get(runId);
      if (seen) {
        state = seen;
        missingSince = undefined;
      } else if (missingSince === undefined) {
        missingSince = now;
        deps.logger.warn({ runId }, 'the run is gone from Redis (Redis lost its data?); asking the workers to rebuild it from S3');
        await scheduleFinalize(deps.queue, runId, state.out, state.generation, 'recover');
      }
      const done = state.scored + state.failed;
      bar.update(done, { done, failed: state.failed, rate: ((done - startDone) / Math.max(1e-3, (now - started) / 1000)).toFixed(1), status: seen ? state.status : 'missing from Redis' });
      if (seen && isEnded(state.status)) return { verdict: judgeEnded(state, opts.maxFailures), state };
      const key = `${state.generation}/${state.doneBatches}/${done}`;
      if (key !== progressKey) [progressKey, lastProgress] = [key, now];
      const workers = await workersAlive(deps.queue);
      if (workers === undefined || workers > 0) lastWorker = now;
      const stuck = judgeRunning({ sinceProgressMs: now - lastProgress, sinceWorkerMs: now - lastWorker, missingMs: missingSince === undefined ? 0 : now - missingSince }, opts.limits);
      if (stuck) return { verdict: stuck, state };
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
    }
  } finally {
    bar.stop();
  }
}
