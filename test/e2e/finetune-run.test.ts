import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClassifier } from '../../src/model/classifier.js';
import { loadEngine } from '../../src/model/engine.js';
import { cachedS3Model } from '../../src/model/io/s3-io.js';
import { readMetadata } from '../../src/model/metadata.js';
import { caffePreprocess } from '../../src/model/preprocess.js';
import { decodeToRgb } from '../../src/shared/image/decode.js';
import type { Config } from '../../src/shared/config.js';
import { getBytesIfExists, getJsonIfExists, putObject } from '../../src/shared/s3/objects.js';
import { trainLayout } from '../../src/train-queue/layout.js';
import type { RunStatusDoc, ShardResult } from '../../src/train-queue/types.js';
import { CLI, runCli, waitFor } from '../helpers/cli.js';
import { datasetFiles } from '../helpers/dataset.js';
import { childEnv, freshBucket, testConfig, testS3 } from '../helpers/services.js';

const K = 2;
const PX = 224 * 224 * 3;
// Images per class: enough for a patient split and two shards of a few batches each; the count itself proves
// nothing here, and every image costs a prefix pass, a training step share and three adapt passes.
const PER_CLASS = 8;
const f32 = (b: Uint8Array) => new Float32Array(b.slice().buffer);

describe('fine-tuning ResNet50 stage 5 on the train queue (K=2 trainer processes, WASM kernels, ONNX prefix)', () => {
  let config: Config;
  let s3: S3Client;
  let bucket: string;
  const dirs: string[] = [];
  const trainers: ChildProcess[] = [];
  const tmp = (p: string) => {
    const d = mkdtempSync(path.join(os.tmpdir(), p));
    dirs.push(d);
    return d;
  };

  beforeAll(async () => {
    config = testConfig();
    s3 = testS3(config);
    bucket = await freshBucket(s3);
    const files = [
      ...datasetFiles('NORMAL', PER_CLASS, 300).map((f) => ['NORMAL', f]),
      ...datasetFiles('PNEUMONIA', PER_CLASS, 300).map((f) => ['PNEUMONIA', f]),
    ];
    for (const [label, file] of files)
      await putObject(s3, bucket, `data/${label}/${path.basename(file)}`, readFileSync(file), 'image/jpeg');
  });

  afterAll(async () => {
    for (const t of trainers) {
      try {
        process.kill(-t.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    s3?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('trains one round on two shards, merges by samples seen, and exports a model both engines agree on', async () => {
    const env = {
      ...childEnv(config),
      CXR_FEATURE_DIR: tmp('cxr-feat-'),
      CXR_ACTIVATION_DIR: tmp('cxr-act-'),
      TFJS_BACKEND: 'wasm',
    };
    const args = [
      'train',
      '--data',
      `s3://${bucket}/data/`,
      '--out',
      `s3://${bucket}/runs`,
      '--run-id',
      'ft-1',
      '--train-from',
      'conv5',
      '--shards',
      String(K),
      '--epochs',
      '1',
      '--augment-copies',
      '1',
      '--batch-size',
      '4',
      '--val-fraction',
      '0.25',
      '--holdout-fraction',
      '0',
      '--min-epochs',
      '1',
      '--lr',
      '0.0005',
      '--lr-schedule',
      'constant',
    ];
    expect((await runCli(args, env)).stdout.trim()).toBe('ft-1');
    for (let i = 0; i < K; i++)
      trainers.push(
        spawn(process.execPath, [CLI, 'worker', '--queues', 'train', '--concurrency', '1'], {
          env,
          stdio: ['ignore', 'ignore', 'inherit'],
          detached: true,
        }),
      );
    const l = trainLayout({ bucket, prefix: 'runs' }, 'ft-1');
    await waitFor(
      'the fine-tune run to finish',
      async () => ((await getJsonIfExists<RunStatusDoc>(s3, bucket, l.status))?.status === 'done' ? true : undefined),
      600_000,
      1000,
    );

    // Merged state = sample-weighted mean of the two shards' weights; the suffix moved away from the round-0 state.
    const shards = await Promise.all(
      Array.from({ length: K }, async (_, s) => ({
        r: (await getJsonIfExists<ShardResult>(s3, bucket, l.shardJson(1, s)))!,
        w: f32((await getBytesIfExists(s3, bucket, l.shardBin(1, s)))!),
      })),
    );
    expect(new Set(shards.map((s) => s.r.pid)).size).toBe(K); // two trainer processes
    const total = shards.reduce((t, s) => t + s.r.samples, 0);
    const spec = (await getJsonIfExists<{ train: unknown[] }>(s3, bucket, l.spec))!;
    expect(total).toBe(spec.train.length); // each training image once per round (one copy drawn per round)
    const state = f32((await getBytesIfExists(s3, bucket, l.epochState(1)))!);
    const start = f32((await getBytesIfExists(s3, bucket, l.epochState(0)))!);
    expect(state.length).toBe(shards[0].w.length);
    let maxErr = 0;
    let moved = 0;
    for (let j = 0; j < state.length; j++) {
      const want = shards.reduce((a, s) => a + (s.r.samples / total) * s.w[j], 0);
      maxErr = Math.max(maxErr, Math.abs(state[j] - want));
      if (Math.abs(state[j] - start[j]) > 1e-7) moved++;
    }
    expect(maxErr).toBeLessThan(1e-6);
    expect(moved).toBeGreaterThan(state.length / 2); // the conv5 kernels, not only the head, changed

    // The exported folder loads on both engines and they agree within 1e-4.
    const dir = await cachedS3Model(s3, `s3://${bucket}/runs/ft-1/epoch-1`, tmp('cxr-models-'));
    const meta = await readMetadata(dir);
    expect(meta.backbone.featureLayer).toBe('activation_39');
    expect(meta.trainFrom).toBe('conv5');
    const input = new Float32Array(4 * PX);
    for (const [i, f] of [...datasetFiles('NORMAL', 2, 0), ...datasetFiles('PNEUMONIA', 2, 0)].entries())
      caffePreprocess((await decodeToRgb(await readFile(f), 224)).rgb, input, i * PX);
    const tfjs = await loadClassifier({ modelUri: dir });
    const onnx = await loadEngine({ engine: 'onnx', modelUri: dir, threads: 1, cacheDir: tmp('cxr-onnx-') });
    try {
      expect(onnx.info.id).toBe(meta.id);
      const [a, b] = [await tfjs.predict(input, 4), await onnx.predict(input, 4)];
      expect(Math.max(...Array.from(a, (p, i) => Math.abs(p - b[i])))).toBeLessThan(1e-4);
    } finally {
      tfjs.dispose();
      onnx.dispose();
    }

    // Label-free adaptation: the training images as reference leave the weights alone; the same images as a
    // "site" change nothing; a darker, lower-contrast site moves the model and gets a new id with provenance.
    const ref = tmp('cxr-ref-');
    await runCli(
      ['models', 'adapt', '--model', dir, '--data', `s3://${bucket}/data/`, '--out', ref, '--as-reference'],
      env,
    );
    expect(
      Buffer.compare(readFileSync(path.join(ref, 'weights.bin')), readFileSync(path.join(dir, 'weights.bin'))),
    ).toBe(0);
    const same = tmp('cxr-same-');
    await runCli(['models', 'adapt', '--model', ref, '--data', `s3://${bucket}/data/`, '--out', same], env);
    for (const f of [...datasetFiles('NORMAL', PER_CLASS, 300), ...datasetFiles('PNEUMONIA', PER_CLASS, 300)]) {
      const dark = await sharp(readFileSync(f)).linear(0.6, -10).blur(1.5).jpeg().toBuffer();
      await putObject(s3, bucket, `site/${path.basename(f)}`, dark, 'image/jpeg');
    }
    const site = tmp('cxr-site-');
    await runCli(['models', 'adapt', '--model', ref, '--data', `s3://${bucket}/site/`, '--out', site], env);
    const [mRef, mSame, mSite] = await Promise.all([ref, same, site].map((d) => readMetadata(d)));
    expect(mSite.id).not.toBe(mRef.id);
    expect((mSite.provenance as Array<{ from: string }>).at(-1)!.from).toBe(mRef.id);
    const score = async (d: string) => {
      const c = await loadClassifier({ modelUri: d });
      try {
        return await c.predict(input, 4);
      } finally {
        c.dispose();
      }
    };
    const [pRef, pSame, pSite] = [await score(ref), await score(same), await score(site)];
    expect(Math.max(...Array.from(pRef, (p, i) => Math.abs(p - pSame[i])))).toBeLessThan(1e-3);
    expect(Math.max(...Array.from(pRef, (p, i) => Math.abs(p - pSite[i])))).toBeGreaterThan(1e-3);
    expect(mSame.id).not.toBe(mRef.id); // a new version even when nothing moved
  }, 900_000);
});
