// npm run bench: raw model vs. pipeline images/s per inference engine (same batch size), and list+enqueue time.
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import {
  createRun,
  batchJob,
  enqueueBatches,
  type RunHeader,
  runLayout,
  type RunMetrics,
  type PartMeta,
  type StageMs,
  sumStages,
} from '../run/index.js';
import { listImages } from '../shared/s3/list-images.js';
import { createScoreQueue } from '../shared/queue.js';
import { getTextIfExists, putObject } from '../shared/s3/objects.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../shared/logger.js';
import { withBenchStack } from './bench-stack.js';
import { startWorkers } from '../worker/start-worker.js';
import { sharedScoreProcessor } from '../worker/shared-inference/processor.js';
import { rawImagesPerSec } from './raw-children.js';
import { autoOnnxPrecision, parseEngine, type EngineChoice } from '../model/engine.js';
import { ensureOnnxModel } from '../model/onnx/onnx-file.js';
import { importOrt } from '../model/onnx/ort-session.js';
import { cmdlineOf, cpuSecondsOf, descendantPids, machineCpuSeconds } from './cpu-time.js';
import { copyObjects, uploadFullSizeImages } from './full-size-images.js';
import { ensureInt8Model } from '../model/onnx/int8/int8-model.js';
import { decodeCpuMsPerImage } from './decode-cpu.js';
import { closeWithin, downFor, within } from '../shared/deadline.js';
import { UserError } from '../shared/errors.js';
import { redisHostPort } from '../shared/redis-connection.js';
import { FORCE_CLOSE_MS, REDIS_LOST_MS } from '../worker/drain.js';
import { closeWorkers, HeldJobs } from '../worker/shutdown.js';

const argText = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const arg = (name: string, fallback: number) => Number(argText(name) ?? fallback);
const batchSize = arg('batch-size', 16);
const images = arg('images', 192); // 160 measured after the warm-up; copied under new keys into one run that fills minSeconds
const minSeconds = arg('min-seconds', 20); // each mode (raw and every pipeline mode) measures at least this long
const concurrency = arg('concurrency', os.availableParallelism());
const listKeys = arg('list-keys', 5000);
const enqueueKeys = arg('enqueue-keys', 100_000);
const modes = (argText('inference') ?? 'slot,shared').split(',');
const maxBatch = arg('max-batch', 32);
const log = (s: string) => process.stderr.write(s + '\n');

type BenchEngine = Exclude<EngineChoice, 'auto'>;
/** The JSON name of an engine: the FP32 ONNX engine is 'onnx-fp32' beside 'onnx-int8'. */
const engineKey = (e: BenchEngine): string => (e === 'onnx' ? 'onnx-fp32' : e);

/** Engines to measure: --engines tfjs,onnx,onnx-int8, default every engine that loads here (INT8 when its calibration is there). */
async function enginesToRun(logger: Logger): Promise<BenchEngine[]> {
  const asked = argText('engines');
  if (asked)
    return asked
      .split(',')
      .map((e) => parseEngine(e))
      .filter((e): e is BenchEngine => e !== 'auto');
  if (
    !(await importOrt().then(
      () => true,
      () => false,
    ))
  )
    return ['tfjs'];
  const int8 = await ensureInt8Model({ logger }).then(
    () => true,
    (err: Error) => (log(`onnx-int8 left out: ${err.message}`), false),
  );
  return ['tfjs', 'onnx', ...(int8 ? (['onnx-int8'] as const) : [])];
}

/**
 * CPU seconds used so far by this process and its descendants (the worker's sandboxes), apart from the
 * local redis-server and S3 server, which stand in for services that run elsewhere.
 */
function pipelineCpuSeconds(): { pipeline: number; services: number } {
  const pids = descendantPids();
  const services = pids.filter((p) => /redis-server|s3rver/.test(cmdlineOf(p)));
  return {
    pipeline: cpuSecondsOf(
      pids.filter((p) => !services.includes(p)),
      true,
    ),
    services: cpuSecondsOf(services),
  };
}

/** The part metas of a run's batches (generation 0: a bench run has no retries to resume). */
async function partMetas(s3: S3Client, bucket: string, runId: string, batches: number): Promise<PartMeta[]> {
  const layout = runLayout({ bucket, prefix: 'out' }, runId);
  return (await Promise.all(Array.from({ length: batches }, (_, i) => getTextIfExists(s3, bucket, layout.partMeta(i)))))
    .filter((t): t is string => t !== undefined)
    .map((t) => JSON.parse(t) as PartMeta);
}

/**
 * CPU ms per image of each stage in the scoring processes, summed over the batches' metas (a sandboxed slot
 * records them), and `other`: the pipeline's CPU per image (`pipelineMs`) in no stage. Undefined where a batch
 * has none (--inference shared: slots overlap in one process).
 */
function stageCpuPerImage(metas: readonly PartMeta[], pipelineMs: number): StageCpu | undefined {
  if (metas.length === 0 || !metas.every((m) => m.stageCpuMs)) return undefined;
  const images = metas.reduce((a, m) => a + m.images, 0);
  const total = sumStages(metas.map((m) => m.stageCpuMs!));
  const per = (k: keyof StageMs) => total[k] / images;
  const inStages = (total.download + total.decode + total.inference + total.upload) / images;
  return {
    download: per('download'),
    decode: per('decode'),
    inference: per('inference'),
    upload: per('upload'),
    other: pipelineMs - inStages,
  };
}

/** Where the pipeline's wall time went: before the first batch, between batches of a process, after the last. */
function timeline(metas: readonly PartMeta[], t0: number): string {
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
  const idle =
    gaps >= 0
      ? `idle between batches ${(gaps / 1000).toFixed(2)} s summed over ${byPid.size} processes`
      : 'batches overlap in one process (shared inference)';
  return `first batch started after ${(firstStart / 1000).toFixed(2)} s, last ended at ${(lastEnd / 1000).toFixed(2)} s; ${idle}`;
}

async function main(): Promise<void> {
  await withBenchStack('bench', 'bench', async ({ config, logger, s3, redis, watch, queue, store, claims, bucket }) => {
    // No key carries a label folder: a labelled run's finalize renders its report (charts, Grad-CAM on a TF.js
    // model the sandbox loads), about 7 CPU s per run measured here, which lands in the window as CPU "per image"
    // of runs this small (~6 ms over 1,120 images; 0.07 ms over 100k) and competes with the scoring. It is a
    // per-run cost, not per image: docs/benchmarks.md gives its measurement.
    const uploaded = await uploadFullSizeImages(s3, bucket, images, (i) =>
      i < batchSize * concurrency ? `xr/warm/${i}.jpeg` : `xr/main/${i}.jpeg`,
    );
    const files = { length: uploaded };
    const warmCount = Math.min(batchSize * concurrency, files.length);
    const mainCount = files.length - warmCount;
    log(`uploaded ${files.length} images (1600x1300 JPEG): ${warmCount} warm-up, ${mainCount} measured`);

    const waitDone = async (runId: string) => {
      while ((await store.get(runId))?.status !== 'done') await new Promise((r) => setTimeout(r, 200)); // a bench run has no failures
    };
    /**
     * `step`, unless Redis stays unreachable for REDIS_LOST_MS first: its commands would wait for it for ever
     * (the bench's connections reconnect without end), so the bench ends with one line saying why.
     */
    const unlessRedisLost = async <T>(what: string, step: Promise<T>): Promise<T> => {
      const lost = downFor(() => watch.connected, REDIS_LOST_MS);
      try {
        const r = await within(step, Infinity, lost.signal);
        if (r.kind === 'done') return r.value;
        if (r.kind === 'failed') throw r.error;
        throw new UserError(`bench: lost Redis at ${redisHostPort(config.redisUrl)} while ${what}; no figures`);
      } finally {
        lost.stop();
      }
    };
    const mainKeys = (await listImages(s3, { bucket, prefix: 'xr/main/' })).map((o) => o.key);
    /**
     * A warm-up run, then one run of the measured set copied often enough to keep the pipeline busy for minSeconds
     * at the raw rate, timed until it is done. One run, as a user's bulk scoring is: its per-run work (listing,
     * manifest, finalize) is spread over all its images, not counted again for every 160.
     */
    const measure = async (tag: string, rawImagesPerSec: number): Promise<Measured> => {
      await createRun(
        { s3, queue, store, claims, logger },
        { runId: `warm-${tag}`, source: { bucket, prefix: 'xr/warm/' }, out: { bucket, prefix: 'out' }, batchSize },
      );
      await waitDone(`warm-${tag}`);
      const copies = Math.max(1, Math.ceil((minSeconds * 1.15 * rawImagesPerSec) / mainCount));
      const prefix = `xr/measured/${tag}/`;
      await copyObjects(
        s3,
        bucket,
        Array.from({ length: copies }, (_, c) =>
          mainKeys.map((from) => ({ from, to: `${prefix}c${c}/${path.posix.basename(from)}` })),
        ).flat(),
      );
      const runId = `main-${tag}`;
      log(
        `${tag}: pipeline, one run of ${mainCount * copies} images (${copies} ${copies === 1 ? 'copy' : 'copies'} of ${mainCount}), measuring ...`,
      );
      const t0 = performance.now();
      const t0Wall = Date.now();
      const cpu0 = machineCpuSeconds();
      const own0 = pipelineCpuSeconds();
      await createRun(
        { s3, queue, store, claims, logger },
        { runId, source: { bucket, prefix }, out: { bucket, prefix: 'out' }, batchSize },
      );
      await waitDone(runId);
      const seconds = (performance.now() - t0) / 1000;
      const own = pipelineCpuSeconds(); // before the workers close: their sandboxes' CPU is read while they live
      const cpuBusy = machineCpuSeconds() - cpu0; // before reading the part metas, which is not the pipeline's work
      const n = mainCount * copies;
      const cpuMsPerImage = ((own.pipeline - own0.pipeline) * 1000) / n;
      const metas = await partMetas(s3, bucket, runId, Math.ceil(n / batchSize));
      return {
        metas,
        runId,
        n,
        seconds,
        t0Wall,
        cpuBusy,
        rate: {
          imagesPerSec: n / seconds,
          seconds,
          cpuMsPerImage,
          servicesCpuMsPerImage: ((own.services - own0.services) * 1000) / n,
          stageCpuMsPerImage: stageCpuPerImage(metas, cpuMsPerImage),
        },
      };
    };
    const decodeMs = await decodeCpuMsPerImage(s3, bucket, 'xr/warm/');
    log(`decode (full-size JPEG to the model input, the worker's path): ${decodeMs.toFixed(1)} CPU ms per image`);
    const engines: Record<string, EngineResult> = {};
    for (const engine of await enginesToRun(logger)) {
      if (engine === 'onnx') await ensureOnnxModel({ logger }); // export once, outside the timings
      if (engine === 'onnx-int8') await ensureInt8Model({ logger });
      // The raw model runs half its time before the pipeline modes and half after: the host's speed may drift
      // while the bench runs (per core by up to 1.8x within minutes on this shared VM), and a ratio of rates measured at
      // two moments carries that drift. Bracketing cancels a steady drift; rawDrift reports it.
      const rawHalf = async (when: string) => {
        log(
          `${engine}: raw model ${when}, ${concurrency} process(es), batch ${batchSize}, at least ${minSeconds / 2} s ...`,
        );
        // Same thread sizing as a worker with this many sandboxed processes.
        const r = await rawImagesPerSec({
          engine,
          processes: concurrency,
          batchSize,
          batches: 2,
          minSeconds: minSeconds / 2,
          env: { ...process.env, CXR_WORKER_CONCURRENCY: String(concurrency) },
        });
        log(
          `${engine}: raw ${when}: ${r.imagesPerSec.toFixed(1)} images/s over ${r.seconds.toFixed(1)} s, ${r.cpuMsPerImage.toFixed(1)} CPU ms per image`,
        );
        return r;
      };
      const rawBefore = await rawHalf('before');
      process.env.CXR_ENGINE = engine; // inherited by the sandboxed processes and the shared inference thread
      const rates: Record<string, Rate> = {};
      for (const mode of modes) {
        const tag = `${engine}-${mode}`;
        // slot: a sandboxed process with its own model per slot; shared: one inference thread fed by every slot.
        const shared = mode === 'shared' ? await sharedScoreProcessor({ maxBatch, waitMs: 5 }, watch) : undefined;
        const workers = startWorkers({
          redisUrl: config.redisUrl,
          prefix: config.queuePrefix,
          logger,
          concurrency,
          scoreProcessor: shared?.processor,
          watch,
        });
        const held = new HeldJobs().watch(workers);
        let measured: Measured;
        try {
          measured = await unlessRedisLost(`measuring ${tag}`, measure(tag, rawBefore.imagesPerSec));
        } finally {
          // The run is done: only its finalize job may still be writing. With Redis gone nothing the workers
          // hold could be recorded: they close at once, their sandboxes killed, so the bench can end.
          await closeWorkers(workers, held, {
            graceMs: watch.connected ? CLOSE_GRACE_MS : 0,
            forceMs: FORCE_CLOSE_MS,
            redisConnected: () => watch.connected,
            lostMs: REDIS_LOST_MS,
            killSandboxes: true,
          });
          await shared?.close();
        }
        const { runId, n, seconds, t0Wall, cpuBusy, metas } = measured;
        rates[mode] = measured.rate;
        const m = JSON.parse(
          (await getTextIfExists(s3, bucket, runLayout({ bucket, prefix: 'out' }, runId).metrics)) ?? '{}',
        ) as Partial<RunMetrics>;
        const stages = Object.entries(m.throughput?.stages ?? {})
          .map(([k, v]) => `${k} ${(v.totalMs / 1000).toFixed(1)} s`)
          .join(', ');
        const stageCpu = rates[mode].stageCpuMsPerImage;
        log(
          `${tag}: ${n} images in ${seconds.toFixed(1)} s; pipeline processes ${rates[mode].cpuMsPerImage.toFixed(1)} CPU ms per image (inference alone ${rawBefore.cpuMsPerImage.toFixed(1)} before), local redis + S3 servers ${rates[mode].servicesCpuMsPerImage.toFixed(1)}`,
        );
        if (stageCpu) {
          const { other, ...inStages } = stageCpu;
          log(
            `${tag}: CPU ms per image by stage in the slots: ${Object.entries(inStages)
              .map(([k, v]) => `${k} ${v.toFixed(2)}`)
              .join(', ')}; in no stage (queue, Redis, IPC, the worker's parent and this bench) ${other.toFixed(2)}`,
          );
        }
        log(`${tag}: busy time summed over slots: ${stages} (wall ${m.throughput?.wallSeconds?.toFixed(1)} s)`);
        log(
          `${tag}: every process on this machine (the other load included) used ${cpuBusy.toFixed(1)} CPU s of ${(os.availableParallelism() * seconds).toFixed(1)} available`,
        );
        log(`${tag}: ${timeline(metas, t0Wall)}`);
      }
      const rawAfter = await rawHalf('after');
      const raw = {
        backend: rawBefore.backend,
        imagesPerSec: (rawBefore.images + rawAfter.images) / (rawBefore.seconds + rawAfter.seconds),
        seconds: rawBefore.seconds + rawAfter.seconds,
        cpuMsPerImage:
          (rawBefore.cpuMsPerImage * rawBefore.images + rawAfter.cpuMsPerImage * rawAfter.images) /
          (rawBefore.images + rawAfter.images),
      };
      const drift = rawAfter.imagesPerSec / rawBefore.imagesPerSec;
      if (Math.abs(drift - 1) > 0.1)
        log(
          `${engine}: warning: the raw model ran ${Math.abs((drift - 1) * 100).toFixed(0)}% ${drift > 1 ? 'faster' : 'slower'} after the pipeline modes than before them: this host's speed changed while measuring, so the ratio is uncertain`,
        );
      const main = rates.slot ?? rates.shared;
      // Inference and decode CPU as the slots measured them in the same window (sandboxed slots), else as measured
      // apart: raw inference before and after, decode in this process.
      const stage = main.stageCpuMsPerImage;
      const outside = main.cpuMsPerImage - (stage?.inference ?? raw.cpuMsPerImage);
      const decodeInPipeline = stage?.decode ?? decodeMs;
      // What the pipeline could reach if the CPU did nothing but inference (at the raw rate) and decode (spread over the cores).
      const cpuBound = 1 / (1 / raw.imagesPerSec + decodeMs / 1000 / os.availableParallelism());
      engines[engineKey(engine)] = {
        backend: raw.backend,
        rawImagesPerSec: round(raw.imagesPerSec),
        pipelineImagesPerSec: round(main.imagesPerSec),
        ratio: round(main.imagesPerSec / raw.imagesPerSec),
        cpuMsPerImageOutsideInference: round(outside),
        cpuMsPerImageOutsideInferenceAndDecode: round(outside - decodeInPipeline),
        inferenceCpuMsPerImage: round(raw.cpuMsPerImage),
        ...(stage
          ? {
              stageCpuMsPerImage: {
                download: round(stage.download),
                decode: round(stage.decode),
                inference: round(stage.inference),
                upload: round(stage.upload),
                other: round(stage.other),
              },
            }
          : {}),
        servicesCpuMsPerImage: round(main.servicesCpuMsPerImage),
        cpuBoundImagesPerSec: round(cpuBound),
        ratioToCpuBound: round(main.imagesPerSec / cpuBound),
        rawSeconds: round(raw.seconds),
        rawDrift: round(drift),
        pipelineSeconds: round(main.seconds),
        ...(rates.shared !== undefined ? { sharedImagesPerSec: round(rates.shared.imagesPerSec) } : {}),
      };
    }
    // The default engine is what 'auto' picks here: ONNX Runtime (INT8 on a CPU host where parity holds) when it loads.
    const auto = engineKey((await autoOnnxPrecision()).engine);
    const defaultEngine = engines[auto] ? auto : Object.keys(engines)[0];
    const main = engines[defaultEngine];

    log(`listing ${listKeys} keys ...`);
    const lim = pLimit(32);
    await Promise.all(
      Array.from({ length: listKeys }, (_, i) =>
        lim(() => putObject(s3, bucket, `many/${String(i).padStart(7, '0')}.jpeg`, 'x', 'image/jpeg')),
      ),
    );
    let t = performance.now();
    const listed = await listImages(s3, { bucket, prefix: 'many/' });
    const listSeconds = (performance.now() - t) / 1000;

    log(`enqueueing ${enqueueKeys} keys ...`);
    const header: RunHeader = {
      runId: 'enqueue',
      createdAt: '',
      batchSize,
      batchesPerShard: 1000,
      labelsFrom: 'key-folders',
      source: { bucket, prefix: 'xr/' },
      out: { bucket, prefix: 'out' },
    };
    const benchQueue = createScoreQueue(redis, `${config.queuePrefix}e`);
    t = performance.now();
    try {
      await unlessRedisLost(
        `enqueueing ${enqueueKeys} keys`,
        enqueueBatches(
          benchQueue,
          Array.from({ length: Math.ceil(enqueueKeys / batchSize) }, (_, b) => batchJob(header, b, 0)),
        ),
      );
    } finally {
      await closeWithin(FORCE_CLOSE_MS, () => benchQueue.close());
    }
    const enqueue100kSeconds = ((performance.now() - t) / 1000) * (100_000 / enqueueKeys);

    const result = {
      engine: defaultEngine,
      backend: main.backend,
      decodeCpuMsPerImage: round(decodeMs),
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
    console.log(
      `batch ${batchSize}, ${concurrency} inference processes, ${mainCount} 1600x1300 JPEGs in the pipeline; default engine ${defaultEngine}`,
    );
    for (const [name, e] of Object.entries(engines)) {
      const shared = e.sharedImagesPerSec !== undefined ? `; --inference shared ${e.sharedImagesPerSec} images/s` : '';
      const st = e.stageCpuMsPerImage;
      const split = st
        ? `; slots' CPU ms/image: download ${st.download}, decode ${st.decode}, inference ${st.inference}, upload ${st.upload}, in no stage ${st.other}`
        : '';
      console.log(
        `${name.padEnd(9)} ${e.backend.padEnd(21)} raw ${e.rawImagesPerSec} images/s (after/before ${e.rawDrift}), pipeline (S3->S3) ${e.pipelineImagesPerSec} images/s, ratio ${e.ratio} (to the CPU bound ${e.ratioToCpuBound}), CPU outside inference ${e.cpuMsPerImageOutsideInference} ms/image (${e.cpuMsPerImageOutsideInferenceAndDecode} besides decode)${split}${shared}`,
      );
    }
    console.log(
      `enqueue 100k keys       ${result.enqueue100kSeconds} s (jobs naming shard ranges + BullMQ addBulk, ${enqueueKeys} keys)`,
    );
    console.log(
      `list ${listed.length} keys         ${result.listSeconds} s (${result.listKeysPerSec} keys/s on this S3 server)`,
    );
    console.log(JSON.stringify(result));
  });
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** How long the workers may take, once a mode's run is done, to finish the jobs still in progress (the run's finalize). */
const CLOSE_GRACE_MS = 120_000;

interface Rate {
  imagesPerSec: number;
  cpuMsPerImage: number;
  servicesCpuMsPerImage: number;
  seconds: number;
  /** CPU per image of each stage, from the sandboxed slots' part metas; absent in shared mode. */
  stageCpuMsPerImage?: StageCpu;
}

/** CPU ms per image by stage in the slots, and `other`: the pipeline's CPU in no stage (queue, Redis, IPC, the parent). */
type StageCpu = StageMs & { other: number };

/** One pipeline mode's measured run. */
interface Measured {
  runId: string;
  /** Images scored in the measured run. */
  n: number;
  seconds: number;
  /** When the measured run was created (wall clock, for its timeline). */
  t0Wall: number;
  /** CPU seconds every process on the machine used meanwhile. */
  cpuBusy: number;
  rate: Rate;
  /** The measured run's part metas: its timeline and CPU per stage. */
  metas: PartMeta[];
}

interface EngineResult {
  backend: string;
  rawImagesPerSec: number;
  pipelineImagesPerSec: number;
  ratio: number;
  /**
   * Pipeline CPU per image (worker processes, this one included) minus inference's: download, decode, S3 and Redis
   * clients, OOD, JSON. Inference as the sandboxed slots measured it in the same window (stageCpuMsPerImage), else
   * the raw model's.
   */
  cpuMsPerImageOutsideInference: number;
  /** The same, less decode (the slots' decode stage, else decodeCpuMsPerImage). */
  cpuMsPerImageOutsideInferenceAndDecode: number;
  /** The raw model's CPU per image, before and after the pipeline modes together. */
  inferenceCpuMsPerImage: number;
  /** The slots' CPU per image by stage, and what is in no stage. */
  stageCpuMsPerImage?: StageCpu;
  /** The local redis-server and S3 server, apart: in production they run elsewhere. */
  servicesCpuMsPerImage: number;
  cpuBoundImagesPerSec: number;
  ratioToCpuBound: number;
  rawSeconds: number;
  /** Raw images/s after the pipeline modes over raw images/s before them: 1 on a host of steady speed. */
  rawDrift: number;
  pipelineSeconds: number;
  sharedImagesPerSec?: number;
}
// A lost Redis ends the bench with its one line (and exit 1); any other error keeps its stack.
await main().catch((err: unknown) => {
  if (!(err instanceof UserError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exitCode = err.exitCode;
});
