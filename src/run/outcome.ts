import type { RunStatus } from './state.js';

/** How `score --wait` ends: its exit code and one line. */
export type WaitVerdict =
  | { kind: 'ok'; status: RunStatus; failed: number }
  | { kind: 'too-many-failures'; failed: number; allowed: number; total: number }
  | { kind: 'failed'; reason: string }
  /** `fleet`: what the workers' heartbeats said at the end ("2 workers loading the model (9m50s)"), when read. */
  | { kind: 'stuck'; why: 'no-progress' | 'no-worker' | 'no-run'; seconds: number; fleet?: string }
  /** The waiting command lost Redis (HOST:PORT): the run itself goes on in the workers. */
  | { kind: 'redis-lost'; redis: string };

/** Distinct from the CLI's own codes (1 a failure at run time, 2 bad usage), so a script can tell them apart. */
export const EXIT_CODES: Record<WaitVerdict['kind'], number> = {
  ok: 0,
  failed: 3,
  stuck: 4,
  'too-many-failures': 5,
  'redis-lost': 6,
};

/** `--max-failures N` (keys) or `P%` (of the run's keys). */
export type MaxFailures = { count: number } | { percent: number };

export function parseMaxFailures(text: string): MaxFailures {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(text);
  if (m && m[2] === '%' && Number(m[1]) <= 100) return { percent: Number(m[1]) };
  if (m && !m[2] && Number.isInteger(Number(m[1]))) return { count: Number(m[1]) };
  throw new Error(
    `--max-failures must be a whole number of keys or a percentage up to 100%, got ${JSON.stringify(text)}`,
  );
}

export function allowedFailures(max: MaxFailures, totalKeys: number): number {
  return 'count' in max ? max.count : Math.floor((totalKeys * max.percent) / 100 + 1e-9);
}

/** The verdict on a run that has ended. Pure. */
export function judgeEnded(
  run: { status: RunStatus; failed: number; totalKeys: number; reason?: string },
  max: MaxFailures,
): WaitVerdict {
  if (run.status === 'failed') return { kind: 'failed', reason: run.reason ?? 'no reason recorded' };
  const allowed = allowedFailures(max, run.totalKeys);
  if (run.failed > allowed) return { kind: 'too-many-failures', failed: run.failed, allowed, total: run.totalKeys };
  return { kind: 'ok', status: run.status, failed: run.failed };
}

export interface Watch {
  /** Milliseconds since the run last made progress (or since watching began). */
  sinceProgressMs: number;
  /** Milliseconds since a live worker was last seen on the queue (0 when one is alive now). */
  sinceWorkerMs: number;
  /** Milliseconds the run has been missing from Redis (0 when present). */
  missingMs: number;
}

export interface StallLimits {
  /** No batch progressed for this long: stuck. */
  stallTimeoutMs: number;
  /** No worker alive on the queue for this long: stuck (a minute, or the stall timeout when shorter). */
  noWorkerTimeoutMs: number;
}

export function stallLimits(stallTimeoutMs: number): StallLimits {
  return { stallTimeoutMs, noWorkerTimeoutMs: Math.min(stallTimeoutMs, 60_000) };
}

/** Stuck, or undefined while a running run may still move. No worker is checked first: it is the more specific cause. Pure. */
export function judgeRunning(w: Watch, limits: StallLimits): WaitVerdict | undefined {
  if (w.missingMs >= limits.stallTimeoutMs) return { kind: 'stuck', why: 'no-run', seconds: w.missingMs / 1000 };
  if (w.sinceWorkerMs >= limits.noWorkerTimeoutMs)
    return { kind: 'stuck', why: 'no-worker', seconds: w.sinceWorkerMs / 1000 };
  if (w.sinceProgressMs >= limits.stallTimeoutMs)
    return { kind: 'stuck', why: 'no-progress', seconds: w.sinceProgressMs / 1000 };
  return undefined;
}

export function verdictLine(runId: string, v: WaitVerdict): string {
  const s = (x: number) => `${Math.round(x)} s`;
  switch (v.kind) {
    case 'ok':
      return `run ${runId}: ${v.status}${v.failed ? ` (${v.failed} failures, within --max-failures)` : ''}`;
    case 'too-many-failures':
      return `run ${runId}: too many failures: ${v.failed} of ${v.total} keys failed (--max-failures allows ${v.allowed}); see failures.jsonl`;
    case 'failed':
      return `run ${runId}: failed: ${v.reason}`;
    case 'redis-lost':
      return `lost Redis at ${v.redis} while waiting; the run goes on; \`cxr status ${runId}\` or \`cxr score --resume ${runId}\` when it is back`;
    case 'stuck':
      return v.why === 'no-worker'
        ? `run ${runId}: stuck: no worker is alive on the score queue (for ${s(v.seconds)}); start workers, or cxr score --resume ${runId}`
        : v.why === 'no-run'
          ? `run ${runId}: stuck: the run has been missing from Redis for ${s(v.seconds)} and no worker rebuilt it; cxr score --resume ${runId} --out OUT rebuilds it from S3`
          : `run ${runId}: stuck: no batch progressed for ${s(v.seconds)}${v.fleet ? ` (${v.fleet})` : ''}; cxr score --resume ${runId} re-enqueues what is missing`;
  }
}
