import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getTextIfExists, putObject } from '../../src/shared/s3/objects.js';
import { freeLoopbackPort } from '../../src/shared/services/free-port.js';
import { execCli, runCli } from '../helpers/cli.js';
import { datasetFiles } from '../helpers/dataset.js';
import { childEnv, freshBucket, testConfig, testS3 } from '../helpers/services.js';
import { WorkerProc, childPids, plainLines } from '../faults/harness.js';

const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

describe('cxr worker --inference shared', () => {
  afterAll(() => WorkerProc.killAll());

  it('slots decode in the worker process and one inference thread scores their batches merged', async () => {
    const config = testConfig();
    const port = await freeLoopbackPort();
    const env = { ...childEnv(config), CXR_ENGINE: 'null', CXR_NULL_DELAY_MS: '300', LOG_LEVEL: 'info' };
    const s3 = testS3(config);
    const bucket = await freshBucket(s3);
    const files = [...datasetFiles('NORMAL', 8), ...datasetFiles('PNEUMONIA', 8)];
    for (const f of files) await putObject(s3, bucket, `in/${path.basename(f)}`, readFileSync(f), 'image/jpeg');
    const w = await new WorkerProc(
      [
        '--inference',
        'shared',
        '--concurrency',
        '4',
        '--max-batch',
        '8',
        '--batch-wait',
        '100',
        '--http-port',
        String(port),
        '--http-host',
        '127.0.0.1',
      ],
      env,
    ).ready();
    expect(w.lines.find((l) => l.msg === 'inference mode')).toMatchObject({
      inference: 'shared',
      maxBatch: 8,
      backend: 'null',
    });
    expect(childPids(w.pid)).toEqual([]); // no sandboxed process per slot

    await runCli(
      [
        'score',
        `s3://${bucket}/in/`,
        '--out',
        `s3://${bucket}/out`,
        '--batch-size',
        '2',
        '--run-id',
        'shared-run',
        '--wait',
      ],
      env,
    );
    const predictions = ((await getTextIfExists(s3, bucket, 'out/shared-run/predictions.jsonl')) ?? '')
      .trim()
      .split('\n');
    expect(predictions).toHaveLength(16);
    // Slots score in one process at once: no part meta claims one batch's CPU per stage.
    const meta = JSON.parse((await getTextIfExists(s3, bucket, 'out/shared-run/parts/000000.meta.json')) ?? '{}');
    expect(meta).toHaveProperty('stageMs');
    expect(meta).not.toHaveProperty('stageCpuMs');
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metric(text, 'cxr_images_scored_total')).toBe(16);
    // 8 batch jobs of 2 images; four slots at once, so their tensors share inference calls.
    expect(metric(text, 'cxr_inference_batch_images_sum')).toBe(16);
    expect(metric(text, 'cxr_inference_batch_images_count')).toBeLessThan(8);
    s3.destroy();
    w.signal('SIGTERM');
    expect((await w.exited).code).toBe(0);
  });

  it('a bad --inference or CXR_INFERENCE is one line naming it', async () => {
    const env = childEnv(testConfig());
    const flag = await execCli(['worker', '--inference', 'gpu'], env);
    expect(flag.code).toBe(2);
    expect(plainLines(flag.stderr)).toEqual([
      `cxr: option '--inference <mode>' argument 'gpu' is invalid. --inference must be slot or shared, got "gpu"`,
    ]);
  });
});
