import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { putObject } from '../../src/shared/s3/objects.js';
import { cli, faultSuite, imagePool, plainLines, putImages, sleep, startCli, waitFor, WorkerProc } from './harness.js';
import { countsConsistent, inspectRun, record, summaryLines } from './inspect.js';

/**
 * Poison-object isolation on real processes (issue 24 item 2): a `cxr worker` whose sandbox kills itself with
 * SIGSEGV when it decodes an object holding CXR_TEST_CRASH_MARKER (the test-only hook in score-batch.ts).
 * The batch is split down to that object, which fails alone with the crash reason; its 15 neighbours are
 * scored. A worker killed -9 mid-batch (no poison) must not split anything. Null engine: the subject is
 * the orchestration, not the model.
 */
describe('poison objects (real redis-server, S3 server and sandboxed workers)', () => {
  const prefix = `p${randomUUID().slice(0, 6)}`;
  const suite = faultSuite(prefix);
  const MARKER = `cxr-poison-${randomUUID()}`;
  // Short retries: a crashing object uses its 3 attempts in about a second.
  const RETRIES = { CXR_BATCH_ATTEMPTS: '3', CXR_BATCH_BACKOFF_MS: '200' };
  const env = (extra: NodeJS.ProcessEnv = {}) => suite.stack.env(prefix, { ...RETRIES, ...extra });
  const worker = (extra: NodeJS.ProcessEnv) =>
    new WorkerProc(
      ['--concurrency', '1', '--lock-duration', '4000', '--stalled-interval', '2000'],
      env({ CXR_ENGINE: 'null', ...extra }),
    ).ready();
  const score = (runId: string, src: string, ...extra: string[]) => [
    'score',
    `s3://${suite.bucket}/${src}`,
    '--out',
    `s3://${suite.bucket}/out`,
    '--batch-size',
    '16',
    '--run-id',
    runId,
    '--wait',
    '--stall-timeout',
    '120',
    ...extra,
  ];

  /** Inspects a finished run, prints its summary line (with its isolation counts), and asserts nothing was lost, duplicated or falsely failed. */
  async function check(name: string, runId: string, expected: (key: string) => boolean, recoveryMs: number) {
    const c = await inspectRun(suite.stack.s3, suite.bucket, 'out', runId, (f) => expected(f.key));
    const i = c.metrics.isolation;
    record(
      name,
      c,
      recoveryMs,
      i ? `isolation: ${i.splits} splits, ${i.extraAttempts} extra attempts, ${i.crashedObjects} crashed` : '',
    );
    console.log(summaryLines().at(-1));
    expect(c.lost).toEqual([]);
    expect(c.duplicated).toEqual([]);
    expect(c.falseFailures).toEqual([]);
    expect(countsConsistent(await suite.t.store.get(runId), c)).toEqual([]);
    return c;
  }

  it('a poison image in a batch of 16: 15 scored, it fails alone with the crash reason; isolation counted in metrics.json', async () => {
    const keys = await putImages(suite.stack.s3, suite.bucket, 'poison/', 16);
    const poison = keys[5];
    // A real JPEG with the marker after its end: it would decode, but the hook kills the sandbox first.
    await putObject(
      suite.stack.s3,
      suite.bucket,
      poison,
      Buffer.concat([imagePool()[5], Buffer.from(MARKER)]),
      'image/jpeg',
    );
    const w = await worker({ CXR_TEST_CRASH_MARKER: MARKER });
    const started = Date.now();
    const r = await cli(score('poison', 'poison/', '--max-failures', '1'), env());
    expect(r.code, r.stderr).toBe(0);
    const c = await check('poison object in a batch of 16', 'poison', (k) => k === poison, Date.now() - started);
    expect(c.metrics.state).toBe('done-with-failures');
    expect(c.predictions).toHaveLength(15);
    expect(c.failures).toEqual([
      expect.objectContaining({
        key: poison,
        stage: 'batch',
        reason: 'crashed the scoring process (signal SIGSEGV, 3 attempts)',
      }),
    ]);
    // 16 -> 8 -> 4 -> 2 -> 1: four splits, each after one crashed attempt; four halves scored once; the poison 3 times
    expect(c.metrics.isolation).toEqual({ batches: 1, splits: 4, extraAttempts: 10, crashedObjects: 1 });
    expect(plainLines(r.stderr).join('\n')).toMatch(
      /run poison: done-with-failures \(1 failures, within --max-failures\)/,
    );
    expect(w.lines.some((l) => /split them/.test(l.msg))).toBe(true);
  });

  it('a worker killed -9 mid-batch (no poison) splits nothing: the batch retries whole and the run is done', async () => {
    await putImages(suite.stack.s3, suite.bucket, 'killed/', 32);
    const first = await worker({ CXR_NULL_DELAY_MS: '3000' });
    const producer = startCli(score('killed', 'killed/'), env());
    await waitFor(
      'a batch to start',
      async () => ((await suite.t.queue.getActiveCount()) > 0 ? true : undefined),
      120_000,
      100,
    );
    await sleep(1500); // inside the batch's 3 s of scoring
    await first.crash();
    const restartedAt = Date.now();
    await worker({});
    const r = await producer.result;
    expect(r.code, r.stderr).toBe(0);
    const c = await check('worker kill -9 mid-batch, no poison', 'killed', () => false, Date.now() - restartedAt);
    expect(c.metrics.state).toBe('done');
    expect(c.metrics.isolation).toEqual({ batches: 0, splits: 0, extraAttempts: 0, crashedObjects: 0 });
  });
});
