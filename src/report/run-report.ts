import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import sharp from 'sharp';
import type { Logger } from '../shared/logger.js';
import { curveFromSorted, operatingPoint, type CurvePoint } from '../shared/metrics.js';
import { getObjectBytes } from '../shared/s3/objects.js';
import { type PredictionLine, type RunInfo, flagsFact, inSampleWarning } from '../run/index.js';
import { confusionSpec, prSpec, rocSpec, scoreHistogramSpec } from './chart-specs.js';
import type { ChartItem, Gallery, GalleryItem, ReportDoc } from './document.js';
import type { CamModel } from './gradcam.js';
import { metricRows } from './metric-rows.js';
import { imageName, renderable } from './renderable.js';
import type { ReportRun } from './read-report-run.js';
import type { SamplePick } from './samples.js';
import { thinCurve } from './thin-curve.js';

export interface RunReportDeps {
  s3: S3Client;
  logger: Logger;
  /** Grad-CAM for the run's model; undefined (or rejecting) leaves the heatmaps out. */
  camModel?: (modelId: string) => Promise<CamModel | undefined>;
}

const thumb = (bytes: Uint8Array) =>
  sharp(bytes).rotate().resize(256, 256, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer();

/** The tile of a picture that could not be drawn: one bad image never fails the report. */
const blankTile = () =>
  sharp({ create: { width: 256, height: 256, channels: 3, background: '#777777' } })
    .jpeg({ quality: 80 })
    .toBuffer();

/** The full key (folders included) on the first line, the call on the second. */
const caption = (p: PredictionLine) =>
  `${imageName(p)}\ntrue ${p.trueLabel ?? '?'} · predicted ${p.label} (p=${p.probability.toFixed(3)})`;

type Draw = (p: PredictionLine) => Promise<Pick<GalleryItem, 'image' | 'mime'>>;

/** A gallery tile; a picture that cannot be read or drawn becomes a blank tile that says why. */
async function drawTile(
  logger: Logger,
  p: PredictionLine,
  tone: GalleryItem['tone'],
  draw: Draw,
): Promise<GalleryItem> {
  try {
    return { ...(await draw(p)), caption: caption(p), tone };
  } catch (err) {
    const reason = (err as Error).message;
    logger.warn({ key: p.key, err: reason }, 'report: image not drawn');
    return { image: await blankTile(), mime: 'image/jpeg', caption: `${caption(p)}\nnot drawn: ${reason}`, tone };
  }
}

/** The ROC and PR charts from the sorted scores, thinned to a bounded number of points. */
function curveCharts(run: ReportRun, op: CurvePoint | null): ChartItem[] {
  const { pneumonia, normal } = run.scores;
  if (!pneumonia.length || !normal.length) return [];
  const curve = () => curveFromSorted(pneumonia, normal);
  // The "call nothing" end has no defined precision: the PR curve starts at the first real call.
  const called = function* () {
    for (const p of curve()) if (Number.isFinite(p.threshold)) yield p;
  };
  return [
    {
      name: 'roc',
      spec: rocSpec(thinCurve(curve, 'fpr', 'tpr').points, op, run.metrics.classification?.rocAuc ?? null),
    },
    { name: 'precision-recall', spec: prSpec(thinCurve(called, 'tpr', 'precision').points, op) },
  ];
}

/** Metrics, charts and picture sections for a run with labels; shared by run and evaluation reports. */
export async function classificationSections(
  deps: RunReportDeps,
  run: ReportRun,
): Promise<Pick<ReportDoc, 'metrics' | 'charts' | 'galleries'>> {
  const m = run.metrics.classification;
  if (!m) return { charts: [], galleries: [] };
  const threshold = run.metrics.model?.threshold;
  const op = threshold === undefined ? null : operatingPoint(m.confusion, threshold);
  const charts: ChartItem[] = [{ name: 'confusion-matrix', spec: confusionSpec(m.confusion) }, ...curveCharts(run, op)];
  if (threshold !== undefined)
    charts.push({ name: 'score-histogram', spec: scoreHistogramSpec(run.histogram, threshold) });

  const picks = run.samples;
  const limit = pLimit(4);
  const fetch = (p: PredictionLine) =>
    getObjectBytes(deps.s3, run.source.bucket, p.key).then((o) => renderable(o.bytes));
  const drawThumb: Draw = async (p) => ({ image: await thumb(await fetch(p)), mime: 'image/jpeg' });
  const grid = await Promise.all(
    picks.grid.map((g) => limit(() => drawTile(deps.logger, g.prediction, g.correct ? 'ok' : 'bad', drawThumb))),
  );
  const galleries: Gallery[] = [
    { title: 'Sample X-rays', note: 'Green border: right call; red border: wrong call.', items: grid },
  ];
  galleries.push(...(await camGalleries(deps, run, picks, fetch)));
  return { metrics: metricRows(m, threshold), charts, galleries };
}

async function camGalleries(
  deps: RunReportDeps,
  run: ReportRun,
  { confident, errors }: SamplePick,
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
  const draw: Draw = async (p) => ({ image: (await cam.overlay(await fetch(p), 256)).png, mime: 'image/png' });
  const note = 'Grad-CAM: red regions raised the pneumonia score most.';
  // One image at a time: the backbone is large and the CPU is shared.
  const confidentItems: GalleryItem[] = [];
  for (const p of confident) confidentItems.push(await drawTile(deps.logger, p, 'ok', draw));
  const errorItems: GalleryItem[] = [];
  for (const p of errors) errorItems.push(await drawTile(deps.logger, p, 'bad', draw));
  return [
    { title: 'Grad-CAM: most confident pneumonia calls', note, items: confidentItems },
    { title: 'Grad-CAM: errors', note, items: errorItems, empty: 'No errors: every labelled image was called right.' },
  ];
}

export function runFacts(run: RunInfo): [string, string][] {
  const m = run.metrics;
  return [
    ['run', m.runId],
    ['source', m.source],
    ['model', m.model ? `${m.model.name} ${m.model.version} (${m.model.id})` : 'n/a'],
    [
      'images',
      `${m.counts.total} total, ${m.counts.scored} scored, ${m.counts.failed} failed, ${m.counts.labelled} labelled`,
    ],
    ...(m.flags ? [['flagged', flagsFact(m.flags)] as [string, string]] : []),
    ['finished', m.finishedAt],
  ];
}

/** The report of one scoring run with labels. */
export async function buildRunReport(deps: RunReportDeps, run: ReportRun, now = new Date()): Promise<ReportDoc> {
  return {
    title: `Scoring run ${run.metrics.runId}`,
    subtitle: 'Pneumonia screening: quality against the known labels',
    generatedAt: now.toISOString(),
    facts: runFacts(run),
    ...runAlerts(run),
    ...(await classificationSections(deps, run)),
  };
}

/** Warnings about what the headline metrics stand on: images the model was trained or selected on. */
export function runAlerts(run: RunInfo): Pick<ReportDoc, 'alerts'> {
  const warning = inSampleWarning(run.metrics.flags, run.metrics.counts.scored);
  return warning ? { alerts: [warning] } : {};
}
