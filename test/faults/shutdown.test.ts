import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DATASET } from '../helpers/dataset.js';
import {
  WorkerProc,
  alive,
  childPids,
  enqueueRun,
  faultSuite,
  handlesPreload,
  openAtExit,
  plainLines,
  putImages,
  runDone,
  scoreArgs,
  sleep,
  startCli,
  waitFor,
} from './harness.js';

/**
 * Issue 24 items 1 and 5: every command ends, and says why, when Redis goes at the worst moment. Each case
 * kills the suite's redis-server while a command depends on it, asserts the process exits on its own (no
 * SIGKILL) within its deadline with one line saying why, then brings Redis back. Processes started with
 * the print-handles preload also report what they left open at exit: nothing but their stdio.
 * The bench's own case (its private redis-server killed while it measures) is bench-shutdown.test.ts.
 */
describe('shutdown: every command ends, and says why, when Redis is lost', () => {
  const prefix = `s${randomUUID().slice(0, 6)}`;
  const suite = faultSuite(prefix);
  const env = (extra: NodeJS.ProcessEnv = {}) => suite.stack.env(prefix, { CXR_ENGINE: 'null', ...extra });
  const redisAt = () => `127.0.0.1:${suite.stack.redisPort}`;
  /** Stops Redis for `body`, and always brings it back (with its data) for the next case. */
  const withoutRedis = async <T>(body: (stoppedAt: number) => Promise<T>): Promise<T> => {
    await suite.stack.stopRedis();
    try {
      return await body(Date.now());
    } finally {
      await suite.stack.startRedis();
    }
  };
  it('cxr score --wait: Redis lost mid-run -> exit 6 within its outage allowance, one line, no handle left; the run goes on', async () => {
    await putImages(suite.stack.s3, suite.bucket, 'wait/', 16);
    await new WorkerProc(['--concurrency', '1'], env({ CXR_NULL_DELAY_MS: '1000' })).ready();
    const producer = startCli(
      scoreArgs(suite, 'wait', '--wait'),
      env({ CXR_REDIS_OUTAGE_MS: '2000', ...handlesPreload }),
    );
    await waitFor(
      'a batch done',
      async () => (((await suite.t.store.get('wait'))?.doneBatches ?? 0) >= 1 ? true : undefined),
      60_000,
      100,
    );
    const { r, ms } = await withoutRedis(async (at) => {
      const r = await producer.result;
      return { r, ms: Date.now() - at };
    });
    expect(r.code, r.stderr).toBe(6);
    expect(plainLines(r.stderr).at(-1)).toBe(
      `cxr: lost Redis at ${redisAt()} while waiting; the run goes on; \`cxr status wait\` or \`cxr score --resume wait\` when it is back`,
    );
    expect(ms).toBeLessThan(2000 + 2000 + 5000); // the outage allowance, one reconnect backoff, a poll, the exit
    expect(openAtExit(r.stderr)).toEqual([]);
    await runDone(suite, 'wait'); // the worker rode out the outage and finished the run
    process.stderr.write(`score --wait: exit ${r.code} ${(ms / 1000).toFixed(1)} s after Redis went\n`);
  });

  it('cxr worker on SIGTERM: Redis lost mid-drain ends the drain in seconds (not --drain-timeout), exit 1 naming the job and run; the run resumes', async () => {
    const w = await new WorkerProc(
      ['--concurrency', '1', '--drain-timeout', '120', '--lock-duration', '4000', '--stalled-interval', '2000'],
      env({ CXR_NULL_DELAY_MS: '60000' }),
    ).ready();
    await enqueueRun(suite, env(), 'drain', 4);
    await waitFor(
      'the batch taken',
      async () => ((await suite.t.queue.getActiveCount()) === 1 ? true : undefined),
      60_000,
      100,
    );
    const sandboxes = w.sandboxPids();
    expect(sandboxes.length).toBeGreaterThan(0);
    const termAt = Date.now();
    w.signal('SIGTERM');
    await sleep(300);
    const exit = await withoutRedis(() => w.exited);
    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(1);
    expect(exit.at - termAt).toBeLessThan(12_000); // lost for 3 s, forced close 2 s, the rest 2 s
    expect(w.raw.filter((l) => l.startsWith('cxr: '))).toEqual([
      `cxr: lost Redis at ${redisAt()} while draining: abandoned batch 0 of run drain; another worker runs it again once the lock expires; else cxr score --resume drain`,
    ]);
    await waitFor('its sandboxes gone', async () => (sandboxes.some(alive) ? undefined : true), 5000, 100);
    // The abandoned batch's lock expires; another worker runs it again.
    await new WorkerProc(
      ['--concurrency', '1', '--lock-duration', '4000', '--stalled-interval', '2000'],
      env(),
    ).ready();
    await runDone(suite, 'drain');
    process.stderr.write(
      `worker drain: exit ${exit.code} ${((exit.at - termAt) / 1000).toFixed(1)} s after SIGTERM; the run done ${((Date.now() - exit.at) / 1000).toFixed(1)} s after\n`,
    );
  });

  it('cxr worker --inference shared (the bench path): one Redis state line per change; SIGTERM with Redis gone exits 0 in seconds', async () => {
    const w = await new WorkerProc(['--concurrency', '2', '--inference', 'shared'], env()).ready();
    const exit = await withoutRedis(async () => {
      await waitFor(
        'the outage line',
        async () => (w.lines.some((l) => /^cannot reach Redis/.test(l.msg)) ? true : undefined),
        10_000,
        100,
      );
      await sleep(3000); // reconnect attempts of every connection, the shared processor's included
      // One line per change of all connections together: never the same line twice in a row (it was, once per
      // connection owner, when the shared processor's context had a ConnectionWatch of its own).
      const states = w.lines.filter((l) => /Redis/.test(l.msg)).map((l) => l.msg);
      expect(states[0]).toBe('connected to Redis');
      expect(states.at(-1)).toBe(`cannot reach Redis at ${suite.stack.redisUrl}; reconnecting with backoff`);
      expect(states.filter((m, i) => i > 0 && m === states[i - 1])).toEqual([]);
      const termAt = Date.now();
      w.signal('SIGTERM');
      const exit = await w.exited;
      return { ...exit, ms: exit.at - termAt };
    });
    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(0); // it held no job: nothing abandoned
    expect(exit.ms).toBeLessThan(7000);
    process.stderr.write(`shared worker: exit ${exit.code} ${(exit.ms / 1000).toFixed(1)} s after SIGTERM\n`);
  });

  it('cxr demo: Redis lost as the run reached done: it prints the metrics and its outputs, and exits within its deadline', async () => {
    const keep = mkdtempSync(path.join(os.tmpdir(), 'cxr-demo-keep-'));
    try {
      const demo = startCli(
        ['demo', '--images', DATASET, '--limit', '8', '--batch-size', '4', '--concurrency', '1', '--keep', keep],
        env({ CXR_REDIS_OUTAGE_MS: '2000', LOG_LEVEL: 'warn', ...handlesPreload }),
      );
      let stdout = '';
      demo.child.stdout!.on('data', (d: Buffer) => (stdout += d));
      // The metrics table follows the run line: the run is done, its finalize may still be writing the report.
      await waitFor('the metrics', async () => (stdout.split('\n').length > 3 ? true : undefined), 240_000, 50);
      const sandboxes = childPids(demo.child.pid!);
      const { r, ms } = await withoutRedis(async (at) => {
        const r = await demo.result;
        return { r, ms: Date.now() - at };
      });
      await waitFor('its sandboxes gone', async () => (sandboxes.some(alive) ? undefined : true), 5000, 100);
      process.stderr.write(
        `demo: exit ${r.code} ${(ms / 1000).toFixed(1)} s after Redis went; ${plainLines(r.stderr).at(-1) ?? ''}\n`,
      );
      expect(r.stdout).toMatch(new RegExp(`^outputs: ${keep}`, 'm'));
      if (r.code !== 0) expect(plainLines(r.stderr).at(-1)).toMatch(/^cxr: the demo's workers lost Redis at /);
      expect(ms).toBeLessThan(20_000);
      expect(openAtExit(r.stderr)).toEqual([]);
    } finally {
      rmSync(keep, { recursive: true, force: true });
    }
  });
});
