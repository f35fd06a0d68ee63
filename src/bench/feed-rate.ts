// npm run bench:feed: how many images/s download + decode + part upload + queue deliver per CPU core, with
// the null engine (scores instantly), so a GPU node can be given enough cores to keep its GPU fed.
import os from 'node:os';
import { createRun, runLayout, type RunMetrics } from '../run/index.js';
import { getTextIfExists } from '../shared/s3/objects.js';
import { withBenchStack } from './bench-stack.js';
import { startWorkers } from '../worker/start-worker.js';
import { childPidsMatching, cpuSecondsOf } from './cpu-time.js';
import { uploadFullSizeImages } from './full-size-images.js';

const argText = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const batchSize = Number(argText('batch-size') ?? 16);
const images = Number(argText('images') ?? 256);
const slotCounts = (argText('concurrency') ?? `1,${os.availableParallelism()}`).split(',').map(Number);
const gpuRate = Number(argText('gpu-images-per-sec') ?? 2000);
const log = (s: string) => process.stderr.write(s + '\n');
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  Object.assign(process.env, { CXR_ENGINE: 'null', CXR_NULL_DELAY_MS: '0' }); // inherited by the sandboxes
  await withBenchStack('feed', 'feed', async ({ config, logger, s3, queue, store, claims, bucket }) => {
    const deps = { s3, queue, store, claims, logger };
    const warm = batchSize * Math.max(...slotCounts);
    const count = await uploadFullSizeImages(s3, bucket, images + warm, (i) =>
      i < warm ? `warm/${i}.jpeg` : `main/${i}.jpeg`,
    );
    const measured = count - warm;
    log(`uploaded ${count} images (1600x1300 JPEG): ${warm} warm-up, ${measured} measured per setting`);
    const run = async (runId: string, prefix: string) => {
      await createRun(deps, { runId, source: { bucket, prefix }, out: { bucket, prefix: 'out' }, batchSize });
      while ((await store.get(runId))?.status !== 'done') await new Promise((r) => setTimeout(r, 100));
    };
    const rows = [];
    for (const slots of slotCounts) {
      const workers = startWorkers({
        redisUrl: config.redisUrl,
        prefix: config.queuePrefix,
        logger,
        concurrency: slots,
      });
      await run(`warm-${slots}`, 'warm/');
      const sandboxes = childPidsMatching(process.pid, /bullmq/);
      const services = childPidsMatching(process.pid, /redis-server|s3rver/);
      // The worker is this process (BullMQ's parent, plus the bench's producer calls) and its sandboxes.
      const cpu0 = cpuSecondsOf(sandboxes, true);
      const services0 = cpuSecondsOf(services);
      const t0 = performance.now();
      await run(`main-${slots}`, 'main/');
      const wall = (performance.now() - t0) / 1000;
      const workerCpu = cpuSecondsOf(sandboxes, true) - cpu0;
      const servicesCpu = cpuSecondsOf(services) - services0;
      await Promise.all(workers.map((w) => w.close()));
      const m = JSON.parse(
        (await getTextIfExists(s3, bucket, runLayout({ bucket, prefix: 'out' }, `main-${slots}`).metrics)) ?? '{}',
      ) as Partial<RunMetrics>;
      const stages = Object.fromEntries(
        Object.entries(m.throughput?.stages ?? {}).map(([k, v]) => [k, round(v.totalMs / 1000)]),
      );
      const row = {
        slots,
        sandboxes: sandboxes.length,
        imagesPerSec: round(measured / wall),
        workerCpuSeconds: round(workerCpu, 2),
        imagesPerWorkerCpuSecond: round(measured / workerCpu),
        servicesCpuSeconds: round(servicesCpu, 2),
        imagesPerCpuSecondWithServices: round(measured / (workerCpu + servicesCpu)),
        stageSeconds: stages,
      };
      log(`${slots} slot(s): ${JSON.stringify(row)}`);
      rows.push(row);
    }
    const perCore = Math.max(...rows.map((r) => r.imagesPerWorkerCpuSecond));
    console.log(
      `feed rate, null engine, batch ${batchSize}, ${measured} 1600x1300 JPEGs per setting (S3 server and Redis on this machine)`,
    );
    for (const r of rows) {
      console.log(
        `${r.slots} slot(s): ${r.imagesPerSec} images/s wall; worker processes used ${r.workerCpuSeconds} CPU s -> ${r.imagesPerWorkerCpuSecond} images per worker CPU-second (${r.imagesPerCpuSecondWithServices} counting this machine's S3 server and Redis too, ${r.servicesCpuSeconds} CPU s)`,
      );
    }
    console.log(
      `a GPU scoring ${gpuRate} images/s needs about ${Math.ceil(gpuRate / perCore)} cores of download + decode + upload at ${perCore} images per core-second`,
    );
    console.log(
      JSON.stringify({
        batchSize,
        measured,
        perCore,
        coresFor: { gpuImagesPerSec: gpuRate, cores: Math.ceil(gpuRate / perCore) },
        rows,
        cores: os.availableParallelism(),
        loadAverage: os.loadavg().map((x) => round(x, 2)),
      }),
    );
  });
}

await main();
