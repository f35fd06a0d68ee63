import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BinaryMetrics } from '../shared/metrics.js';
import { confusionSpec, trainingCurvesSpec, type EpochRecord } from './chart-specs.js';
import type { ChartItem, ReportDoc } from './document.js';
import { metricRows } from './metric-rows.js';

/** The parts of a model folder's metadata.json the training report shows; all optional but id/name/version. */
export interface TrainingMeta {
  id: string;
  name: string;
  version: string;
  threshold?: number;
  thresholdRule?: string;
  createdAt?: string;
  training?: { bestEpoch?: number; epochsRun?: number; seconds?: number; partial?: boolean };
  split?: { train?: number; val?: number; seed?: number };
  validation?: Partial<BinaryMetrics>;
}

const isMetrics = (v: Partial<BinaryMetrics> | undefined): v is BinaryMetrics =>
  !!v &&
  typeof v.accuracy === 'number' &&
  typeof v.recall === 'number' &&
  typeof v.specificity === 'number' &&
  !!v.confusion;

/** Builds the training report from metadata and per-epoch history. Pure. */
export function buildTrainingReport(
  meta: TrainingMeta,
  history: readonly EpochRecord[],
  source: string,
  now = new Date(),
): ReportDoc {
  const t = meta.training ?? {};
  const facts: [string, string][] = [
    ['model', `${meta.name} ${meta.version} (${meta.id})`],
    ['folder', source],
    [
      'threshold',
      meta.threshold === undefined
        ? 'n/a'
        : `${meta.threshold.toFixed(4)}${meta.thresholdRule ? ` (${meta.thresholdRule})` : ''}`,
    ],
    [
      'epochs',
      `${t.epochsRun ?? history.length} run${t.bestEpoch ? `, best ${t.bestEpoch}` : ''}${t.partial ? ' (partial)' : ''}`,
    ],
  ];
  if (meta.split)
    facts.push([
      'split',
      `${meta.split.train ?? '?'} train / ${meta.split.val ?? '?'} validation (seed ${meta.split.seed ?? '?'})`,
    ]);
  if (meta.createdAt) facts.push(['trained', meta.createdAt]);
  const charts: ChartItem[] = [];
  if (history.length) charts.push({ name: 'training-curves', spec: trainingCurvesSpec(history, t.bestEpoch) });
  const v = meta.validation;
  const rows = isMetrics(v) ? metricRows(v, meta.threshold) : undefined;
  if (isMetrics(v)) charts.push({ name: 'confusion-matrix', spec: confusionSpec(v.confusion) });
  return {
    title: `Training run: ${meta.name} ${meta.version}`,
    subtitle: 'Head training history and validation quality',
    generatedAt: now.toISOString(),
    facts,
    metrics: rows,
    charts,
    galleries: [],
  };
}

/** Reads metadata.json and training-history.json (absent history: no curves) from a model folder. */
export async function readTrainingReport(dir: string, now = new Date()): Promise<ReportDoc> {
  const meta = JSON.parse(await readFile(path.join(dir, 'metadata.json'), 'utf8')) as TrainingMeta;
  let history: EpochRecord[] = [];
  try {
    history = JSON.parse(await readFile(path.join(dir, 'training-history.json'), 'utf8')) as EpochRecord[];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return buildTrainingReport(meta, history, dir, now);
}
