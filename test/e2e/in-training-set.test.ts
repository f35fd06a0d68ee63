import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HASH_SET_FILE } from '../../src/model/hash-set.js';
import { repoRoot } from '../../src/shared/paths.js';
import { IN_TRAINING_FLAG } from '../../src/run/flags.js';
import type { RunMetrics } from '../../src/run/run-metrics.js';
import type { PredictionLine } from '../../src/run/types.js';
import { getTextIfExists, putObject } from '../../src/shared/s3/objects.js';
import { runCli, startCliWorker, stopProcess, waitFor } from '../helpers/cli.js';
import { datasetFiles } from '../helpers/dataset.js';
import { childEnv, freshBucket, testConfig, testS3 } from '../helpers/services.js';

/**
 * A run over images the model was trained on: a copy of the shipped model with a data-hashes.bin written
 * (by `cxr models hash-set`) from some dataset images, a real worker on it, and a run over those images and
 * others. The null engine scores (instant), but the worker downloads every image and checks its hash.
 */
describe("images in the model's training set are flagged in every run", () => {
  const RUN = 'in-sample-1';
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cxr-in-sample-'));
  const modelDir = path.join(tmp, 'model');
  const trained = [...datasetFiles('NORMAL', 3), ...datasetFiles('PNEUMONIA', 3)];
  const unseen = [...datasetFiles('NORMAL', 2, 300), ...datasetFiles('PNEUMONIA', 2, 300)];
  const keyOf = (f: string) => `in/${path.basename(path.dirname(f))}/${path.basename(f)}`;
  let s3: S3Client;
  let bucket: string;
  let env: NodeJS.ProcessEnv;
  let worker: ChildProcess | undefined;

  beforeAll(async () => {
    cpSync(path.join(repoRoot(), 'models', 'pneumonia-resnet50'), modelDir, { recursive: true });
    const list = path.join(tmp, 'trained.txt');
    await import('node:fs/promises').then((fs) => fs.writeFile(list, trained.join('\n') + '\n'));
    // The command the model's author runs at ship time.
    const { stdout } = await runCli(
      [
        'models',
        'hash-set',
        '--files',
        list,
        '--out',
        path.join(modelDir, HASH_SET_FILE),
        '--note',
        'six dataset images',
      ],
      process.env,
    );
    expect(stdout.trim()).toMatch(
      new RegExp(`: 6 distinct images of 6 files; false-positive rate 3\\.25e-19 per image$`),
    );
    const config = testConfig();
    env = { ...childEnv(config), CXR_ENGINE: 'null', CXR_MODEL_URI: modelDir };
    s3 = testS3(config);
    bucket = await freshBucket(s3);
    for (const f of [...trained, ...unseen]) await putObject(s3, bucket, keyOf(f), readFileSync(f), 'image/jpeg');
    worker = startCliWorker(['--concurrency', '1'], env);
  });
  afterAll(async () => {
    if (worker) await stopProcess(worker);
    s3?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('flags exactly the trained images in-training-set, counts them in metrics.json and warns under the metrics', async () => {
    const { stdout } = await runCli(
      ['score', `s3://${bucket}/in/`, '--out', `s3://${bucket}/out`, '--batch-size', '4', '--run-id', RUN, '--wait'],
      env,
    );
    const predictions = ((await getTextIfExists(s3, bucket, `out/${RUN}/predictions.jsonl`)) ?? '')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as PredictionLine);
    expect(predictions).toHaveLength(10);
    const flagged = predictions
      .filter((p) => p.flags?.includes(IN_TRAINING_FLAG))
      .map((p) => p.key)
      .sort();
    expect(flagged).toEqual(trained.map(keyOf).sort());
    const metrics = JSON.parse((await getTextIfExists(s3, bucket, `out/${RUN}/metrics.json`))!) as RunMetrics;
    expect(metrics.flags).toMatchObject({ inTrainingSet: 6, byFlag: { [IN_TRAINING_FLAG]: 6 } });
    expect(stdout).toMatch(/WARNING.*6 of the 10 scored images are in the model's training or validation set/);

    // The run report says so above its metrics.
    const html = await waitFor(
      'the run report',
      () => getTextIfExists(s3, bucket, `out/${RUN}/report/index.html`),
      300_000,
    );
    expect(html).toMatch(
      /<div class="alerts"><h2>Alerts<\/h2><ul><li>6 of the 10 scored images are in the model&#39;s training or validation set/,
    );
  });

  it('--skip-flagged still scores them: being in the training set is not a reason to refuse an image', async () => {
    await runCli(
      [
        'score',
        `s3://${bucket}/in/`,
        '--out',
        `s3://${bucket}/out`,
        '--batch-size',
        '4',
        '--run-id',
        `${RUN}-skip`,
        '--skip-flagged',
        '--wait',
      ],
      env,
    );
    const metrics = JSON.parse((await getTextIfExists(s3, bucket, `out/${RUN}-skip/metrics.json`))!) as RunMetrics;
    expect(metrics.counts).toMatchObject({ scored: 10, failed: 0 });
    expect(metrics.flags?.inTrainingSet).toBe(6);
  });
});
