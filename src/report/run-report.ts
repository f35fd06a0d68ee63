import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import sharp from 'sharp';
import type { Logger } from '../shared/logger.js';
import { curvePoints, operatingPoint } from '../shared/metrics.js';
import { getObjectBytes } from '../shared/s3/objects.js';
import type { PredictionLine } from '../shared/run/types.js';
import type { RunData } from '../shared/run/run-data.js';
import { confusionSpec, prSpec, rocSpec, scoreHistogramSpec } from './chart-specs.js';
import type { ChartItem, Gallery, GalleryItem, ReportDoc } from './document.js';
import type { CamModel } from './gradcam.js';
import { metricRows } from './metric-rows.js';
import { flagsFact } from '../shared/run/flags.js';
import { imageName, renderable } from './renderable.js';
import { pickSamples } from './samples.js';

export interface RunReportDeps {
  s3: S3Client;
  logger: Logger;
  /** Grad-CAM for the run's model; undefined (or rejecting) leaves the heatmaps out. */
  camModel?: (modelId: string) => Promise<CamModel | undefined>;
  /** Grad-CAM images per group (confident pneumonia, errors). */
  camsPerGroup?: number;
}

const thumb = (bytes: Uint8Array) => sharp(bytes).rotate().resize(256, 256, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer();

/** The full key (folders included) on the first line, the call on the second. */
const caption = (p: PredictionLine) => `${imageName(p)}\ntrue ${p.trueLabel ?? '?'} · predicted ${p.label} (p=${p.probability.toFixed(3)})`;

/** Metrics, charts and picture sections for a run with labels; shared by run and evaluation reports. */
export async function classificationSections(deps: RunReportDeps, run: RunData): Promise<Pick<ReportDoc, 'metrics' | 'charts' | 'galleries'>> {
  const m = run.metrics.classification;
  if (!m) return { charts: [], galleries: [] };
  const labelled = run.predictions.filter((p) => p.trueLabel !== undefined);
  const truth = labelled.map((p) => p.trueLabel === 'PNEUMONIA');
  const scores = labelled.map((p) => p.probability);
  const threshold = run.metrics.model?.threshold ?? labelled[0]?.threshold;
  const points = curvePoints(truth, scores);
  const op = threshold === undefined ? null : operatingPoint(truth, scores, threshold);
  const rows = metricRows(m, threshold);
  const charts: ChartItem[] = [
    { name: 'confusion-matrix', spec: confusionSpec(m.confusion) },
    ...(points ? [{ name: 'roc', spec: rocSpec(points, op, m.rocAuc) }, { name: 'precision-recall', spec: prSpec(points, op) }] : []),
  ];
  if (threshold !== undefined) {
    charts.push({ name: 'score-histogram', spec: scoreHistogramSpec(labelled.map((p) => ({ probability: p.probability, actual: p.trueLabel! })), threshold) });
  }

  const picks = pickSamples(labelled, { cams: deps.camsPerGroup ?? 4 });
  const limit = pLimit(4);
  const fetch = (p: PredictionLine) => getObjectBytes(deps.s3, run.source.bucket, p.key).then((o) => renderable(o.bytes));
  const grid: GalleryItem[] = await Promise.all(
    picks.grid.map((g) =>
      limit(async () => ({ image: await thumb(await fetch(g.prediction)), mime: 'image/jpeg' as const, caption: caption(g.prediction), tone: g.correct ? ('ok' as const) : ('bad' as const) })),
    ),
  );
  const galleries: Gallery[] = [{ title: 'Sample X-rays', note: 'Green border: right call; red border: wrong call.', items: grid }];
  galleries.push(...(await camGalleries(deps, run, picks.confident, picks.errors, fetch)));
  return { metrics: rows, charts, galleries };
}

async function camGalleries(
  deps: RunReportDeps,
  run: RunData,
  confident: PredictionLine[],
  errors: PredictionLine[],
  fetch: (p: PredictionLine) => Promise<Uint8Array>,
): Promise<Gallery[]> {
  const modelId = run.metrics.model?.id;
  if (!deps.camModel || !modelId || confident.length + errors.length === 0) return [];
  let cam: CamModel | undefined;
  try {
    cam = await deps.camModel(modelId);
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message }, 'report: Grad-CAM model unavailable; heatmaps left out');
  }
  if (!cam) return [];
  const render = async (p: PredictionLine, tone: GalleryItem['tone']): Promise<GalleryItem> => {
    const { png } = await cam.overlay(await fetch(p), 256);
    return { image: png, mime: 'image/png', caption: caption(p), tone };
  };
  const note = 'Grad-CAM: red regions raised the pneumonia score most.';
  const out: Gallery[] = [];
  // One image at a time: the backbone is large and the CPU is shared.
  const confidentItems: GalleryItem[] = [];
  for (const p of confident) confidentItems.push(await render(p, 'ok'));
  const errorItems: GalleryItem[] = [];
  for (const p of errors) errorItems.push(await render(p, 'bad'));
  out.push({ title: 'Grad-CAM: most confident pneumonia calls', note, items: confidentItems });
  out.push({ title: 'Grad-CAM: errors', note, items: errorItems, empty: 'No errors: every labelled image was called right.' });
  return out;
}

export function runFacts(run: RunData): [string, string][] {
  const m = run.metrics;
  return [
    ['run', m.runId],
    ['source', m.source],
    ['model', m.model ? `${m.model.name} ${m.model.version} (${m.model.id})` : 'n/a'],
    ['images', `${m.counts.total} total, ${m.counts.scored} scored, ${m.counts.failed} failed, ${m.counts.labelled} labelled`],
    ...(m.flags ? [['flagged', flagsFact(m.flags)] as [string, string]] : []),
    ['finished', m.finishedAt],
  ];
}

/** The report of one scoring run with labels. */
export async function buildRunReport(deps: RunReportDeps, run: RunData, now = new Date()): Promise<ReportDoc> {
  return {
    title: `Scoring run ${run.metrics.runId}`,
    subtitle: 'Pneumonia screening: quality against the known labels',
    generatedAt: now.toISOString(),
    facts: runFacts(run),
    ...(await classificationSections(deps, run)),
  };
}
