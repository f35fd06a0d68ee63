// npm run bench: raw model vs. pipeline images/s per inference engine (same batch size), and list+enqueue time.
import os from 'node:os';
import pLimit from 'p-limit';
import { createRun, batchJob, enqueueBatches, type RunHeader, runLayout, type RunMetrics, type PartMeta } from '../run/index.js';
import { listImages } from '../shared/s3/list-images.js';
import { createScoreQueue } from '../shared/queue.js';
import { getTextIfExists, putObject } from '../shared/s3/objects.js';
import type { S3Client } from '@aws-sdk/client-s3';
import { withBenchStack } from './bench-stack.js';
import { startWorkers } from '../worker/start-worker.js';
import { sharedScoreProcessor } from '../worker/shared-inference/processor.js';
import { rawImagesPerSec } from './raw-children.js';
import { parseEngine, type EngineChoice } from '../model/engine.js';
import { ensureOnnxModel } from '../model/onnx/onnx-file.js';
import { importOrt } from '../model/onnx/ort-session.js';
import { machineCpuSeconds } from './cpu-time.js';
import { uploadFullSizeImages } from './full-size-images.js';

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
const modes = (argText('inference') ?? 'slot,shared').split(',');
const maxBatch = arg('max-batch', 32);
const log = (s: string) => process.stderr.write(s + '\n');

/** Engines to measure: --engines tfjs,onnx, default every engine that loads here. */
async function enginesToRun(): Promise<Array<Exclude<EngineChoice, 'auto'>>> {
  const asked = argText('engines');
  if (asked) return asked.split(',').map((e) => parseEngine(e)).filter((e): e is 'tfjs' | 'onnx' => e !== 'auto');
  return importOrt().then(() => ['tfjs', 'onnx'] as const, () => ['tfjs'] as const).then((e) => [...e]);
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
  // With --inference shared every slot runs in one process, so its batches overlap: no idle time to sum.
  const idle = gaps >= 0 ? `idle between batches ${(gaps / 1000).toFixed(2)} s summed over ${byPid.size} processes` : 'batches overlap in one process (shared inference)';
  return `first batch started after ${(firstStart / 1000).toFixed(2)} s, last ended at ${(lastEnd / 1000).toFixed(2)} s; ${idle}`;
}

async function main(): Promise<void> {
  await withBenchStack('bench', 'bench', async ({ config, logger, s3, redis, queue, store, claims, bucket }) => {
    // Warm-up keys carry no label folder: an unlabelled run writes no report, whose rendering would overlap the measurement.
    const uploaded = await uploadFullSizeImages(s3, bucket, images, (i, label) => (i < batchSize * concurrency ? `xr/warm/${i}.jpeg` : `xr/main/${label}/${i}.jpeg`));
    const files = { length: uploaded };
    const warmCount = Math.min(batchSize * concurrency, files.length);
    const mainCount = files.length - warmCount;
    log(`uploaded ${files.length} images (1600x1300 JPEG): ${warmCount} warm-up, ${mainCount} measured`);

    const waitDone = async (runId: string) => {
      while ((await store.get(runId))?.status !== 'done') await new Promise((r) => setTimeout(r, 200)); // a bench run has no failures
    };
    const engines: Record<string, { backend: string; rawImagesPerSec: number; pipelineImagesPerSec: number; ratio: number; sharedImagesPerSec?: number }> = {};
    for (const engine of await enginesToRun()) {
      if (engine === 'onnx') await ensureOnnxModel({ logger }); // export once, outside the timings
      log(`${engine}: raw model, ${concurrency} process(es), batch ${batchSize} ...`);
      // Same thread sizing as a worker with this many sandboxed processes.
      const raw = await rawImagesPerSec({
        engine, processes: concurrency, batchSize, batches: Math.max(2, Math.round(images / batchSize / concurrency)), env: { ...process.env, CXR_WORKER_CONCURRENCY: String(concurrency) },
      });
      process.env.CXR_ENGINE = engine; // inherited by the sandboxed processes and the shared inference thread
      const rates: Record<string, number> = {};
      for (const mode of modes) {
        const tag = `${engine}-${mode}`;
        // slot: a sandboxed process with its own model per slot; shared: one inference thread fed by every slot.
        const shared = mode === 'shared' ? await sharedScoreProcessor({ maxBatch, waitMs: 5 }) : undefined;
        const workers = startWorkers({ redisUrl: config.redisUrl, prefix: config.queuePrefix, logger, concurrency, scoreProcessor: shared?.processor });
        await createRun({ s3, queue, store, claims, logger }, { runId: `warm-${tag}`, source: { bucket, prefix: 'xr/warm/' }, out: { bucket, prefix: 'out' }, batchSize });
        await waitDone(`warm-${tag}`);
        log(`${tag}: pipeline, measuring ...`);
        const t0 = performance.now();
        const t0Wall = Date.now();
        const cpu0 = machineCpuSeconds();
        await createRun({ s3, queue, store, claims, logger }, { runId: `main-${tag}`, source: { bucket, prefix: 'xr/main/' }, out: { bucket, prefix: 'out' }, batchSize });
        await waitDone(`main-${tag}`);
        rates[mode] = mainCount / ((performance.now() - t0) / 1000);
        const cpuBusy = machineCpuSeconds() - cpu0;
        await Promise.all(workers.map((w) => w.close()));
        shared?.close();
        const m = JSON.parse((await getTextIfExists(s3, bucket, runLayout({ bucket, prefix: 'out' }, `main-${tag}`).metrics)) ?? '{}') as Partial<RunMetrics>;
        const stages = Object.entries(m.throughput?.stages ?? {}).map(([k, v]) => `${k} ${(v.totalMs / 1000).toFixed(1)} s`).join(', ');
        log(`${tag}: busy time summed over slots: ${stages} (wall ${m.throughput?.wallSeconds?.toFixed(1)} s)`);
        log(`${tag}: all processes on this machine used ${cpuBusy.toFixed(1)} CPU s of ${(os.availableParallelism() * mainCount / rates[mode]).toFixed(1)} available during the run`);
        log(`${tag}: ${await timeline(s3, bucket, `main-${tag}`, t0Wall, Math.ceil(mainCount / batchSize))}`);
      }
      const pipelineImagesPerSec = rates.slot ?? rates.shared;
      engines[engine] = {
        backend: raw.backend, rawImagesPerSec: round(raw.imagesPerSec), pipelineImagesPerSec: round(pipelineImagesPerSec), ratio: round(pipelineImagesPerSec / raw.imagesPerSec),
        ...(rates.shared !== undefined ? { sharedImagesPerSec: round(rates.shared) } : {}),
      };
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
      const shared = e.sharedImagesPerSec !== undefined ? `; --inference shared ${e.sharedImagesPerSec} images/s` : '';
      console.log(`${name.padEnd(5)} ${e.backend.padEnd(16)} raw ${e.rawImagesPerSec} images/s, pipeline (S3->S3) ${e.pipelineImagesPerSec} images/s, ratio ${e.ratio}${shared}`);
    }
    console.log(`enqueue 100k keys       ${result.enqueue100kSeconds} s (jobs naming shard ranges + BullMQ addBulk, ${enqueueKeys} keys)`);
    console.log(`list ${listed.length} keys         ${result.listSeconds} s (${result.listKeysPerSec} keys/s on this S3 server)`);
    console.log(JSON.stringify(result));
  });
}

const round = (x: number) => Math.round(x * 1000) / 1000;
await main();
