import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { uploadStratifiedSample } from '../../demo/upload-sample.js';
import { createRun } from '../../producer/create-run.js';
import { newRunId } from '../../shared/run/batching.js';
import { repoRoot } from '../../shared/paths.js';
import { ensureBucket } from '../../shared/s3/bucket.js';
import { downloadPrefix } from '../../shared/s3/download.js';
import { ensureLocalStack } from '../../shared/services/local-stack.js';
import { readRunMetrics } from '../../worker/finalize-run.js';
import { startWorkers } from '../../worker/start-worker.js';
import { metricsTable } from '../metrics-table.js';
import { positiveInt } from '../parse.js';
import { waitForRun } from '../progress.js';
import { stallLimits } from '../../shared/run/outcome.js';
import { configFrom, openRuntime, type GlobalFlags } from '../runtime.js';
import { exportSettings } from '../../shared/config.js';

interface DemoFlags {
  images: string;
  limit: number;
  batchSize: number;
  metricsOut?: string;
  dataDir: string;
  concurrency?: number;
  keep?: string;
}

const DEFAULT_IMAGES = path.resolve(repoRoot(), '..', 'shared', 'datasets', 'chest-xray-pneumonia', 'train');

export function registerDemo(program: Command, globals: () => GlobalFlags): void {
  program
    .command('demo')
    .description('the whole pipeline on one machine: local Redis and S3 unless REDIS_URL/S3_ENDPOINT are set, a labelled sample, a producer and a worker')
    .option('--images <dir>', 'folder with NORMAL/ and PNEUMONIA/ subfolders of images or DICOM files', DEFAULT_IMAGES)
    .option('--limit <n>', 'stratified sample size', positiveInt('--limit'), 200)
    .option('--batch-size <n>', 'images per batch job', positiveInt('--batch-size'), 16)
    .option('--metrics-out <file>', 'also write the run metrics JSON here')
    .option('--data-dir <dir>', 'where the local S3 server keeps its objects', path.join(repoRoot(), '.cxr', 's3'))
    .option('--concurrency <n>', 'worker sandboxes (default: one per core)', positiveInt('--concurrency'))
    .option('--keep <dir>', "copy the run's outputs (predictions, metrics, report/) here as plain files (default ./cxr-demo-output/RUN_ID)")
    .action(async (flags: DemoFlags) => {
      process.env.LOG_LEVEL ??= 'warn'; // keep the progress bar readable; LOG_LEVEL=info shows every batch
      const stack = await ensureLocalStack(process.env, flags.dataDir);
      const g = globals();
      const rt = await openRuntime(configFrom({ ...g, redisUrl: g.redisUrl ?? stack.redisUrl, s3Endpoint: g.s3Endpoint ?? stack.s3Endpoint }), 'demo');
      for (const s of stack.started) rt.logger.info(`started ${s}`);
      // Sandboxed worker processes read the same settings from the environment.
      exportSettings(rt.config);
      const workers = startWorkers({
        redisUrl: rt.config.redisUrl,
        redisTls: rt.config.redisTls,
        prefix: rt.config.queuePrefix,
        logger: rt.logger,
        concurrency: flags.concurrency,
      });
      try {
        const runId = newRunId();
        const bucket = 'cxr-demo';
        await ensureBucket(rt.s3, bucket);
        const uploaded = await uploadStratifiedSample(rt.s3, flags.images, { bucket, prefix: `xrays/${runId}` }, flags.limit);
        rt.logger.info({ images: uploaded.length, from: flags.images }, 'sample uploaded');
        await createRun(rt, {
          runId,
          source: { bucket, prefix: `xrays/${runId}/` },
          out: { bucket, prefix: 'results' },
          batchSize: flags.batchSize,
        });
        process.stdout.write(`run ${runId}: ${uploaded.length} images from ${flags.images}\n`);
        const { state } = await waitForRun(rt, runId, { maxFailures: { percent: 100 }, limits: stallLimits(600_000) });
        const metrics = await readRunMetrics(rt.s3, { out: state.out, runId });
        if (!metrics) throw new Error(`run ${runId} ended without metrics.json`);
        process.stdout.write(metricsTable(metrics) + '\n');
        // A worker closes once its jobs are done: the finalize job writes the report after marking the run done.
        await Promise.all(workers.map((w) => w.close()));
        const keep = path.resolve(flags.keep ?? path.join('cxr-demo-output', runId));
        await downloadPrefix(rt.s3, bucket, `results/${runId}`, keep);
        process.stdout.write(`outputs: ${keep}${path.sep} (from s3://${bucket}/results/${runId}/)\n`);
        const index = path.join(keep, 'report', 'index.html');
        process.stdout.write(await access(index).then(() => `report: ${index}\n`, () => 'report: none was written (see the worker log)\n'));
        if (flags.metricsOut) {
          await mkdir(path.dirname(path.resolve(flags.metricsOut)), { recursive: true });
          await writeFile(flags.metricsOut, JSON.stringify(metrics, null, 2) + '\n');
        }
      } finally {
        await Promise.all(workers.map((w) => w.close()));
        await rt.close();
        await stack.stop();
      }
    });
}
