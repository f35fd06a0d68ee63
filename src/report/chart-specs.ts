/** Vega-Lite specs for the report charts. Pure: data in, spec out. */
import type { ClassName } from '../shared/labels.js';
import type { ConfusionMatrix, CurvePoint } from '../shared/metrics.js';

export type VlSpec = Record<string, unknown> & { data?: { values: readonly unknown[] } };

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const base = (title: string, width = 320, height = 280) => ({
  $schema: SCHEMA,
  title,
  width,
  height,
  background: 'white',
});

export interface ConfusionCell {
  actual: 'NORMAL' | 'PNEUMONIA';
  predicted: 'NORMAL' | 'PNEUMONIA';
  count: number;
  /** Share of the actual class. */
  share: number;
}

export function confusionCells(c: ConfusionMatrix): ConfusionCell[] {
  const row = (actual: ConfusionCell['actual'], neg: number, pos: number): ConfusionCell[] => [
    { actual, predicted: 'NORMAL', count: neg, share: neg + pos ? neg / (neg + pos) : 0 },
    { actual, predicted: 'PNEUMONIA', count: pos, share: neg + pos ? pos / (neg + pos) : 0 },
  ];
  return [...row('NORMAL', c.tn, c.fp), ...row('PNEUMONIA', c.fn, c.tp)];
}

export function confusionSpec(c: ConfusionMatrix): VlSpec {
  const order = ['NORMAL', 'PNEUMONIA'];
  return {
    ...base('Confusion matrix', 260, 260),
    data: { values: confusionCells(c) },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: order, title: 'predicted', axis: { labelAngle: 0 } },
      y: { field: 'actual', type: 'nominal', sort: order, title: 'actual' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: {
            field: 'share',
            type: 'quantitative',
            scale: { domain: [0, 1], scheme: 'blues' },
            title: 'share of row',
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 20, fontWeight: 'bold' },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}

const finite = (p: CurvePoint) => ({ ...p, threshold: Number.isFinite(p.threshold) ? p.threshold : null });

/** ROC curve with the chance diagonal and the operating point at the model threshold. */
export function rocSpec(points: readonly CurvePoint[], op: CurvePoint | null, auc: number | null): VlSpec {
  const title = `ROC curve${auc === null ? '' : ` (AUC ${auc.toFixed(3)})`}`;
  return {
    ...base(title),
    layer: [
      {
        data: {
          values: [
            { fpr: 0, tpr: 0 },
            { fpr: 1, tpr: 1 },
          ],
        },
        mark: { type: 'line', strokeDash: [4, 4], color: '#999' },
        encoding: { x: { field: 'fpr', type: 'quantitative' }, y: { field: 'tpr', type: 'quantitative' } },
      },
      {
        data: { values: points.map(finite) },
        mark: { type: 'line', interpolate: 'step-after', color: '#1f77b4', strokeWidth: 2 },
        encoding: {
          x: {
            field: 'fpr',
            type: 'quantitative',
            title: 'false positive rate (1 - specificity)',
            scale: { domain: [0, 1] },
          },
          y: {
            field: 'tpr',
            type: 'quantitative',
            title: 'true positive rate (sensitivity)',
            scale: { domain: [0, 1] },
          },
          order: { field: 'fpr', type: 'quantitative' },
        },
      },
      ...operatingLayers(op, 'fpr', 'tpr'),
    ],
  };
}

/** Precision-recall curve with the operating point at the model threshold. */
export function prSpec(points: readonly CurvePoint[], op: CurvePoint | null): VlSpec {
  // The "call nothing" end has no defined precision; start the curve at the first real call.
  const values = points.filter((p) => Number.isFinite(p.threshold)).map(finite);
  return {
    ...base('Precision-recall curve'),
    layer: [
      {
        data: { values },
        mark: { type: 'line', interpolate: 'step-after', color: '#2ca02c', strokeWidth: 2 },
        encoding: {
          x: { field: 'tpr', type: 'quantitative', title: 'recall (sensitivity)', scale: { domain: [0, 1] } },
          y: { field: 'precision', type: 'quantitative', title: 'precision', scale: { domain: [0, 1] } },
          order: { field: 'tpr', type: 'quantitative' },
        },
      },
      ...operatingLayers(op, 'tpr', 'precision'),
    ],
  };
}

function operatingLayers(op: CurvePoint | null, x: keyof CurvePoint, y: keyof CurvePoint): VlSpec[] {
  if (!op) return [];
  const values = [{ ...op, label: `threshold ${op.threshold.toFixed(3)}` }];
  return [
    {
      data: { values },
      mark: { type: 'point', filled: true, size: 140, color: '#d62728', shape: 'diamond' },
      encoding: { x: { field: x, type: 'quantitative' }, y: { field: y, type: 'quantitative' } },
    },
    {
      data: { values },
      mark: { type: 'text', align: 'left', dx: 8, dy: 12, color: '#d62728', fontWeight: 'bold' },
      encoding: {
        x: { field: x, type: 'quantitative' },
        y: { field: y, type: 'quantitative' },
        text: { field: 'label' },
      },
    },
  ];
}

export interface MetricRow {
  metric: string;
  value: string;
}

/** One record of models/.../training-history.json. */
export interface EpochRecord {
  epoch: number;
  [series: string]: number;
}

/** Every numeric series of the training history (losses, learning rate, ...) against the epoch. */
export function trainingCurvesSpec(history: readonly EpochRecord[], bestEpoch?: number): VlSpec {
  const values = history.flatMap((h) =>
    Object.entries(h)
      .filter(([k, v]) => k !== 'epoch' && typeof v === 'number' && Number.isFinite(v))
      .map(([series, value]) => ({
        epoch: h.epoch,
        series,
        value,
        panel: /lr|rate/i.test(series) ? 'learning rate' : 'loss / metric',
      })),
  );
  return {
    $schema: SCHEMA,
    title: bestEpoch === undefined ? 'Training curves' : `Training curves (best epoch ${bestEpoch})`,
    background: 'white',
    data: { values },
    facet: { row: { field: 'panel', type: 'nominal', title: null, sort: ['loss / metric', 'learning rate'] } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 520,
      height: 200,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'epoch', type: 'quantitative' },
        y: { field: 'value', type: 'quantitative', title: null },
        color: { field: 'series', type: 'nominal' },
      },
    },
  };
}

export interface TrendPoint {
  date: string;
  metric: string;
  value: number;
}

/** Night-over-night trend of the watched metrics. */
export function trendSpec(points: readonly TrendPoint[]): VlSpec {
  return {
    ...base('Night-over-night trend', 520, 240),
    data: { values: points },
    mark: { type: 'line', point: true, strokeWidth: 2 },
    encoding: {
      // One tick per evaluated night (ordinal: no repeated or invented dates).
      x: { field: 'date', type: 'ordinal', title: 'night', axis: { labelAngle: -30 } },
      y: { field: 'value', type: 'quantitative', title: null, scale: { domain: [0, 1] } },
      color: { field: 'metric', type: 'nominal' },
      // Dashes keep equal series (e.g. all at 1.0) distinguishable.
      strokeDash: { field: 'metric', type: 'nominal' },
    },
  };
}

/** One bar of the score histogram: the images of one true class whose score fell in [start, end). */
export interface ScoreBin {
  start: number;
  end: number;
  actual: ClassName;
  count: number;
}

/** The score histogram's bars and their width. */
export interface ScoreBins {
  step: number;
  bins: ScoreBin[];
}

/** Score histogram by true class from binned counts (see ScoreHistogram), with the threshold as a rule. */
export function scoreHistogramSpec({ bins, step }: ScoreBins, threshold: number): VlSpec {
  return {
    ...base('Scores by true class', 520, 200),
    layer: [
      {
        data: { values: bins },
        mark: { type: 'bar', opacity: 0.7 },
        encoding: {
          x: { field: 'start', type: 'quantitative', bin: { binned: true, step }, title: 'P(pneumonia)' },
          x2: { field: 'end' },
          y: { field: 'count', type: 'quantitative', stack: null, title: 'images' },
          color: {
            field: 'actual',
            type: 'nominal',
            scale: { domain: ['NORMAL', 'PNEUMONIA'], range: ['#1f77b4', '#d62728'] },
          },
        },
      },
      {
        data: { values: [{ threshold }] },
        mark: { type: 'rule', color: 'black', strokeDash: [6, 3], strokeWidth: 2 },
        encoding: { x: { field: 'threshold', type: 'quantitative' } },
      },
    ],
  };
}
