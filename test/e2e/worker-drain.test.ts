import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { batchJobId } from '../../src/run/batching.js';
import { WorkerProc, enqueueRun, faultSuite, runDone as runDoneIn, sleep, waitFor } from '../faults/harness.js';

/**
 * Graceful drain of a real `cxr worker` process (null engine: each batch takes CXR_NULL_DELAY_MS). Workers
 * run with a 2 s lock checked every second, so a batch whose lock was not renewed during the drain would
 * be seen as stalled (stalledCounter, a second start) within seconds.
 */
describe('cxr worker: SIGTERM drains', () => {
  const prefix = `d${randomUUID().slice(0, 6)}`;
  const suite = faultSuite(prefix);
  // The null engine's delay also holds the worker's start-up model check (one blank image) before 'worker
  // started': a batch that must outlast the drain needs only to be longer than the case waits, not a minute.
  const HELD_MS = 12_000;
  const worker = (delayMs: number, ...args: string[]) =>
    new WorkerProc(
      ['--lock-duration', '2000', '--stalled-interval', '1000', ...args],
      suite.stack.env(prefix, { CXR_ENGINE: 'null', CXR_NULL_DELAY_MS: String(delayMs) }),
    ).ready();
  const enqueue = (runId: string, images: number) => enqueueRun(suite, suite.stack.env(prefix), runId, images);
  const job = async (runId: string, i: number) => (await suite.t.queue.getJob(batchJobId(runId, i)))!;
  const activeJobs = (n: number) =>
    waitFor(
      `${n} active jobs`,
      async () => ((await suite.t.queue.getActiveCount()) === n ? true : undefined),
      60_000,
      100,
    );
  const runDone = (runId: string) => runDoneIn(suite, runId, 60_000);

  it('mid-batch: the batches it holds complete once, it takes no new job, exits 0 within the timeout; no job stalls', async () => {
    const w = await worker(5000, '--concurrency', '2', '--drain-timeout', '30');
    await enqueue('drain', 12); // three batches; the worker holds two
    await activeJobs(2);
    await sleep(1000);
    const termAt = Date.now();
    w.signal('SIGTERM');
    const exit = await w.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - termAt).toBeGreaterThan(2000); // it waited for its batches (about 4 s of their 5 s were left)
    expect(exit.at - termAt).toBeLessThan(30_000);
    const held = [await job('drain', 0), await job('drain', 1)];
    for (const j of held) {
      expect(await j.getState()).toBe('completed');
      expect(j.attemptsStarted).toBe(1);
      expect(j.stalledCounter).toBe(0);
      expect(j.returnvalue).toMatchObject({ scored: 4, failed: 0 });
    }
    expect(await (await job('drain', 2)).getState()).toBe('waiting');
    expect(w.lines.filter((l) => /stalled/.test(l.msg))).toEqual([]);
    expect(w.lines.map((l) => l.msg)).toContain('drained; exiting');
    expect((await suite.t.store.get('drain'))?.doneBatches).toBe(2);

    // Another worker finishes the run: the drained batches are not scored again.
    await worker(0, '--concurrency', '1');
    await runDone('drain');
    expect((await job('drain', 0)).attemptsStarted).toBe(1);
    expect((await job('drain', 2)).attemptsStarted).toBe(1);
  });

  it('the drain timeout exits 1 at once; the batch it held is recovered as a stalled job by another worker', async () => {
    const w = await worker(HELD_MS, '--concurrency', '1', '--drain-timeout', '2');
    await enqueue('timeout', 4);
    await activeJobs(1);
    const termAt = Date.now();
    w.signal('SIGTERM');
    const exit = await w.exited;
    expect(exit.code).toBe(1);
    expect(exit.at - termAt).toBeGreaterThanOrEqual(2000);
    expect(exit.at - termAt).toBeLessThan(6000);
    expect(w.lines.map((l) => l.msg)).toContain(
      'drain timeout: exiting; jobs still held are left to stalled-job recovery',
    );
    await worker(0, '--concurrency', '1');
    await runDone('timeout');
    const j = await job('timeout', 0);
    expect(j.stalledCounter).toBe(1);
    expect(j.attemptsStarted).toBe(2);
  });

  it('a second SIGTERM exits 1 at once', async () => {
    const w = await worker(HELD_MS, '--concurrency', '1', '--drain-timeout', '60');
    await enqueue('twice', 4);
    await activeJobs(1);
    w.signal('SIGTERM');
    await sleep(500);
    expect(w.running).toBe(true);
    const secondAt = Date.now();
    w.signal('SIGTERM');
    const exit = await w.exited;
    expect(exit.code).toBe(1);
    expect(exit.at - secondAt).toBeLessThan(2000);
  });
});
