import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { heldOutSample } from '../../demo/held-out.js';
import { uploadImages, uploadStratifiedSample } from '../../demo/upload-sample.js';
import { defaultModelDir } from '../../model/classifier.js';
import { createRun, EXIT_CODES, newRunId, readRunMetrics, stallLimits, verdictLine } from '../../run/index.js';
import { modelLoadNote, readLastModelLoad, recordModelLoad } from '../model-load-note.js';
import { repoRoot } from '../../shared/paths.js';
import { ensureBucket } from '../../shared/s3/bucket.js';
import { downloadPrefix } from '../../shared/s3/download.js';
import { ensureLocalStack } from '../../shared/services/local-stack.js';
import { startWorkers } from '../../worker/start-worker.js';
import { closeWorkers, describeHeld, HeldJobs, type ClosedWorkers } from '../../worker/shutdown.js';
import { ConnectionWatch } from '../../shared/connection-watch.js';
import { closeWithin } from '../../shared/deadline.js';
import { EXIT_FAILURE, UserError } from '../../shared/errors.js';
import { redisHostPort } from '../../shared/redis-connection.js';
import { metricsTable } from '../metrics-table.js';
import { positiveInt } from '../parse.js';
import { waitForRun } from '../progress.js';
import { configFrom, openRuntime, type GlobalFlags } from '../runtime.js';
import { exportSettings, redisTarget } from '../../shared/config.js';

interface DemoFlags {
  images?: string;
  limit: number;
  batchSize: number;
  metricsOut?: string;
  dataDir: string;
  concurrency?: number;
  keep?: string;
}

/** How long the demo's workers may take to finish the run's last jobs (its report) once it is done: CXR_CLOSE_TIMEOUT_S, default 120. */
function closeGraceMs(env: NodeJS.ProcessEnv): number {
  const s = Number(env.CXR_CLOSE_TIMEOUT_S ?? 120);
  return (Number.isFinite(s) && s >= 0 ? s : 120) * 1000;
}

const ERROR_GRACE_MS = 5000;

const DEFAULT_IMAGES = path.resolve(repoRoot(), '..', 'shared', 'datasets', 'chest-xray-pneumonia', 'train');

export function registerDemo(program: Command, globals: () => GlobalFlags): void {
  program
    .command('demo')
    .description(
      'the whole pipeline on one machine: local Redis and S3 unless REDIS_URL/S3_ENDPOINT are set, a labelled sample, a producer and a worker',
    )
    .option(
      '--images <dir>',
      "folder with NORMAL/ and PNEUMONIA/ subfolders of images or DICOM files (default: the shipped model's held-out patients in the dataset's train folder)",
    )
    .option('--limit <n>', 'stratified sample size', positiveInt('--limit'), 200)
    .option('--batch-size <n>', 'images per batch job', positiveInt('--batch-size'), 16)
    .option('--metrics-out <file>', 'also write the run metrics JSON here')
    .option('--data-dir <dir>', 'where the local S3 server keeps its objects', path.join(repoRoot(), '.cxr', 's3'))
    .option('--concurrency <n>', 'worker sandboxes (default: one per core)', positiveInt('--concurrency'))
    .option(
      '--keep <dir>',
      "copy the run's outputs (predictions, metrics, report/) here as plain files (default ./cxr-demo-output/RUN_ID)",
    )
    .action(async (flags: DemoFlags) => {
      process.env.LOG_LEVEL ??= 'warn'; // keep the progress bar readable; LOG_LEVEL=info shows every batch
      const stack = await ensureLocalStack(process.env, flags.dataDir);
      const g = globals();
      const rt = await openRuntime(
        configFrom({ ...g, redisUrl: g.redisUrl ?? stack.redisUrl, s3Endpoint: g.s3Endpoint ?? stack.s3Endpoint }),
        'demo',
      );
      for (const s of stack.started) rt.logger.info(`started ${s}`);
      // Sandboxed worker processes read the same settings from the environment.
      exportSettings(rt.config);
      const watch = new ConnectionWatch(rt.logger, redisTarget(rt.config));
      const workers = startWorkers({
        redisUrl: rt.config.redisUrl,
        redisTls: rt.config.redisTls,
        prefix: rt.config.queuePrefix,
        logger: rt.logger,
        concurrency: flags.concurrency,
        watch,
      });
      const held = new HeldJobs().watch(workers);
      // Closed once, with deadlines: jobs in progress (the finalize writing the report) get `graceMs`, less when Redis is gone.
      let closing: Promise<ClosedWorkers> | undefined;
      const closeOwnWorkers = (graceMs: number) =>
        (closing ??= closeWorkers(workers, held, {
          graceMs,
          redisConnected: () => watch.connected,
          killSandboxes: true,
        }));
      try {
        const runId = newRunId();
        const bucket = 'cxr-demo';
        await ensureBucket(rt.s3, bucket);
        // By default the shipped model's held-out patients (the run's source prefix says so in the report);
        // with --images any folder, whose images the model may have seen (the in-training-set flag tells).
        const held =
          flags.images || process.env.CXR_MODEL_URI
            ? undefined
            : await heldOutSample(defaultModelDir(), DEFAULT_IMAGES, flags.limit);
        const images = flags.images ?? DEFAULT_IMAGES;
        const prefix = held ? `xrays/${runId}/held-out-patients` : `xrays/${runId}`;
        const uploaded = held
          ? await uploadImages(rt.s3, held.images, { bucket, prefix })
          : await uploadStratifiedSample(rt.s3, images, { bucket, prefix }, flags.limit);
        rt.logger.info({ images: uploaded.length, from: images, heldOut: !!held }, 'sample uploaded');
        await createRun(rt, {
          runId,
          source: { bucket, prefix: `${prefix}/` },
          out: { bucket, prefix: 'results' },
          batchSize: flags.batchSize,
        });
        process.stdout.write(
          held
            ? `run ${runId}: ${uploaded.length} images of ${held.patients} held-out patients, never used for training or selection (of the model's ${held.heldOutImages} held-out images in ${images})\n`
            : `run ${runId}: ${uploaded.length} images from ${images}${flags.images ? '' : " (the model names no held-out patients: images it may have trained on; see 'in-training-set' in the metrics)"}\n`,
        );
        // The demo's own worker loads the model on its first batch: the bar says so rather than asking for a worker.
        const stateDir = path.join(repoRoot(), '.cxr');
        const loading = modelLoadNote(await readLastModelLoad(stateDir));
        const { verdict, state } = await waitForRun(rt, runId, {
          maxFailures: { percent: 100 },
          limits: stallLimits(600_000),
          loading,
        });
        if (verdict.kind === 'stuck' || verdict.kind === 'redis-lost')
          throw new UserError(
            `${verdictLine(runId, verdict)} (no outputs: the run did not end)`,
            EXIT_CODES[verdict.kind],
          );
        const metrics = await readRunMetrics(rt.s3, { out: state.out, runId });
        if (!metrics)
          throw new UserError(`run ${runId} ended (${state.status}) without metrics.json: no outputs to copy`);
        await recordModelLoad(stateDir, metrics.throughput.coldStart).catch(() => undefined);
        process.stdout.write(metricsTable(metrics) + '\n');
        // A worker closes once its jobs are done: the finalize job writes the report after marking the run done.
        const closed = await closeOwnWorkers(closeGraceMs(process.env));
        if (closed.abandoned.length) {
          process.exitCode = EXIT_FAILURE;
          const why = closed.why === 'redis-lost' ? `lost Redis at ${redisHostPort(rt.config.redisUrl)}` : 'timed out';
          process.stderr.write(
            `cxr: the demo's workers ${why} while finishing: abandoned ${describeHeld(closed.abandoned)}; the outputs below may lack the report\n`,
          );
        }
        const keep = path.resolve(flags.keep ?? path.join('cxr-demo-output', runId));
        await downloadPrefix(rt.s3, bucket, `results/${runId}`, keep);
        process.stdout.write(`outputs: ${keep}${path.sep} (from s3://${bucket}/results/${runId}/)\n`);
        const index = path.join(keep, 'report', 'index.html');
        process.stdout.write(
          await access(index).then(
            () => `report: ${index}\n`,
            () => 'report: none was written (see the worker log)\n',
          ),
        );
        if (flags.metricsOut) {
          await mkdir(path.dirname(path.resolve(flags.metricsOut)), { recursive: true });
          await writeFile(flags.metricsOut, JSON.stringify(metrics, null, 2) + '\n');
        }
      } finally {
        // On an error the demo is ending anyway: jobs in progress get a few seconds, not the full grace.
        await closeOwnWorkers(ERROR_GRACE_MS);
        await rt.close();
        await closeWithin(ERROR_GRACE_MS, () => stack.stop());
      }
    });
}
