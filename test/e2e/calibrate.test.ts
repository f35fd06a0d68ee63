import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { S3Client } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CalibrationRecord } from '../../src/model/calibrate/calibration.js';
import type { HeadMetadata } from '../../src/model/metadata.js';
import { defaultModelDir } from '../../src/model/classifier.js';
import type { PredictionLine } from '../../src/run/types.js';
import { getTextIfExists, listObjects, putObject } from '../../src/shared/s3/objects.js';
import { SCORE_QUEUE } from '../../src/shared/queue.js';
import { runCli, startCliWorker, stopProcess, waitFor } from '../helpers/cli.js';
import { datasetFiles } from '../helpers/dataset.js';
import { childEnv, freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';

/** Calibration end to end: labelled sample in S3 -> scoring run on a worker process -> new model version -> a worker scoring with it. */
describe('cxr models calibrate (real Redis, S3 server, worker processes)', () => {
  let s3: S3Client;
  let bucket: string;
  let env: NodeJS.ProcessEnv;
  let worker: ChildProcess | undefined;
  let queue: Queue;
  let redis: Redis;
  let data: string;
  let out: string;
  let scoreRunId: string;
  const shipped = JSON.parse(readFileSync(path.join(defaultModelDir(), 'metadata.json'), 'utf8')) as HeadMetadata;
  // 12 positives: the fewest that target 0.9 with margin 0.3 allows (requiredPositives(0.9, 0.3) = 12)
  const calibrate = (extra: string[] = []) =>
    runCli(
      [
        'models',
        'calibrate',
        '--model',
        defaultModelDir(),
        '--data',
        data,
        '--out',
        out,
        '--target-sensitivity',
        '0.9',
        '--margin',
        '0.3',
        '--batch-size',
        '6',
        '--replicates',
        '300',
        ...extra,
      ],
      env,
    );

  beforeAll(async () => {
    const config = testConfig();
    // TF.js engine: an ONNX export per calibrated model id would fill the shared ONNX cache
    env = { ...childEnv(config), CXR_ENGINE: 'tfjs' };
    s3 = testS3(config);
    redis = testRedis(config);
    queue = new Queue(SCORE_QUEUE, { connection: redis, prefix: config.queuePrefix });
    bucket = await freshBucket(s3);
    data = `s3://${bucket}/site/`;
    out = `s3://${bucket}/models/site-a/`;
    for (const [label, n] of [
      ['NORMAL', 6],
      ['PNEUMONIA', 12],
    ] as const) {
      for (const f of datasetFiles(label, n, 40))
        await putObject(s3, bucket, `site/${label}/${path.basename(f)}`, readFileSync(f), 'image/jpeg');
    }
  });

  afterAll(async () => {
    if (worker) await stopProcess(worker);
    s3?.destroy();
    await queue?.close();
    redis?.disconnect();
  });

  it('refuses a sample too small for the target, saying how many positives it needs', async () => {
    await expect(runCli(['models', 'calibrate', '--data', data, '--out', out], env)).rejects.toThrow(
      /has 12 labelled PNEUMONIA image\(s\); choosing a threshold for sensitivity 0\.95 needs at least 141 .*add 129 more/,
    );
  });

  it('says so when no score worker is running', async () => {
    await expect(calibrate()).rejects.toThrow(
      /no score worker is connected to queue 'score': start `cxr worker` with CXR_MODEL_URI=/,
    );
  });

  it('scores the sample on a worker and writes a new version: same weights, new threshold and id, sample and metrics recorded', async () => {
    worker = startCliWorker(['--concurrency', '1'], env);
    // The worker loads and checks its model before it registers on the queue.
    await waitFor(
      'the worker to register on the score queue',
      async () => ((await queue.getWorkersCount()) > 0 ? true : undefined),
      120_000,
    );
    const r = JSON.parse((await calibrate()).stdout) as {
      id: string;
      threshold: number;
      runId: string;
      previousId: string;
      version: string;
      files: string[];
    };
    expect(r.previousId).toBe(shipped.id);
    expect(r.id).toMatch(/^[0-9a-f]{16}$/);
    expect(r.id).not.toBe(shipped.id);
    expect(r.version).toMatch(new RegExp(`^${shipped.version.replace(/\./g, '\\.')}\\+cal\\.\\d{8}$`));

    const meta = JSON.parse((await getTextIfExists(s3, bucket, 'models/site-a/metadata.json'))!) as HeadMetadata & {
      calibration: CalibrationRecord;
    };
    expect(meta).toMatchObject({
      id: r.id,
      threshold: r.threshold,
      name: shipped.name,
      backbone: shipped.backbone,
      thresholdRule: 'sens-target:0.9 (calibrated)',
    });
    const c = meta.calibration;
    expect(c.sample).toMatchObject({
      uri: data,
      n: 18,
      positives: 12,
      negatives: 6,
      failed: 0,
      runId: r.runId,
      labelsFrom: 'key-folders',
    });
    expect(c.previous).toEqual({
      id: shipped.id,
      version: shipped.version,
      threshold: shipped.threshold,
      thresholdRule: shipped.thresholdRule,
    });
    expect(c.sameWeightsAs).toEqual([shipped.id]);
    expect(c.requiredPositives).toBe(12);

    // The threshold is the highest score whose sensitivity reaches 0.9 on the run's own predictions.
    const preds = (await getTextIfExists(s3, bucket, `calibration-runs/${r.runId}/predictions.jsonl`))!
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as PredictionLine);
    const posScores = preds
      .filter((p) => p.trueLabel === 'PNEUMONIA')
      .map((p) => p.probability)
      .sort((a, b) => b - a);
    expect(r.threshold).toBe(posScores[Math.ceil(0.9 * 12) - 1]);
    expect(preds.every((p) => p.modelId === shipped.id)).toBe(true);
    expect(c.report.metrics.recall).toBeGreaterThanOrEqual(0.9);
    expect(c.report.intervals.sensitivity.lo).toBeLessThanOrEqual(c.report.metrics.recall);
    expect(c.report.sensitivityExact.lo).toBeGreaterThan(0.6);

    // Every file of the model folder is there; weights byte-identical; the card names the new version and the sample.
    const keys = (await listObjects(s3, bucket, 'models/site-a/'))
      .map((o) => o.key.slice('models/site-a/'.length))
      .sort();
    expect(keys).toEqual(
      readdirSync(defaultModelDir())
        .filter((f) => !f.startsWith('.'))
        .sort(),
    );
    const card = (await getTextIfExists(s3, bucket, 'models/site-a/MODEL_CARD.md'))!;
    expect(card.split('\n')[0]).toBe(`# pneumonia-resnet50 ${r.version}`);
    expect(card).toContain(`model id \`${r.id}\``);
    expect(card).toContain('## Calibration');
    expect(card).toContain(`\`${data}\``);
    expect(card).toMatch(/\| pneumonia-resnet50 .* \| sens-target:0\.9 \| \d\.\d{4} \| \d+\.\d% \[/);
    expect(card).toContain('## Training'); // the original card is kept below the calibration section // the previous card is kept
  }, 600_000);

  it('a worker with CXR_MODEL_URI set to the calibrated folder scores with its threshold', async () => {
    await stopProcess(worker!);
    const meta = JSON.parse((await getTextIfExists(s3, bucket, 'models/site-a/metadata.json'))!) as HeadMetadata;
    worker = startCliWorker(['--concurrency', '1'], { ...env, CXR_MODEL_URI: out });
    scoreRunId = (
      await runCli(['score', data, '--out', `s3://${bucket}/runs`, '--batch-size', '6', '--wait'], env)
    ).stdout
      .trim()
      .split('\n')[0];
    const preds = (await getTextIfExists(s3, bucket, `runs/${scoreRunId}/predictions.jsonl`))!
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as PredictionLine);
    expect(preds).toHaveLength(18);
    for (const p of preds) {
      expect(p).toMatchObject({ modelId: meta.id, threshold: meta.threshold, modelVersion: meta.version });
      expect(p.label).toBe(p.probability >= meta.threshold ? 'PNEUMONIA' : 'NORMAL');
    }
  }, 600_000);

  it('refuses scores of another model, accepts those of a model with the same weights', async () => {
    const meta = JSON.parse((await getTextIfExists(s3, bucket, 'models/site-a/metadata.json'))!) as HeadMetadata;
    const reuse = ['--runs', `s3://${bucket}/runs`, '--run-id', scoreRunId]; // the run the calibrated model just scored
    // The shipped model's calibration must not use another model's scores.
    await expect(calibrate(['--out', `s3://${bucket}/models/site-b/`, ...reuse])).rejects.toThrow(
      new RegExp(`run ${scoreRunId} was scored by model ${meta.id} .*not by ${shipped.id}`),
    );
    // Calibrating the calibrated version on them is accepted (same weights).
    const again = JSON.parse(
      (
        await runCli(
          [
            'models',
            'calibrate',
            '--model',
            out,
            '--data',
            data,
            '--out',
            `s3://${bucket}/models/site-c/`,
            '--target-sensitivity',
            '0.9',
            '--margin',
            '0.3',
            '--replicates',
            '200',
            ...reuse,
          ],
          env,
        )
      ).stdout,
    ) as { previousId: string; threshold: number };
    expect(again.previousId).toBe(meta.id);
    expect(again.threshold).toBe(meta.threshold);
    const c2 = JSON.parse((await getTextIfExists(s3, bucket, 'models/site-c/metadata.json'))!) as {
      calibration: CalibrationRecord;
    };
    expect(c2.calibration.sameWeightsAs.sort()).toEqual([meta.id, shipped.id].sort());
    expect(c2.calibration.sample.runId).toBe(scoreRunId);
  }, 600_000);
});
