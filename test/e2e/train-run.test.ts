import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/shared/config.js';
import { startRedisServer } from '../../src/shared/services/redis-server.js';
import type { LocalService } from '../../src/shared/services/child-service.js';
import { getBytesIfExists, getJsonIfExists, listObjects, putObject } from '../../src/shared/s3/objects.js';
import { backboneHash } from '../../src/model/backbone.js';
import { cachedS3Model } from '../../src/model/io/s3-io.js';
import { readMetadata } from '../../src/model/metadata.js';
import { computeModelId } from '../../src/model/model-id.js';
import { decodeHead, decodeNorm } from '../../src/train-queue/codec.js';
import { foldNorm } from '../../src/model/train/fold-norm.js';
import { TRAIN_QUEUE } from '../../src/train-queue/jobs.js';
import { trainLayout } from '../../src/train-queue/layout.js';
import { resolveModelUri } from '../../src/shared/model-pointer.js';
import { selectBest } from '../../src/train-queue/selection.js';
import type { HistoryEntry, RunStatusDoc, ShardJobData, ShardResult } from '../../src/train-queue/types.js';
import { CLI, runCli, waitFor } from '../helpers/cli.js';
import { datasetFiles } from '../helpers/dataset.js';
import { childEnv, freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';

const K = 2;
const COMMON = [
  '--train-from',
  'head',
  '--shards',
  String(K),
  '--val-fraction',
  '0.25',
  '--batch-size',
  '8',
  '--min-epochs',
  '1',
  '--lr',
  '0.01',
  '--lr-schedule',
  'constant',
];

/** A trainer in its own process group, so SIGKILL also takes its sandbox and extraction children. */
function startTrainer(env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [CLI, 'worker', '--queues', 'train', '--concurrency', '1'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
}

async function killGroup(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    process.kill(-child.pid!, signal);
  } catch {
    /* gone */
  }
  const t = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, 20_000);
  await exited;
  clearTimeout(t);
}

describe('sharded training rounds on the train queue (real Redis, S3 server, trainer processes)', () => {
  let config: Config;
  let s3: S3Client;
  let bucket: string;
  let featureDir: string;
  const trainers: ChildProcess[] = [];
  let redis2: LocalService | undefined;

  const status = (runId: string) =>
    getJsonIfExists<RunStatusDoc>(s3, bucket, trainLayout({ bucket, prefix: 'runs' }, runId).status);
  const f32 = (b: Uint8Array) => new Float32Array(b.slice().buffer);

  /** Checks every merged epoch: state = sample-weighted mean of its shards' weights (computed here), exported head = folded state. */
  async function checkMerges(runId: string, epochs: number): Promise<void> {
    const l = trainLayout({ bucket, prefix: 'runs' }, runId);
    const norm = decodeNorm((await getBytesIfExists(s3, bucket, l.norm))!);
    for (let e = 1; e <= epochs; e++) {
      const shards = await Promise.all(
        Array.from({ length: K }, async (_, s) => ({
          r: (await getJsonIfExists<ShardResult>(s3, bucket, l.shardJson(e, s)))!,
          w: f32((await getBytesIfExists(s3, bucket, l.shardBin(e, s)))!),
        })),
      );
      const total = shards.reduce((t, s) => t + s.r.samples, 0);
      const state = f32((await getBytesIfExists(s3, bucket, l.epochState(e)))!);
      expect(state.length).toBe(2049);
      let maxErr = 0;
      for (let j = 0; j < state.length; j++) {
        let want = 0;
        for (const s of shards) want += (s.r.samples / total) * s.w[j];
        maxErr = Math.max(maxErr, Math.abs(state[j] - want));
      }
      expect(maxErr).toBeLessThan(1e-6);
      for (const s of shards) expect(s.r).toMatchObject({ runId, epoch: e, shards: K });
      const head = decodeHead((await getBytesIfExists(s3, bucket, l.epochState(e)))!);
      const raw = foldNorm(head.kernel, head.bias, norm.mean, norm.std);
      const weights = f32((await getBytesIfExists(s3, bucket, `${l.epochDir(e)}/weights.bin`))!);
      expect(weights.length).toBe(2049); // dense kernel then bias
      for (let j = 0; j < 2048; j += 97) expect(weights[j]).toBeCloseTo(raw.kernel[j], 5);
      expect(weights[2048]).toBeCloseTo(raw.bias, 4);
    }
  }

  async function mergeLogCounts(runId: string, epochs: number): Promise<number[]> {
    const l = trainLayout({ bucket, prefix: 'runs' }, runId);
    return Promise.all(
      Array.from({ length: epochs + 1 }, async (_, e) => (await listObjects(s3, bucket, l.mergeLogPrefix(e))).length),
    );
  }

  beforeAll(async () => {
    config = testConfig();
    s3 = testS3(config);
    bucket = await freshBucket(s3);
    featureDir = mkdtempSync(path.join(os.tmpdir(), 'cxr-feat-'));
    const files = [
      ...datasetFiles('NORMAL', 12, 40).map((f) => ['NORMAL', f]),
      ...datasetFiles('PNEUMONIA', 20, 40).map((f) => ['PNEUMONIA', f]),
    ];
    for (const [label, file] of files)
      await putObject(s3, bucket, `data/${label}/${path.basename(file)}`, readFileSync(file), 'image/jpeg');
  });

  afterAll(async () => {
    await Promise.all(trainers.map((t) => killGroup(t, 'SIGTERM')));
    await redis2?.stop();
    s3?.destroy();
    rmSync(featureDir, { recursive: true, force: true });
  });

  it('runs K=2 shard jobs per round on two trainers and merges each round into a checkpoint', async () => {
    const env = { ...childEnv(config), CXR_FEATURE_DIR: featureDir };
    const args = [
      'train',
      '--data',
      `s3://${bucket}/data/`,
      '--out',
      `s3://${bucket}/runs`,
      '--run-id',
      'tr-1',
      '--epochs',
      '3',
      '--augment-copies',
      '1',
      ...COMMON,
    ];
    expect((await runCli(args, env)).stdout.trim()).toBe('tr-1');
    trainers.push(startTrainer(env), startTrainer(env));
    const waited = await runCli([...args, '--wait'], env); // same run id: enqueues nothing new, shows progress
    const lines = waited.stdout.trim().split('\n');
    expect(lines.filter((x) => /^epoch \d\/3 .*val loss/.test(x))).toHaveLength(3);
    expect(lines.at(-1)).toMatch(/^done: 3 epochs, best epoch \d/);

    const l = trainLayout({ bucket, prefix: 'runs' }, 'tr-1');
    const history = (await getJsonIfExists<HistoryEntry[]>(s3, bucket, l.history))!;
    expect(history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    for (const h of history) {
      expect(h.trainLoss).toBeGreaterThan(0);
      expect(h.valLoss).toBeGreaterThan(0);
      for (const a of [h.trainAccuracy, h.valAccuracy]) {
        expect(a).toBeGreaterThanOrEqual(0);
        expect(a).toBeLessThanOrEqual(1);
      }
    }
    type Item = { key: string; group: string };
    const spec = (await getJsonIfExists<{
      train: Item[];
      val: Item[];
      holdout: Item[];
      grouping: { patients: number };
    }>(s3, bucket, l.spec))!;
    // split by patient (24 patients among the 32 images): no patient on two sides; the held-out patients
    // (default --holdout-fraction 0.1) come out of the validation side
    expect(spec.train).toHaveLength(23);
    expect(spec.val.length + spec.holdout.length).toBe(9);
    expect(spec.holdout.length).toBeGreaterThan(0);
    expect(spec.grouping.patients).toBe(24);
    const patient = (k: string) => /(person\d+|IM-\d+)/.exec(k)![1];
    const sides = [spec.train, spec.val, spec.holdout].map((xs) => new Set(xs.map((i) => patient(i.key))));
    for (const [a, b] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ])
      expect([...sides[a]].filter((p) => sides[b].has(p))).toEqual([]);
    for (let e = 1; e <= 3; e++) {
      const m = (await getJsonIfExists<{ epoch: number; samples: number; modelId: string }>(
        s3,
        bucket,
        l.epochMetrics(e),
      ))!;
      expect(m.epoch).toBe(e);
      expect(m.samples).toBe(23 * 2); // every training image x (original + 1 augmented copy), once per round
      const meta = (await getJsonIfExists<{ id: string }>(s3, bucket, `${l.epochDir(e)}/metadata.json`))!;
      expect(meta.id).toBe(m.modelId);
    }
    await checkMerges('tr-1', 3);
    expect(await mergeLogCounts('tr-1', 3)).toEqual([1, 1, 1, 1]);

    const best = selectBest(history, 1);
    const bestMetrics = (await getJsonIfExists<{ epoch: number }>(s3, bucket, `${l.best}/metrics.json`))!;
    expect(bestMetrics.epoch).toBe(best);
    expect(Buffer.from((await getBytesIfExists(s3, bucket, l.curves))!.subarray(0, 8)).toString('hex')).toBe(
      '89504e470d0a1a0a',
    );
    expect(await status('tr-1')).toMatchObject({ status: 'done', lastEpoch: 3, bestEpoch: best });

    // Promote best/ and resolve the pointer the way the scoring worker does; the model passes the loader's id check.
    const out = await runCli(
      ['models', 'promote', `s3://${bucket}/runs/tr-1/best`, '--to', `s3://${bucket}/models/production`],
      env,
    );
    const pointer = JSON.parse(out.stdout) as { modelUri: string; modelId: string };
    expect(pointer.modelUri).toBe(`s3://${bucket}/runs/tr-1/epoch-${best}`);
    const resolved = await resolveModelUri(s3, `s3://${bucket}/models/production`);
    expect(resolved).toBe(pointer.modelUri);
    const dir = await cachedS3Model(s3, resolved!, mkdtempSync(path.join(os.tmpdir(), 'cxr-models-')));
    const meta = await readMetadata(dir);
    expect(meta.id).toBe(pointer.modelId);
    expect(computeModelId(await backboneHash(), await readFile(path.join(dir, 'weights.bin')), meta)).toBe(meta.id);
    expect(await resolveModelUri(s3, `s3://${bucket}/runs/tr-1/best`)).toBe(`s3://${bucket}/runs/tr-1/best`);

    // A scoring worker given the pointer name scores with the promoted model.
    for (const f of [...datasetFiles('NORMAL', 1, 0), ...datasetFiles('PNEUMONIA', 1, 0)]) {
      await putObject(
        s3,
        bucket,
        `score-in/${path.basename(path.dirname(f))}/${path.basename(f)}`,
        readFileSync(f),
        'image/jpeg',
      );
    }
    await runCli(['score', `s3://${bucket}/score-in/`, '--out', `s3://${bucket}/score-out`, '--run-id', 'sc-1'], env);
    const scorer = spawn(process.execPath, [CLI, 'worker', '--concurrency', '1'], {
      env: { ...env, CXR_MODEL_URI: `s3://${bucket}/models/production` },
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true,
    });
    trainers.push(scorer);
    const preds = await waitFor('scoring with the promoted model', async () => {
      const text = await getBytesIfExists(s3, bucket, 'score-out/sc-1/predictions.jsonl');
      return text
        ? Buffer.from(text)
            .toString()
            .trim()
            .split('\n')
            .map((x) => JSON.parse(x) as { modelId: string })
        : undefined;
    });
    await killGroup(scorer, 'SIGTERM');
    expect(preds).toHaveLength(2);
    for (const p of preds) expect(p.modelId).toBe(pointer.modelId);
  }, 600_000);

  it('resumes from S3 after every trainer and Redis are killed mid-round; each round is merged exactly once', async () => {
    redis2 = await startRedisServer();
    const port = redis2.port;
    const env = { ...childEnv(config), REDIS_URL: redis2.url, CXR_FEATURE_DIR: featureDir };
    const args = [
      'train',
      '--data',
      `s3://${bucket}/data/`,
      '--out',
      `s3://${bucket}/runs`,
      '--run-id',
      'tr-2',
      '--epochs',
      '4',
      '--augment-copies',
      '0',
      ...COMMON,
    ];
    await runCli(args, env);
    const first = [startTrainer(env), startTrainer(env)];
    trainers.push(...first);
    const conn = testRedis({ ...config, redisUrl: redis2.url });
    const queue = new Queue(TRAIN_QUEUE, { connection: conn, prefix: config.queuePrefix });
    const killedIn = await waitFor(
      'a shard of round 2 or later to be running',
      async () => {
        const active = await queue.getActive();
        const j = active.find((a) => a.name === 'train-shard' && (a.data as ShardJobData).epoch >= 2);
        return j ? (j.data as ShardJobData).epoch : undefined;
      },
      300_000,
      50,
    );
    await queue.close();
    conn.disconnect();
    await Promise.all(first.map((t) => killGroup(t, 'SIGKILL')));
    await redis2.stop(); // no persistence: every queue, job and round marker is gone
    expect((await status('tr-2'))?.lastEpoch).toBeLessThan(4);

    redis2 = await startRedisServer(port);
    const resumed = await runCli(['train', '--resume', 'tr-2', '--out', `s3://${bucket}/runs`], env);
    expect(resumed.stdout.trim()).toBe('tr-2');
    trainers.push(startTrainer(env), startTrainer(env));
    await waitFor(
      'the resumed run to finish',
      async () => ((await status('tr-2'))?.status === 'done' ? true : undefined),
      300_000,
      500,
    );

    const l = trainLayout({ bucket, prefix: 'runs' }, 'tr-2');
    const history = (await getJsonIfExists<HistoryEntry[]>(s3, bucket, l.history))!;
    expect(history.map((h) => h.epoch)).toEqual([1, 2, 3, 4]);
    expect(await mergeLogCounts('tr-2', 4)).toEqual([1, 1, 1, 1, 1]);
    await checkMerges('tr-2', 4);
    expect(killedIn).toBeGreaterThanOrEqual(2);
  }, 600_000);
});
