import path from 'node:path';
import type { Command } from 'commander';
import { productionCamProvider } from '../../report/cam-provider.js';
import { readReportRun } from '../../report/read-report-run.js';
import { buildRunReport } from '../../report/run-report.js';
import { writeRunReport } from '../../report/write-run-report.js';
import { fsSink } from '../../report/sink.js';
import { readTrainingReport } from '../../report/training-report.js';
import { writeReport } from '../../report/write-report.js';
import { assertRunId } from '../../run/index.js';
import { parseS3Uri, type S3Location } from '../../shared/s3/uri.js';
import { configFrom, openRuntime, type GlobalFlags } from '../runtime.js';

export function registerReport(program: Command, globals: () => GlobalFlags): void {
  const report = program.command('report').description('(re)generate HTML reports with charts');
  report
    .command('run')
    .description('report of a finished scoring run with labels: OUT/RUN_ID/report/index.html')
    .argument('<runId>')
    .option('--out <s3uri>', "the run's output root (default: from Redis)")
    .option('--dir <folder>', 'write to this local folder instead of next to the run')
    .action(async (runId: string, flags: { out?: string; dir?: string }) => {
      const rt = await openRuntime(configFrom(globals()), 'report');
      try {
        const out: S3Location | undefined = flags.out
          ? parseS3Uri(flags.out)
          : (await rt.store.get(assertRunId(runId)))?.out;
        if (!out) throw new Error(`run ${runId} is unknown to Redis; pass --out`);
        const camModel = productionCamProvider(rt.s3);
        if (flags.dir) {
          const run = await readReportRun(rt.s3, out, runId);
          if (!run.metrics.classification) throw new Error(`run ${runId} has no labelled predictions`);
          const { index } = await writeReport(
            await buildRunReport({ s3: rt.s3, logger: rt.logger, camModel }, run),
            fsSink(path.resolve(flags.dir)),
          );
          process.stdout.write(`${index}\n`);
        } else {
          const index = await writeRunReport({ s3: rt.s3, logger: rt.logger, camModel }, out, runId);
          if (!index) throw new Error(`run ${runId} has no labelled predictions`);
          process.stdout.write(`${index}\n`);
        }
      } finally {
        await rt.close();
      }
    });
  report
    .command('training')
    .description('report of a training run from a model folder (metadata.json, training-history.json)')
    .argument('<dir>', 'model folder, e.g. models/pneumonia-resnet50')
    .option('--to <folder>', 'output folder (default DIR/report)')
    .action(async (dir: string, flags: { to?: string }) => {
      const doc = await readTrainingReport(dir);
      const { index } = await writeReport(doc, fsSink(path.resolve(flags.to ?? path.join(dir, 'report'))));
      process.stdout.write(`${index}\n`);
    });
}
