// npm run bench: raw model vs. pipeline images/s on the same backend and batch size, and list+enqueue time.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { createRun } from '../producer/create-run.js';
import { enqueueBatches, planBatches } from '../producer/enqueue-batches.js';
import { listImages } from '../producer/list-images.js';
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { createRedis, createScoreQueue } from '../shared/queue.js';
import { RunStore } from '../shared/run/run-store.js';
import type { RunManifest } from '../shared/run/types.js';
import { ensureBucket } from '../shared/s3/bucket.js';
import { createS3Client } from '../shared/s3/client.js';
import { putObject } from '../shared/s3/objects.js';
import { ensureLocalStack } from '../shared/services/local-stack.js';
import { repoRoot } from '../shared/paths.js';
import { startWorkers } from '../worker/start-worker.js';
import { listClassFolders } from '../demo/upload-sample.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const batchSize = arg('batch-size', 16);
const images = arg('images', 96);
const concurrency = arg('concurrency', os.availableParallelism());
const listKeys = arg('list-keys', 5000);
const enqueueKeys = arg('enqueue-keys', 100_000);
const run = promisify(execFile);
const log = (s: string) => process.stderr.write(s + '\n');

async function rawImagesPerSec(): Promise<{ backend: string; imagesPerSec: number }> {
  const child = path.join(repoRoot(), 'dist', 'bench', 'raw-model.js');
  const perProcess = Math.max(1, Math.round(images / batchSize / concurrency));
  const results = await Promise.all(
    Array.from({ length: concurrency }, () => run(process.execPath, [child, String(batchSize), String(perProcess)], { env: process.env, maxBuffer: 1 << 24 })),
  );
  const parsed = results.map((r) => JSON.parse(r.stdout.trim().split('\n').pop()!) as { backend: string; images: number; seconds: number });
  return { backend: parsed[0].backend, imagesPerSec: parsed.reduce((s, p) => s + p.images / p.seconds, 0) };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cxr-bench-s3-'));
  const stack = await ensureLocalStack(process.env, dataDir);
  const config = loadConfig({ ...process.env, REDIS_URL: stack.redisUrl, S3_ENDPOINT: stack.s3Endpoint, CXR_QUEUE_PREFIX: `bench${Date.now()}` });
  Object.assign(process.env, { REDIS_URL: config.redisUrl, S3_ENDPOINT: config.s3.endpoint, CXR_QUEUE_PREFIX: config.queuePrefix, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const logger = createLogger({ role: 'bench' });
  const s3 = createS3Client(config.s3);
  const redis = createRedis(config.redisUrl);
  const queue = createScoreQueue(redis, config.queuePrefix);
  const store = new RunStore(redis, config.queuePrefix);
  const bucket = 'bench';
  await ensureBucket(s3, bucket);
  try {
    // Full-size inputs: the shared set is 224x224, originals are 1-3 megapixels.
    const groups = await listClassFolders(path.resolve(repoRoot(), '..', 'shared', 'datasets', 'chest-xray-pneumonia', 'train'));
    const files = [...groups.values()].flat().filter((_, i) => i % 7 === 0).slice(0, images);
    const up = pLimit(8);
    await Promise.all(
      files.map((f, i) =>
        up(async () => {
          const big = await sharp(readFileSync(f.file)).resize(1600, 1300, { fit: 'fill' }).greyscale().jpeg({ quality: 92 }).toBuffer();
          await putObject(s3, bucket, `xr/${i < batchSize * concurrency ? 'warm' : 'main'}/${f.label}/${i}.jpeg`, big, 'image/jpeg');
        }),
      ),
    );
    const warmCount = Math.min(batchSize * concurrency, files.length);
    const mainCount = files.length - warmCount;
    log(`uploaded ${files.length} images (1600x1300 JPEG): ${warmCount} warm-up, ${mainCount} measured`);

    log(`raw model: ${concurrency} process(es), batch ${batchSize} ...`);
    const raw = await rawImagesPerSec();

    const workers = startWorkers({ redisUrl: config.redisUrl, prefix: config.queuePrefix, logger, concurrency });
    const waitDone = async (runId: string) => {
      while ((await store.get(runId))?.status !== 'done') await new Promise((r) => setTimeout(r, 200));
    };
    await createRun({ s3, queue, store, logger }, { runId: 'warm', source: { bucket, prefix: 'xr/warm/' }, out: { bucket, prefix: 'out' }, batchSize });
    await waitDone('warm');
    log('pipeline: measuring ...');
    const t0 = performance.now();
    await createRun({ s3, queue, store, logger }, { runId: 'main', source: { bucket, prefix: 'xr/main/' }, out: { bucket, prefix: 'out' }, batchSize });
    await waitDone('main');
    const pipelineImagesPerSec = mainCount / ((performance.now() - t0) / 1000);
    await Promise.all(workers.map((w) => w.close()));

    log(`listing ${listKeys} keys ...`);
    const lim = pLimit(32);
    await Promise.all(Array.from({ length: listKeys }, (_, i) => lim(() => putObject(s3, bucket, `many/${String(i).padStart(7, '0')}.jpeg`, 'x', 'image/jpeg'))));
    let t = performance.now();
    const listed = await listImages(s3, { bucket, prefix: 'many/' });
    const listSeconds = (performance.now() - t) / 1000;

    log(`enqueueing ${enqueueKeys} keys ...`);
    const items = Array.from({ length: enqueueKeys }, (_, i) => ({ key: `xr/${String(i).padStart(7, '0')}.jpeg`, etag: 'e'.repeat(32), size: 1 }));
    const manifest = { runId: 'enqueue', batchSize, source: { bucket, prefix: 'xr/' }, out: { bucket, prefix: 'out' }, items } as unknown as RunManifest;
    const benchQueue = createScoreQueue(redis, `${config.queuePrefix}e`);
    t = performance.now();
    await enqueueBatches(benchQueue, planBatches(manifest, items));
    const enqueue100kSeconds = ((performance.now() - t) / 1000) * (100_000 / enqueueKeys);
    await benchQueue.close();

    const result = {
      backend: raw.backend,
      batchSize,
      concurrency,
      images: mainCount,
      rawImagesPerSec: round(raw.imagesPerSec),
      pipelineImagesPerSec: round(pipelineImagesPerSec),
      ratio: round(pipelineImagesPerSec / raw.imagesPerSec),
      enqueue100kSeconds: round(enqueue100kSeconds),
      listKeys: listed.length,
      listSeconds: round(listSeconds),
      listKeysPerSec: Math.round(listed.length / listSeconds),
    };
    console.log(`backend                 ${result.backend} (batch ${batchSize}, ${concurrency} inference processes)`);
    console.log(`raw model               ${result.rawImagesPerSec} images/s`);
    console.log(`pipeline (S3->S3)       ${result.pipelineImagesPerSec} images/s over ${mainCount} 1600x1300 JPEGs`);
    console.log(`ratio                   ${result.ratio}`);
    console.log(`enqueue 100k keys       ${result.enqueue100kSeconds} s (plan + BullMQ addBulk, ${enqueueKeys} keys)`);
    console.log(`list ${listed.length} keys         ${result.listSeconds} s (${result.listKeysPerSec} keys/s on this S3 server)`);
    console.log(JSON.stringify(result));
  } finally {
    await queue.close();
    redis.disconnect();
    s3.destroy();
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000;
await main();
