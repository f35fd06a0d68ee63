import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../shared/logger.js';
import { runLayout } from '../run/index.js';
import { joinKey, type S3Location } from '../shared/s3/uri.js';
import type { CamModel } from './gradcam.js';
import { readReportRun } from './read-report-run.js';
import { buildRunReport } from './run-report.js';
import { s3Sink } from './sink.js';
import { writeReport } from './write-report.js';
import { productionCamProvider } from './cam-provider.js';

export interface RunReportOptions {
  s3: S3Client;
  logger: Logger;
  camModel?: (modelId: string) => Promise<CamModel | undefined>;
}

/** Writes OUT/RUN_ID/report/ for a finished run; returns the index location, or undefined when the run has no labels. */
export async function writeRunReport(
  opts: RunReportOptions,
  out: S3Location,
  runId: string,
): Promise<string | undefined> {
  const run = await readReportRun(opts.s3, out, runId);
  if (!run.metrics.classification) return undefined;
  const doc = await buildRunReport(
    { s3: opts.s3, logger: opts.logger, camModel: opts.camModel ?? productionCamProvider(opts.s3) },
    run,
  );
  const layout = runLayout(out, runId);
  const { index } = await writeReport(doc, s3Sink(opts.s3, layout.bucket, joinKey(layout.root, 'report')));
  return index;
}

/** The finalize step's report: logged, never thrown, so a report problem cannot fail the run. */
export async function reportAfterFinalize(opts: RunReportOptions, out: S3Location, runId: string): Promise<void> {
  const started = Date.now();
  try {
    const index = await writeRunReport(opts, out, runId);
    if (index) opts.logger.info({ index, ms: Date.now() - started }, 'run report written');
  } catch (err) {
    opts.logger.error(
      { err: (err as Error).message, ms: Date.now() - started },
      'run report failed (the run itself is done)',
    );
  }
}
