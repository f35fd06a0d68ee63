// npm run bench: raw model vs. pipeline images/s per inference engine (same batch size), and list+enqueue time.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { createRun } from '../producer/create-run.js';
import { batchJob, enqueueBatches } from '../producer/enqueue-batches.js';
import { listImages } from '../producer/list-images.js';
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { createRedis, createScoreQueue } from '../shared/queue.js';
import { RunStore } from '../shared/run/run-store.js';
import { RedisClaims } from '../shared/redis-claims.js';
import type { RunHeader } from '../shared/run/types.js';
import { ensureBucket } from '../shared/s3/bucket.js';
import { createS3Client } from '../shared/s3/client.js';
import { getTextIfExists, putObject } from '../shared/s3/objects.js';
import { runLayout } from '../shared/run/layout.js';
import type { RunMetrics } from '../worker/run-metrics.js';
import type { PartMeta } from '../shared/run/types.js';
import type { S3Client } from '@aws-sdk/client-s3';
import { ensureLocalStack } from '../shared/services/local-stack.js';
import { repoRoot } from '../shared/paths.js';
import { startWorkers } from '../worker/start-worker.js';
import { rawImagesPerSec } from './raw-children.js';
import { listClassFolders } from '../demo/upload-sample.js';
import { parseEngine, type EngineChoice } from '../model/engine.js';
import { ensureOnnxModel } from '../model/onnx/onnx-file.js';
import { importOrt } from '../model/onnx/ort-session.js';

const argText = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const arg = (name: string, fallback: number) => Number(argText(name) ?? fallback);
const batchSize = arg('batch-size', 16);
const images = arg('images', 192); // 160 measured after the warm-up: enough batches that start-up and finalize do not dominate
const concurrency = arg('concurrency', os.availableParallelism());
const listKeys = arg('list-keys', 5000);
const enqueueKeys = arg('enqueue-keys', 100_000);
const log = (s: string) => process.stderr.write(s + '\n');

/** Engines to measure: --engines tfjs,onnx, default every engine that loads here. */
async function enginesToRun(): Promise<Array<Exclude<EngineChoice, 'auto'>>> {
  const asked = argText('engines');
  if (asked) return asked.split(',').map((e) => parseEngine(e)).filter((e): e is 'tfjs' | 'onnx' => e !== 'auto');
  return importOrt().then(() => ['tfjs', 'onnx'] as const, () => ['tfjs'] as const).then((e) => [...e]);
}

/** Busy CPU seconds of the whole machine so far (Linux /proc/stat; NaN elsewhere). */
function machineCpuSeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) / 100; // minus idle and iowait; USER_HZ = 100
  } catch {
    return NaN;
  }
}

/** Where the pipeline's wall time went: before the first batch, between batches of a process, after the last. */
async function timeline(s3: S3Client, bucket: string, runId: string, t0: number, batches: number): Promise<string> {
  const layout = runLayout({ bucket, prefix: 'out' }, runId);
  const metas = (await Promise.all(Array.from({ length: batches }, (_, i) => getTextIfExists(s3, bucket, layout.partMeta(i)))))
    .filter((t): t is string => t !== undefined)
    .map((t) => JSON.parse(t) as PartMeta);
  const byPid = new Map<number, PartMeta[]>();
  for (const m of metas) byPid.set(m.pid, [...(byPid.get(m.pid) ?? []), m]);
  const ms = (iso: string) => Date.parse(iso);
  const firstStart = Math.min(...metas.map((m) => ms(m.startedAt))) - t0;
  const lastEnd = Math.max(...metas.map((m) => ms(m.finishedAt))) - t0;
  let gaps = 0;
  for (const list of byPid.values()) {
    list.sort((a, b) => ms(a.startedAt) - ms(b.startedAt));
    for (let i = 1; i < list.length; i++) gaps += ms(list[i].startedAt) - ms(list[i - 1].finishedAt);
  }
  return `first batch started after ${(firstStart / 1000).toFixed(2)} s, last ended at ${(lastEnd / 1000).toFixed(2)} s; idle between batches ${(gaps / 1000).toFixed(2)} s summed over ${byPid.size} processes`;
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
  const claims = new RedisClaims(redis, config.queuePrefix);
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
          // Warm-up keys carry no label folder: an unlabelled run writes no report, whose rendering would overlap the measurement.
          await putObject(s3, bucket, i < batchSize * concurrency ? `xr/warm/${i}.jpeg` : `xr/main/${f.label}/${i}.jpeg`, big, 'image/jpeg');
        }),
      ),
    );
    const warmCount = Math.min(batchSize * concurrency, files.length);
    const mainCount = files.length - warmCount;
    log(`uploaded ${files.length} images (1600x1300 JPEG): ${warmCount} warm-up, ${mainCount} measured`);

    const waitDone = async (runId: string) => {
      while ((await store.get(runId))?.status !== 'done') await new Promise((r) => setTimeout(r, 200)); // a bench run has no failures
    };
    const engines: Record<string, { backend: string; rawImagesPerSec: number; pipelineImagesPerSec: number; ratio: number }> = {};
    for (const engine of await enginesToRun()) {
      if (engine === 'onnx') await ensureOnnxModel({ logger }); // export once, outside the timings
      log(`${engine}: raw model, ${concurrency} process(es), batch ${batchSize} ...`);
      // Same thread sizing as a worker with this many sandboxed processes.
      const raw = await rawImagesPerSec({
        engine, processes: concurrency, batchSize, batches: Math.max(2, Math.round(images / batchSize / concurrency)), env: { ...process.env, CXR_WORKER_CONCURRENCY: String(concurrency) },
      });
      process.env.CXR_ENGINE = engine; // inherited by the sandboxed processes
      const workers = startWorkers({ redisUrl: config.redisUrl, prefix: config.queuePrefix, logger, concurrency });
      await createRun({ s3, queue, store, claims, logger }, { runId: `warm-${engine}`, source: { bucket, prefix: 'xr/warm/' }, out: { bucket, prefix: 'out' }, batchSize });
      await waitDone(`warm-${engine}`);
      log(`${engine}: pipeline, measuring ...`);
      const t0 = performance.now();
      const t0Wall = Date.now();
      const cpu0 = machineCpuSeconds();
      await createRun({ s3, queue, store, claims, logger }, { runId: `main-${engine}`, source: { bucket, prefix: 'xr/main/' }, out: { bucket, prefix: 'out' }, batchSize });
      await waitDone(`main-${engine}`);
      const pipelineImagesPerSec = mainCount / ((performance.now() - t0) / 1000);
      const cpuBusy = machineCpuSeconds() - cpu0;
      await Promise.all(workers.map((w) => w.close()));
      const m = JSON.parse((await getTextIfExists(s3, bucket, runLayout({ bucket, prefix: 'out' }, `main-${engine}`).metrics)) ?? '{}') as Partial<RunMetrics>;
      const stages = Object.entries(m.throughput?.stages ?? {}).map(([k, v]) => `${k} ${(v.totalMs / 1000).toFixed(1)} s`).join(', ');
      log(`${engine}: busy time summed over processes: ${stages} (wall ${m.throughput?.wallSeconds?.toFixed(1)} s)`);
      log(`${engine}: all processes on this machine used ${cpuBusy.toFixed(1)} CPU s of ${(os.availableParallelism() * mainCount / pipelineImagesPerSec).toFixed(1)} available during the run`);
      log(`${engine}: ${await timeline(s3, bucket, `main-${engine}`, t0Wall, Math.ceil(mainCount / batchSize))}`);
      engines[engine] = { backend: raw.backend, rawImagesPerSec: round(raw.imagesPerSec), pipelineImagesPerSec: round(pipelineImagesPerSec), ratio: round(pipelineImagesPerSec / raw.imagesPerSec) };
    }
    // The default engine is what 'auto' picks: ONNX Runtime when it loads.
    const defaultEngine = engines.onnx ? 'onnx' : Object.keys(engines)[0];
    const main = engines[defaultEngine];

    log(`listing ${listKeys} keys ...`);
    const lim = pLimit(32);
    await Promise.all(Array.from({ length: listKeys }, (_, i) => lim(() => putObject(s3, bucket, `many/${String(i).padStart(7, '0')}.jpeg`, 'x', 'image/jpeg'))));
    let t = performance.now();
    const listed = await listImages(s3, { bucket, prefix: 'many/' });
    const listSeconds = (performance.now() - t) / 1000;

    log(`enqueueing ${enqueueKeys} keys ...`);
    const header: RunHeader = { runId: 'enqueue', createdAt: '', batchSize, batchesPerShard: 1000, labelsFrom: 'key-folders', source: { bucket, prefix: 'xr/' }, out: { bucket, prefix: 'out' } };
    const benchQueue = createScoreQueue(redis, `${config.queuePrefix}e`);
    t = performance.now();
    await enqueueBatches(benchQueue, Array.from({ length: Math.ceil(enqueueKeys / batchSize) }, (_, b) => batchJob(header, b, 0)));
    const enqueue100kSeconds = ((performance.now() - t) / 1000) * (100_000 / enqueueKeys);
    await benchQueue.close();

    const result = {
      engine: defaultEngine,
      backend: main.backend,
      batchSize,
      concurrency,
      images: mainCount,
      rawImagesPerSec: main.rawImagesPerSec,
      pipelineImagesPerSec: main.pipelineImagesPerSec,
      ratio: main.ratio,
      enqueue100kSeconds: round(enqueue100kSeconds),
      listKeys: listed.length,
      listSeconds: round(listSeconds),
      listKeysPerSec: Math.round(listed.length / listSeconds),
      engines,
      loadAverage: os.loadavg().map(round),
    };
    console.log(`batch ${batchSize}, ${concurrency} inference processes, ${mainCount} 1600x1300 JPEGs in the pipeline; default engine ${defaultEngine}`);
    for (const [name, e] of Object.entries(engines)) {
      console.log(`${name.padEnd(5)} ${e.backend.padEnd(16)} raw ${e.rawImagesPerSec} images/s, pipeline (S3->S3) ${e.pipelineImagesPerSec} images/s, ratio ${e.ratio}`);
    }
    console.log(`enqueue 100k keys       ${result.enqueue100kSeconds} s (jobs naming shard ranges + BullMQ addBulk, ${enqueueKeys} keys)`);
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
