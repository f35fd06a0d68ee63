import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../../src/shared/config.js';
import { SCORE_QUEUE } from '../../src/shared/queue.js';
import { RunStore } from '../../src/run/run-store.js';
import { getTextIfExists, putObject } from '../../src/shared/s3/objects.js';
import type { BatchJobData, FailureLine, PartMeta, PredictionLine, RunManifest } from '../../src/run/types.js';
import { batchItemsOf } from '../../src/run/batch-items.js';
import { readAllItems } from '../../src/run/run-record.js';
import type { RunMetrics } from '../../src/run/run-metrics.js';
import { datasetFiles } from '../helpers/dataset.js';
import { childEnv, freshBucket, testConfig, testRedis, testS3 } from '../helpers/services.js';
import { runCli, startCliWorker, stopProcess, waitFor } from '../helpers/cli.js';

const RUN = 'it-run-1';

// 'auto' is the default: on this CPU host, with the shipped model's passing int8-parity.json, INT8.
describe.each(['tfjs', 'onnx', 'auto'] as const)(
  'scoring a bucket end to end on the %s engine (real Redis, real S3 server, two worker processes)',
  (engine) => {
    let config: Config;
    let s3: S3Client;
    let redis: Redis;
    let queue: Queue;
    let store: RunStore;
    let bucket: string;
    let env: NodeJS.ProcessEnv;
    const workers: ChildProcess[] = [];
    const truth = new Map<string, 'NORMAL' | 'PNEUMONIA'>();
    const bad = new Map<string, RegExp>();

    const read = async (name: string) => (await getTextIfExists(s3, bucket, `out/${RUN}/${name}`)) ?? '';
    const jsonl = <T>(text: string) =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as T);
    const jobTotal = async () => Object.values(await queue.getJobCounts()).reduce((s, n) => s + n, 0);
    const runDone = () =>
      waitFor('the run to finish', async () =>
        (await store.get(RUN))?.status === 'done-with-failures' ? true : undefined,
      );

    beforeAll(async () => {
      config = testConfig();
      env = { ...childEnv(config), CXR_ENGINE: engine };
      s3 = testS3(config);
      redis = testRedis(config);
      queue = new Queue(SCORE_QUEUE, { connection: redis, prefix: config.queuePrefix });
      store = new RunStore(redis, config.queuePrefix);
      bucket = await freshBucket(s3);
      const files = [
        ...datasetFiles('NORMAL', 5).map((f) => ['NORMAL', f] as const),
        ...datasetFiles('PNEUMONIA', 7).map((f) => ['PNEUMONIA', f] as const),
      ];
      for (const [label, file] of files) {
        const key = `in/${label}/${path.basename(file)}`;
        truth.set(key, label);
        await putObject(s3, bucket, key, readFileSync(file), 'image/jpeg');
      }
      const jpeg = readFileSync(files[0][1]);
      await putObject(
        s3,
        bucket,
        'in/PNEUMONIA/corrupt.jpeg',
        jpeg.subarray(0, Math.floor(jpeg.length / 3)),
        'image/jpeg',
      );
      await putObject(s3, bucket, 'in/NORMAL/empty.jpeg', new Uint8Array(0), 'image/jpeg');
      await putObject(s3, bucket, 'in/NORMAL/notes.jpeg', 'radiologist notes, not an image\n', 'image/jpeg');
      bad.set('in/PNEUMONIA/corrupt.jpeg', /corrupt jpeg data/);
      bad.set('in/NORMAL/empty.jpeg', /empty object \(0 bytes\)/);
      bad.set('in/NORMAL/notes.jpeg', /not a readable image/);
    });

    afterAll(async () => {
      await Promise.all(workers.map((w) => stopProcess(w)));
      await queue?.close();
      redis?.disconnect();
      s3?.destroy();
    });

    it('enqueues a run once, however often score is repeated', async () => {
      const args = ['score', `s3://${bucket}/in/`, '--out', `s3://${bucket}/out`, '--batch-size', '4', '--run-id', RUN];
      const first = await runCli(args, env);
      expect(first.stdout.trim()).toBe(RUN);
      expect(await jobTotal()).toBe(4); // 15 keys in batches of 4
      await runCli(args, env);
      expect(await jobTotal()).toBe(4);
    });

    it('scores every key exactly once with two workers, failing bad objects alone', async () => {
      workers.push(startCliWorker(['--concurrency', '1'], env), startCliWorker(['--concurrency', '1'], env));
      await runDone();

      const predictions = jsonl<PredictionLine>(await read('predictions.jsonl'));
      const failures = jsonl<FailureLine>(await read('failures.jsonl'));
      const seen = [...predictions, ...failures].map((l) => l.key).sort();
      expect(seen).toEqual([...truth.keys(), ...bad.keys()].sort());
      for (const [key, reason] of bad) expect(failures.find((f) => f.key === key)?.reason).toMatch(reason);
      expect(failures).toHaveLength(3);
      for (const p of predictions) {
        expect(p.probability).toBeGreaterThanOrEqual(0);
        expect(p.probability).toBeLessThanOrEqual(1);
        expect(p.label).toBe(p.probability >= p.threshold ? 'PNEUMONIA' : 'NORMAL');
        expect(p.modelId).toMatch(/^[0-9a-f]{16,}$/);
      }
      const csv = (await read('predictions.csv')).trim().split('\n');
      expect(csv[0]).toBe('key,etag,label,probability,threshold,model_id,model_version,true_label');
      expect(csv).toHaveLength(predictions.length + 1);
      const manifest = JSON.parse(await read('manifest.json')) as RunManifest;
      expect(manifest).toMatchObject({ totalKeys: 15, totalBatches: 4, skipped: 0 });
      expect((await readAllItems(s3, manifest)).map((i) => i.key).sort()).toEqual(
        [...truth.keys(), ...bad.keys()].sort(),
      );

      // The confusion matrix, computed here from the labels the test uploaded.
      const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
      for (const p of predictions) {
        const actual = truth.get(p.key) === 'PNEUMONIA';
        const called = p.label === 'PNEUMONIA';
        c[actual ? (called ? 'tp' : 'fn') : called ? 'fp' : 'tn']++;
      }
      const metrics = JSON.parse(await read('metrics.json')) as RunMetrics;
      expect(metrics.classification?.confusion).toEqual(c);
      expect(metrics.classification?.accuracy).toBeCloseTo((c.tp + c.tn) / predictions.length, 10);
      expect(metrics.counts).toMatchObject({ total: 15, scored: 12, failed: 3, labelled: 12 });
      expect(metrics.throughput.stages.inference.imagesPerSec).toBeGreaterThan(0);
      expect(metrics.backends.length).toBeGreaterThan(0);
      const expected = { tfjs: /^(?!onnxruntime)/, onnx: /^onnxruntime-cpu$/, auto: /^onnxruntime-cpu-int8$/ }[engine];
      expect(metrics.backends.every((b) => expected.test(b))).toBe(true);
      const state = await store.get(RUN);
      expect(state).toMatchObject({ scored: 12, failed: 3, doneBatches: 4, totalBatches: 4 });
      // A sandboxed slot scores one batch at a time: its part meta carries the CPU each stage took.
      const meta = JSON.parse(await read('parts/000000.meta.json')) as PartMeta;
      expect(meta.stageCpuMs?.decode).toBeGreaterThan(0);
      expect(meta.stageCpuMs?.inference).toBeGreaterThan(0);
    }, 300_000); // two workers load the model first: minutes on a loaded 2-core machine

    // Resume is the run's, not the engine's: once is enough (the ONNX pass; test/run/coordination.test.ts covers
    // resume in process, the fault suite the CLI's generation line and -g1 batch ids).
    it.runIf(engine === 'onnx')(
      '--resume re-scores only the keys without a prediction, under the same batch ids',
      async () => {
        const before = jsonl<PredictionLine>(await read('predictions.jsonl'));
        const lostPart = jsonl<PredictionLine | FailureLine>(
          (await getTextIfExists(s3, bucket, `out/${RUN}/parts/000001.jsonl`))!,
        );
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `out/${RUN}/parts/000001.jsonl` }));
        const expected = new Set([...lostPart.filter((l) => l.type === 'prediction').map((l) => l.key), ...bad.keys()]);

        const resumed = await runCli(['score', '--resume', RUN], env);
        expect(resumed.stderr).toMatch(
          new RegExp(
            `attempt generation 1: ${expected.size} keys without a prediction re-enqueued in \\d of 4 batches`,
          ),
        );
        const state = await store.get(RUN);
        expect(state).toMatchObject({ totalBatches: 4, generation: 1 });
        const newJobs = (
          await Promise.all(
            Array.from({ length: 4 }, (_, b) => queue.getJob(`${RUN}-b${String(b).padStart(6, '0')}-g1`)),
          )
        )
          .filter((j) => Boolean(j))
          .map((j) => j!);
        // Each job names its plan shard; its keys are that shard's line for the batch.
        expect(
          newJobs.every((j) => (j.data as BatchJobData).planShard?.startsWith(`out/${RUN}/generations/000001/`)),
        ).toBe(true);
        const resumedKeys = (await Promise.all(newJobs.map((j) => batchItemsOf(s3, j.data as BatchJobData))))
          .flat()
          .map((i) => i.key);
        expect(new Set(resumedKeys)).toEqual(expected);
        expect(resumedKeys).toHaveLength(expected.size);
        expect(await queue.getJob(`${RUN}-b000004`)).toBeFalsy();

        await runDone();
        const after = jsonl<PredictionLine>(await read('predictions.jsonl'));
        expect(after.map((p) => p.key).sort()).toEqual(before.map((p) => p.key).sort());
        expect(
          jsonl<FailureLine>(await read('failures.jsonl'))
            .map((f) => f.key)
            .sort(),
        ).toEqual([...bad.keys()].sort());
      },
    );
  },
);
