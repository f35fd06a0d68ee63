import cliProgress from 'cli-progress';
import type { RunState, RunStore } from '../shared/run/run-store.js';

/** Polls the run's counters and draws a bar until the run is done; returns the final state. */
export async function watchRun(store: RunStore, runId: string, opts: { intervalMs?: number; stream?: NodeJS.WriteStream } = {}): Promise<RunState> {
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
  const first = await store.get(runId);
  if (!first) throw new Error(`run ${runId} is unknown to Redis`);
  const started = Date.now();
  const startDone = first.scored + first.failed;
  bar.start(first.totalKeys, startDone, { done: startDone, failed: first.failed, rate: '0.0', status: first.status });
  let state = first;
  for (;;) {
    state = (await store.get(runId)) ?? state;
    const done = state.scored + state.failed;
    const rate = (done - startDone) / Math.max(1e-3, (Date.now() - started) / 1000);
    bar.update(done, { done, failed: state.failed, rate: rate.toFixed(1), status: state.status });
    if (state.status === 'done') break;
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
  bar.stop();
  return state;
}
