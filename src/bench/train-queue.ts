// Experiment: sharded training through the train queue (K = 1, 2, 4) vs single-process trainHead on the
// same split and epoch budget, plus trainer throughput (one vs two trainers) and merge overhead per round.
// Uses cached GAP features only (models/.cache/features, copy 0), so it runs in minutes. Not a timed test.
//   npx tsc -p . && node dist/bench/train-queue.js [--images 1000] [--epochs 15] [--seed 42] [--out FILE]
//   node dist/bench/train-queue.js --images 200 --extract 64     (round 0 only: extraction images/s, 1 vs 2 trainers)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { backboneHash } from '../model/backbone.js';
import { listDataset, type ImageItem } from '../model/train/dataset.js';
import { defaultFeatureDir, featurePath, hasFeature } from '../model/train/features.js';
import { trainHead } from '../model/train/head-train.js';
import { loadFeatureSet } from '../model/train/load-features.js';
import { parseTrainArgs } from '../model/train/options.js';
import { limitItems } from '../model/train/plan.js';
import { createLogger } from '../shared/logger.js';
import { repoRoot } from '../shared/paths.js';
import { createRedis } from '../shared/queue.js';
import { ensureBucket } from '../shared/s3/bucket.js';
import { createS3Client } from '../shared/s3/client.js';
import { getJsonIfExists, putObject } from '../shared/s3/objects.js';
import { ensureLocalStack } from '../shared/services/local-stack.js';
import { createTrainQueue } from '../train-queue/jobs.js';
import { trainLayout } from '../train-queue/layout.js';
import { evaluateHead } from '../train-queue/local-train.js';
import { readHistory, readStatus } from '../train-queue/run-io.js';
import { tolerant } from '../train-queue/progress.js';
import { startTrainRun } from '../train-queue/start-run.js';
import type { HistoryEntry, TrainRunSpec } from '../train-queue/types.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const N = Number(arg('images', '1000'));
const EPOCHS = Number(arg('epochs', '15'));
const OUT = arg('out', '');
const SEED = Number(arg('seed', '42'));
/** > 0: only measure round 0 (feature extraction from S3 images) on this many images, 1 vs 2 trainers, empty feature cache. */
const EXTRACT = Number(arg('extract', '0'));
const DATASET = path.resolve(repoRoot(), '..', 'shared', 'datasets', 'chest-xray-pneumonia', 'train');
const log = (s: string) => process.stderr.write(s + '\n');
const CLI = path.join(repoRoot(), 'dist', 'cli', 'index.js');

interface RunReport {
  label: string;
  shards: number;
  trainers: number;
  epochs: number;
  best: { epoch: number; valLoss: number; valAccuracy: number };
  last: HistoryEntry;
  trainImagesPerSec: number;
  shardImagesPerSec: number;
  medianRoundSeconds: number;
  medianMergeSeconds: number;
}

async function main(): Promise<void> {
  const bb = await backboneHash();
  const root = defaultFeatureDir();
  const all = await listDataset(DATASET);
  const cached: ImageItem[] = [];
  for (const it of all) if (await hasFeature(featurePath(root, bb, it.sha256, 0))) cached.push(it);
  const items = limitItems(cached, N, SEED);
  log(`dataset: ${all.length} images, ${cached.length} with cached features; using ${items.length}`);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cxr-bench-train-'));
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.REDIS_URL;
  delete env.S3_ENDPOINT;
  const stack = await ensureLocalStack(env, path.join(tmp, 's3'));
  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    REDIS_URL: stack.redisUrl,
    S3_ENDPOINT: stack.s3Endpoint,
    CXR_QUEUE_PREFIX: 'bench',
    LOG_LEVEL: 'warn',
    CXR_FEATURE_DIR: root,
  };
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY,
  });
  const s3 = createS3Client({ endpoint: stack.s3Endpoint, region: 'us-east-1', forcePathStyle: true });
  const redis = createRedis(stack.redisUrl);
  const queue = createTrainQueue(redis, 'bench');
  const logger = createLogger({ role: 'bench' });
  const bucket = 'bench';
  const trainers: ChildProcess[] = [];
  const stopTrainers = async () => {
    await Promise.all(
      trainers.splice(0).map(
        (t) =>
          new Promise((r) => {
            t.once('exit', r);
            t.kill('SIGTERM');
          }),
      ),
    );
  };
  try {
    await ensureBucket(s3, bucket);
    const byKey = new Map<string, ImageItem>();
    for (const it of items) {
      const key = `data/${it.label === 1 ? 'PNEUMONIA' : 'NORMAL'}/${path.basename(it.path)}`;
      byKey.set(key, it);
      await putObject(s3, bucket, key, readFileSync(it.path), 'image/jpeg');
    }
    const base = parseTrainArgs([
      '--data',
      'x',
      '--epochs',
      String(EPOCHS),
      '--augment-copies',
      '0',
      '--seed',
      String(SEED),
    ]);
    const { data: _d, out: _o, workers: _w, extractOnly: _e, featuresReadyOnly: _f, ...recipe } = base;
    const out = { bucket, prefix: 'runs' };

    const startTrainers = (n: number) => {
      for (let i = 0; i < n; i++)
        trainers.push(
          spawn(process.execPath, [CLI, 'worker', '--queues', 'train', '--concurrency', '1'], {
            env: childEnv,
            stdio: ['ignore', 'ignore', 'inherit'],
          }),
        );
    };

    const runOnce = async (label: string, shards: number, nTrainers: number, epochs: number): Promise<RunReport> => {
      startTrainers(nTrainers);
      const runId = `bench-${label}`;
      await startTrainRun(
        { s3, queue, logger },
        {
          runId,
          data: { bucket, prefix: 'data/' },
          out,
          shards,
          localEpochs: 1,
          recipe: { ...recipe, epochs },
          backboneSha256: bb,
        },
      );
      const started = Date.now();
      for (;;) {
        const st = await tolerant(() => readStatus(s3, out, runId));
        if (st?.status === 'done') break;
        await new Promise((r) => setTimeout(r, 500));
      }
      await stopTrainers();
      const l = trainLayout(out, runId);
      const history = await readHistory(s3, out, runId);
      const metrics = await Promise.all(
        Array.from({ length: history.length + 1 }, (_, e) =>
          getJsonIfExists<{
            mergedAt: string;
            mergeSeconds: number;
            samples?: number;
            shards: { samples?: number; seconds: number }[];
          }>(s3, bucket, l.epochMetrics(e)),
        ),
      );
      const at = metrics.map((m) => Date.parse(m!.mergedAt));
      const rounds = at.slice(1).map((t, i) => (t - at[i]) / 1000);
      const med = (xs: number[]) => {
        const s = [...xs].sort((a, b) => a - b);
        return s[Math.floor(s.length / 2)];
      };
      const trained = metrics.slice(1);
      const samples = trained.reduce((s, m) => s + (m!.samples ?? 0), 0);
      const shardSecs = trained.reduce((s, m) => s + m!.shards.reduce((a, x) => a + x.seconds, 0), 0);
      const spec = (await getJsonIfExists<TrainRunSpec>(s3, bucket, l.spec))!;
      const bestEpoch = (await readStatus(s3, out, runId))!.bestEpoch!;
      const b = history.find((h) => h.epoch === bestEpoch)!;
      log(
        `${label}: ${((Date.now() - started) / 1000).toFixed(1)} s, train ${spec.train.length}, best epoch ${bestEpoch} val loss ${b.valLoss.toFixed(4)} acc ${b.valAccuracy.toFixed(4)}`,
      );
      return {
        label,
        shards,
        trainers: nTrainers,
        epochs: history.length,
        best: { epoch: bestEpoch, valLoss: b.valLoss, valAccuracy: b.valAccuracy },
        last: history[history.length - 1],
        trainImagesPerSec: spec.train.length / med(rounds),
        shardImagesPerSec: samples / shardSecs,
        medianRoundSeconds: med(rounds),
        medianMergeSeconds: med(trained.map((m) => m!.mergeSeconds)),
      };
    };

    if (EXTRACT > 0) {
      // Round 0 only: every shard downloads and decodes its images and runs the frozen backbone.
      const subset = limitItems([...byKey.values()], EXTRACT, SEED);
      const rows: unknown[] = [];
      for (const n of [1, 2]) {
        childEnv.CXR_FEATURE_DIR = mkdtempSync(path.join(tmp, 'feat-'));
        startTrainers(n);
        const runId = `bench-extract-${n}`;
        const t0 = Date.now();
        await startTrainRun(
          { s3, queue, logger },
          {
            runId,
            data: { bucket, prefix: 'data/' },
            out,
            shards: 2,
            localEpochs: 1,
            recipe: { ...recipe, epochs: 1, limit: subset.length, valFraction: 0.05 },
            backboneSha256: bb,
          },
        );
        const l = trainLayout(out, runId);
        const results = await (async () => {
          for (;;) {
            const r = await Promise.all(
              [0, 1].map((s) =>
                tolerant(() =>
                  getJsonIfExists<{ extracted: number; finishedAt: string; seconds: number }>(
                    s3,
                    bucket,
                    l.shardJson(0, s),
                  ),
                ),
              ),
            );
            if (r.every(Boolean)) return r.map((x) => x!);
            await new Promise((res) => setTimeout(res, 250));
          }
        })();
        await stopTrainers();
        await queue.obliterate({ force: true }); // the run's later jobs must not warm the next measurement's cache
        const wall = (Math.max(...results.map((r) => Date.parse(r.finishedAt))) - t0) / 1000;
        const extracted = results.reduce((a, r) => a + r.extracted, 0);
        rows.push({
          trainers: n,
          extracted,
          wallSeconds: wall,
          imagesPerSec: extracted / wall,
          shardSeconds: results.map((r) => r.seconds),
        });
        log(
          `extract with ${n} trainer(s): ${extracted} feature vectors in ${wall.toFixed(1)} s = ${(extracted / wall).toFixed(2)} images/s`,
        );
      }
      process.stdout.write(JSON.stringify({ extract: rows }, null, 2) + '\n');
      return;
    }
    const reports: RunReport[] = [];
    for (const k of [1, 2, 4]) reports.push(await runOnce(`k${k}`, k, 2, EPOCHS));
    reports.push(await runOnce('k2-one-trainer', 2, 1, Math.min(EPOCHS, 5)));

    // Single process on the same split (run.json of the K=1 run), same recipe and epoch budget.
    const spec = (await getJsonIfExists<TrainRunSpec>(s3, bucket, trainLayout(out, 'bench-k1').spec))!;
    const toItems = (xs: TrainRunSpec['train']) => xs.map((x) => byKey.get(x.key)!);
    const train = await loadFeatureSet(toItems(spec.train), [0], root, bb, false);
    const val = await loadFeatureSet(toItems(spec.val), [0], root, bb, false);
    await tf.setBackend('cpu');
    const t0 = Date.now();
    const single = trainHead(train.set, val.set, { ...recipe, epochs: EPOCHS });
    const sec = (Date.now() - t0) / 1000;
    const ev = evaluateHead(val.set, single.kernel, single.bias);
    const singleReport = {
      label: 'trainHead (single process)',
      epochs: single.epochsRun,
      best: { epoch: single.bestEpoch, valLoss: ev.loss, valAccuracy: ev.accuracy },
      seconds: sec,
      trainImagesPerSec: (train.set.n * single.epochsRun) / sec,
    };
    log(
      `single: best epoch ${single.bestEpoch} val loss ${ev.loss.toFixed(4)} acc ${ev.accuracy.toFixed(4)} (${sec.toFixed(1)} s)`,
    );
    const summary = {
      images: items.length,
      train: spec.train.length,
      val: spec.val.length,
      epochs: EPOCHS,
      recipe: { ...recipe, epochs: EPOCHS },
      single: singleReport,
      queue: reports,
      host: { cpus: os.cpus().length },
    };
    const text = JSON.stringify(summary, null, 2);
    if (OUT) writeFileSync(OUT, text + '\n');
    process.stdout.write(text + '\n');
  } finally {
    await stopTrainers();
    await queue.close();
    redis.disconnect();
    s3.destroy();
    await stack.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
