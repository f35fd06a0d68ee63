import { fixed, percent } from '../shared/format.js';
import { definedRate, type BinaryMetrics } from '../shared/metrics.js';
import type { MetricRow } from './chart-specs.js';

/** The rows of the metrics table. Pure. */
export function metricRows(m: BinaryMetrics, threshold: number | undefined): MetricRow[] {
  const c = m.confusion;
  return [
    { metric: 'labelled images', value: String(m.n) },
    { metric: 'threshold', value: fixed(threshold ?? null, 4) },
    { metric: 'accuracy', value: percent(definedRate(m, 'accuracy')) },
    { metric: 'sensitivity (recall)', value: percent(definedRate(m, 'recall')) },
    { metric: 'specificity', value: percent(definedRate(m, 'specificity')) },
    { metric: 'precision', value: percent(definedRate(m, 'precision')) },
    { metric: 'F1', value: fixed(definedRate(m, 'f1'), 4) },
    { metric: 'ROC AUC', value: fixed(m.rocAuc, 4) },
    { metric: 'TP / FP / TN / FN', value: `${c.tp} / ${c.fp} / ${c.tn} / ${c.fn}` },
  ];
}
