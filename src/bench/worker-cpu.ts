// npm run bench:worker-cpu: CPU ms per image of each step of a worker's per-image path outside inference,
// measured one step at a time in this process (process.cpuUsage, sharp's threads included) on full-size
// JPEGs from the local S3 server: download (the worker's S3 client), the in-training-set hash, decode,
// preprocessing, and the part (prediction lines as JSON, one PUT per batch). CPU time, unlike wall time,
// moves little with other load on the machine; `npm run bench` gives the whole pipeline's figure.
// argv: --images N (default 64), --passes P (default 3; the first warms the JIT and is not counted).
import { parseArgs } from 'node:util';
import { caffePreprocess } from '../model/preprocess.js';
import { defaultModelDir } from '../model/classifier.js';
import { loadModelHashSet } from '../model/hash-set-file.js';
import { decodeInput } from '../shared/image/decode-input.js';
import { putObject } from '../shared/s3/objects.js';
import { downloadObject } from '../worker/download.js';
import { predictionExtras } from '../worker/prediction-extras.js';
import { withBenchStack } from './bench-stack.js';
import { uploadFullSizeImages } from './full-size-images.js';

const { values: v } = parseArgs({
  options: { images: { type: 'string', default: '64' }, passes: { type: 'string', default: '3' } },
});
const images = Number(v.images);
const passes = Math.max(2, Number(v.passes));
const batchSize = 16;
const SIZE = 224;

/** CPU ms per image of `fn` over all images. */
async function cpuMsPerImage<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const c0 = process.cpuUsage();
  const value = await fn();
  const c = process.cpuUsage(c0);
  return { ms: (c.user + c.system) / 1000 / images, value };
}

await withBenchStack('worker-cpu', 'worker-cpu', async ({ s3, bucket }) => {
  const n = await uploadFullSizeImages(s3, bucket, images, (i) => `x/${i}.jpeg`);
  const keys = Array.from({ length: n }, (_, i) => `x/${i}.jpeg`);
  const hashes = await loadModelHashSet(defaultModelDir());
  const input = new Float32Array(batchSize * SIZE * SIZE * 3);
  const steps: Record<string, number[]> = {};
  const add = (name: string, ms: number) => (steps[name] ??= []).push(ms);
  for (let pass = 0; pass < passes; pass++) {
    const got = await cpuMsPerImage(async () => {
      const out = [];
      for (const k of keys) out.push(await downloadObject(s3, bucket, k));
      return out;
    });
    const hashed = await cpuMsPerImage(async () => got.value.map((o) => hashes?.hasImage(o.bytes) ?? false));
    const decoded = await cpuMsPerImage(async () => {
      const out = [];
      for (const o of got.value) out.push(await decodeInput(o.bytes, SIZE));
      return out;
    });
    const pre = await cpuMsPerImage(async () =>
      decoded.value.forEach((d, i) => caffePreprocess(d.rgb, input, (i % batchSize) * SIZE * SIZE * 3)),
    );
    const part = await cpuMsPerImage(async () => {
      for (let b = 0; b * batchSize < n; b++) {
        const lines = keys.slice(b * batchSize, (b + 1) * batchSize).map((key, i) =>
          JSON.stringify({
            type: 'prediction',
            key,
            etag: got.value[b * batchSize + i].etag,
            label: 'NORMAL',
            probability: 0.1,
            threshold: 0.32,
            modelId: '608995ba4d98d4f2',
            modelName: 'pneumonia-resnet50',
            modelVersion: '2.1.0',
            timings: { downloadMs: 1.2, decodeMs: 3.4, inferenceMs: 5.6 },
            ...predictionExtras(undefined, 1234.5, 2000, hashed.value[b * batchSize + i]),
          }),
        );
        await putObject(s3, bucket, `out/part-${b}.jsonl`, lines.join('\n') + '\n', 'application/x-ndjson');
      }
    });
    if (pass === 0) continue; // JIT warm-up
    add('download (S3 GetObject)', got.ms);
    add('in-training-set hash', hashed.ms);
    add('decode', decoded.ms);
    add('preprocess (caffe, JS)', pre.ms);
    add('part (JSON lines + PUT per batch)', part.ms);
  }
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const perStep = Object.fromEntries(Object.entries(steps).map(([k, xs]) => [k, Math.round(mean(xs) * 100) / 100]));
  const total = Object.values(perStep).reduce((s, x) => s + x, 0);
  const besidesDecode = total - perStep.decode;
  console.log(
    `CPU ms per image, ${n} full-size JPEGs, mean of ${passes - 1} passes (one process, steps one at a time):`,
  );
  for (const [k, ms] of Object.entries(perStep)) console.log(`${k.padEnd(36)} ${ms.toFixed(2)}`);
  console.log(`${'total besides decode'.padEnd(36)} ${besidesDecode.toFixed(2)}`);
  console.log(
    JSON.stringify({
      images: n,
      passes: passes - 1,
      cpuMsPerImage: perStep,
      totalBesidesDecode: Math.round(besidesDecode * 100) / 100,
    }),
  );
});
