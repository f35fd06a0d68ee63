import cliProgress from 'cli-progress';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { UserError } from '../shared/errors.js';
import {
  scheduleFinalize,
  isEnded,
  judgeEnded,
  judgeRunning,
  type MaxFailures,
  type StallLimits,
  type WaitVerdict,
  type RunState,
  type RunStore,
} from '../run/index.js';
import { isConnectionError, redisDisplayUrl, redisHostPort } from '../shared/redis-connection.js';
import { CRASH_WINDOW_MS, HEARTBEAT_MS, readHeartbeats, type Heartbeat } from '../worker/heartbeat.js';

export interface WaitDeps {
  store: RunStore;
  queue: Queue;
  logger: Logger;
  config: { redisUrl: string; queuePrefix: string };
  /** For the workers' heartbeats (what they are doing when nothing moves); without it the bar only counts workers. */
  redis?: Redis;
  /** Holds log lines while the bar is drawn on a terminal; the returned function prints them. */
  holdLogs?: () => () => void;
}

/** How long `--wait` waits for an ended run's finalize (its metrics.json) before reporting without it. */
const FINALIZE_GRACE_MS = 30_000;

/** After this long with no worker (or nothing taken), the bar says what to check. */
export const NO_WORKER_HINT_MS = 30_000;

const secs = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s < 120
    ? `${s}s`
    : s < 7200
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
};

export interface BarInput {
  done: number;
  /** Images done when watching began (a resumed run starts part-way). */
  startDone: number;
  total: number;
  elapsedMs: number;
  sinceWorkerMs: number;
  sinceProgressMs: number;
  status: string;
  redis: string;
  /** Set by a command whose own worker is loading the model: said instead of the stall hint until `untilMs` has passed. */
  loading?: LoadingNote;
  /** What the workers' heartbeats say (fleetNote), when read: said instead of asking whether a worker runs. */
  fleet?: string;
}

const workersWord = (n: number) => `${n} worker${n === 1 ? '' : 's'}`;

/**
 * What the live workers' heartbeats say about a run that does not move: "no worker alive", "batches crash
 * their process", "2 workers loading the model (1m10s)", ... Undefined when there is nothing to add. Pure.
 */
export function fleetNote(beats: readonly Heartbeat[], now: number): string | undefined {
  if (!beats.length) return 'no worker alive (no heartbeat under this queue prefix)';
  const oldest = (of: readonly Heartbeat[]) => secs(now - Math.min(...of.map((b) => b.since)));
  const crashes = beats.reduce((n, b) => n + b.crashes, 0);
  const scoring = beats.filter((b) => b.phase === 'scoring');
  if (crashes > 0)
    return `batches crash their process (${crashes} in the last ${secs(CRASH_WINDOW_MS)}): see failures (cxr status)`;
  const loading = beats.filter((b) => b.phase === 'loading');
  if (loading.length && !scoring.length) return `${workersWord(loading.length)} loading the model (${oldest(loading)})`;
  const starting = beats.filter((b) => b.phase === 'starting');
  if (starting.length && !scoring.length) return `${workersWord(starting.length)} starting (${oldest(starting)})`;
  if (scoring.length) return `${workersWord(scoring.length)} scoring (for ${oldest(scoring)}), no batch finished yet`;
  return undefined;
}

export interface LoadingNote {
  /** e.g. "loading the model (first time: about 105 s)" */
  note: string;
  /** After this long with nothing done, the stall hint comes back: the load is taking far longer than expected. */
  untilMs: number;
}

/** The bar's rate, time left (`left`: cli-progress reserves `eta`) and status: a hint when no worker is there or none has taken a job. Pure. */
export function barFields(p: BarInput): { rate: string; left: string; status: string } {
  const rate = (p.done - p.startDone) / Math.max(1e-3, p.elapsedMs / 1000);
  const todo = p.total - p.done;
  const left = todo <= 0 ? `took ${secs(p.elapsedMs)}` : rate > 0 ? `ETA ${secs((todo / rate) * 1000)}` : 'ETA --';
  const ask = `is a 'cxr worker' running against ${p.redis}?`;
  let status = p.status;
  const loading = p.loading && p.done === p.startDone && p.elapsedMs < p.loading.untilMs;
  if (loading && p.sinceWorkerMs < NO_WORKER_HINT_MS) status = p.loading!.note;
  else if (p.fleet && (p.sinceWorkerMs >= NO_WORKER_HINT_MS || p.sinceProgressMs >= NO_WORKER_HINT_MS))
    status = p.fleet;
  else if (p.sinceWorkerMs >= NO_WORKER_HINT_MS)
    status = `no worker on the score queue for ${secs(p.sinceWorkerMs)}: ${ask}`;
  else if (p.done === p.startDone && p.sinceProgressMs >= NO_WORKER_HINT_MS)
    status = `no worker has taken a job for ${secs(p.sinceProgressMs)}: ${ask}`;
  return { rate: rate.toFixed(1), left, status };
}

export interface WaitOptions {
  maxFailures: MaxFailures;
  limits: StallLimits;
  intervalMs?: number;
  stream?: NodeJS.WriteStream;
  /** The command started the worker itself: while nothing is done, the bar says the model is loading. */
  loading?: LoadingNote;
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
 * rebuild it from S3, once. When this command loses Redis itself (its connection gave up after its outage
 * allowance, CXR_REDIS_OUTAGE_MS), the verdict says so: the run goes on in the workers.
 */
export async function waitForRun(
  deps: WaitDeps,
  runId: string,
  opts: WaitOptions,
): Promise<{ verdict: WaitVerdict; state: RunState }> {
  let last: RunState | undefined;
  try {
    return await watchRun(deps, runId, opts, (s) => (last = s));
  } catch (err) {
    if (!last || !isConnectionError(err)) throw err;
    return { verdict: { kind: 'redis-lost', redis: redisHostPort(deps.config.redisUrl) }, state: last };
  }
}

async function watchRun(
  deps: WaitDeps,
  runId: string,
  opts: WaitOptions,
  saw: (state: RunState) => void,
): Promise<{ verdict: WaitVerdict; state: RunState }> {
  const stream = opts.stream ?? process.stderr;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: ' {bar} {percentage}% | {done}/{total} images ({failed} failed) | {rate} img/s | {left} | {status}',
      noTTYOutput: true,
      notTTYSchedule: 5000,
      etaBuffer: 20,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let state = await deps.store.get(runId);
  if (!state) throw new UserError(`run ${runId} is unknown to Redis`);
  saw(state);
  const started = Date.now();
  const startDone = state.scored + state.failed;
  const redis = redisDisplayUrl(deps.config.redisUrl);
  const release = stream.isTTY && deps.holdLogs ? deps.holdLogs() : undefined;
  bar.start(state.totalKeys, startDone, {
    done: startDone,
    failed: state.failed,
    rate: '0.0',
    left: 'ETA --',
    status: state.status,
  });
  let progressKey = '';
  let lastProgress = started;
  let lastWorker = started;
  let missingSince: number | undefined;
  let endedAt: number | undefined;
  let fleet: string | undefined;
  let fleetAt = 0;
  try {
    for (;;) {
      const now = Date.now();
      const seen = await deps.store.get(runId);
      if (seen) {
        state = seen;
        saw(state);
        missingSince = undefined;
      } else if (missingSince === undefined) {
        missingSince = now;
        deps.logger.warn(
          { runId },
          'the run is gone from Redis (Redis lost its data?); asking the workers to rebuild it from S3',
        );
        await scheduleFinalize(deps.queue, runId, state.out, state.generation, 'recover');
      }
      const done = state.scored + state.failed;
      const key = `${state.generation}/${state.doneBatches}/${done}`;
      if (key !== progressKey) [progressKey, lastProgress] = [key, now];
      const workers = await workersAlive(deps.queue);
      if (workers === undefined || workers > 0) lastWorker = now;
      // Heartbeats are read only while the bar would ask after the workers, every few seconds.
      const quiet = now - lastWorker >= NO_WORKER_HINT_MS || now - lastProgress >= NO_WORKER_HINT_MS;
      if (deps.redis && quiet && now - fleetAt >= HEARTBEAT_MS) {
        fleetAt = now;
        const beats = await readHeartbeats(deps.redis, deps.config.queuePrefix, now);
        // Workers counted on the queue but no beat: workers of a version without heartbeats; the count says enough.
        fleet = beats.length || lastWorker !== now ? fleetNote(beats, now) : undefined;
      } else if (!quiet) fleet = undefined;
      const fields = barFields({
        done,
        startDone,
        total: state.totalKeys,
        elapsedMs: now - started,
        sinceWorkerMs: now - lastWorker,
        sinceProgressMs: now - lastProgress,
        status: seen ? state.status : 'missing from Redis',
        redis,
        loading: opts.loading,
        fleet,
      });
      bar.update(done, { done, failed: state.failed, ...fields });
      // A failed run is marked at once and finalized after (metrics.json): wait for that, within a grace period.
      if (seen && isEnded(state.status)) {
        endedAt ??= now;
        if (state.finishedAt || now - endedAt >= FINALIZE_GRACE_MS)
          return { verdict: judgeEnded(state, opts.maxFailures), state };
      }
      const stuck = judgeRunning(
        {
          sinceProgressMs: now - lastProgress,
          sinceWorkerMs: now - lastWorker,
          missingMs: missingSince === undefined ? 0 : now - missingSince,
        },
        opts.limits,
      );
      // The workers' own account goes into the verdict: loading for ten minutes or crashing is not "no progress".
      if (stuck && stuck.kind === 'stuck' && stuck.why === 'no-progress' && deps.redis)
        stuck.fleet = fleetNote(await readHeartbeats(deps.redis, deps.config.queuePrefix, now), now);
      if (stuck) return { verdict: stuck, state };
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
    }
  } finally {
    bar.stop();
    release?.();
  }
}
