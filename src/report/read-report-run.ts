import type { S3Client } from '@aws-sdk/client-s3';
import { readRunData, type RunData } from '../run/index.js';
import type { S3Location } from '../shared/s3/uri.js';
import type { ScoreBins } from './chart-specs.js';
import { SamplePicker, type SamplePick } from './samples.js';
import { ScoreHistogram } from './score-histogram.js';

/** A run as its report reads it: the run data, and the samples and score histogram taken as the predictions stream by. */
export interface ReportRun extends RunData {
  samples: SamplePick;
  histogram: ScoreBins;
}

/** One pass over the run's predictions; memory holds the scores (4 bytes a prediction) and a few picked predictions. */
export async function readReportRun(s3: S3Client, out: S3Location, runId: string): Promise<ReportRun> {
  const picker = new SamplePicker();
  const histogram = new ScoreHistogram();
  const run = await readRunData(s3, out, runId, (p) => {
    picker.add(p);
    histogram.add(p);
  });
  return { ...run, samples: picker.picks(), histogram: histogram.result() };
}
