import type { BinaryMetrics } from '../shared/metrics.js';
import type { MetricRow } from './chart-specs.js';

const pct = (v: number) => `${(v * 100).toFixed(1)} %`;

/** The rows of the metrics table. Pure. */
export function metricRows(m: BinaryMetrics, threshold: number | undefined): MetricRow[] {
  const c = m.confusion;
  return [
    { metric: 'labelled images', value: String(m.n) },
    { metric: 'threshold', value: threshold === undefined ? 'n/a' : threshold.toFixed(4) },
    { metric: 'accuracy', value: pct(m.accuracy) },
    { metric: 'sensitivity (recall)', value: pct(m.recall) },
    { metric: 'specificity', value: pct(m.specificity) },
    { metric: 'precision', value: pct(m.precision) },
    { metric: 'F1', value: m.f1.toFixed(4) },
    { metric: 'ROC AUC', value: m.rocAuc === null ? 'n/a' : m.rocAuc.toFixed(4) },
    { metric: 'TP / FP / TN / FN', value: `${c.tp} / ${c.fp} / ${c.tn} / ${c.fn}` },
  ];
}
