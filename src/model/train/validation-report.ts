/**
 * Validation as a model card reports it: the operating point a threshold rule picks, the metrics
 * there with patient-level (cluster) bootstrap 95% intervals, and an exact interval for sensitivity. Pure.
 */
import { clopperPearson } from '../../shared/binomial.js';
import {
  bootstrapMetrics,
  METRIC_NAMES,
  pairedAucDifference,
  type BootstrapOptions,
  type Interval,
  type MetricName,
} from '../../shared/bootstrap-intervals.js';
import { binaryMetrics, type BinaryMetrics } from '../../shared/metrics.js';
import type { ThresholdRule } from './options.js';
import { chooseThreshold } from './threshold.js';

export interface ValidationReport {
  rule: string;
  threshold: number;
  n: number;
  positives: number;
  negatives: number;
  /** Groups (patients) the intervals resample. */
  groups: number;
  replicates: number;
  level: number;
  metrics: BinaryMetrics;
  intervals: Record<MetricName, Interval>;
  /** Clopper–Pearson interval of sensitivity at the threshold, over images (ignores clustering). */
  sensitivityExact: { lo: number; hi: number };
}

export const ruleText = (r: ThresholdRule): string => (r.kind === 'youden' ? 'youden' : `${r.kind}:${r.target}`);

/** Metrics with intervals at a given threshold (e.g. a model's shipped one). */
export function reportAtThreshold(
  truth: readonly boolean[],
  scores: readonly number[],
  groups: readonly string[] | undefined,
  threshold: number,
  rule: string,
  opts: BootstrapOptions = {},
): ValidationReport {
  const b = bootstrapMetrics(truth, scores, threshold, groups, opts);
  const metrics = binaryMetrics(truth, scores, threshold);
  const positives = metrics.confusion.tp + metrics.confusion.fn;
  return {
    rule,
    threshold,
    n: truth.length,
    positives,
    negatives: truth.length - positives,
    groups: b.groups,
    replicates: b.replicates,
    level: b.level,
    metrics,
    intervals: b.metrics,
    sensitivityExact: positives > 0 ? clopperPearson(metrics.confusion.tp, positives, b.level) : { lo: 0, hi: 1 },
  };
}

/** Picks the threshold with `rule` on these validation scores, then reportAtThreshold. */
export function validationReport(
  truth: readonly boolean[],
  scores: readonly number[],
  groups: readonly string[] | undefined,
  rule: ThresholdRule,
  opts: BootstrapOptions = {},
): ValidationReport {
  const th = chooseThreshold(truth, scores, rule);
  return reportAtThreshold(truth, scores, groups, th.threshold, th.rule, opts);
}

/** AUC(model) - AUC(baseline) on the same validation images, paired cluster bootstrap interval. */
export function aucGain(
  truth: readonly boolean[],
  model: readonly number[],
  baseline: readonly number[],
  groups?: readonly string[],
  opts: BootstrapOptions = {},
): Interval {
  return pairedAucDifference(truth, baseline, model, groups, opts);
}

const LABELS: Record<MetricName, string> = {
  accuracy: 'accuracy',
  sensitivity: 'sensitivity',
  specificity: 'specificity',
  precision: 'precision',
  f1: 'F1',
  rocAuc: 'ROC AUC',
};

/** "97.5% [96.1, 98.6]" for rates, "0.9961 [0.9930, 0.9984]" for AUC. */
export function formatInterval(m: MetricName, i: Interval): string {
  if (i.value === null) return 'n/a';
  const auc = m === 'rocAuc';
  const f = (v: number) => (auc ? v.toFixed(4) : (100 * v).toFixed(1));
  const ci = i.lo === null || i.hi === null ? '' : ` [${f(i.lo)}, ${f(i.hi)}]`;
  return `${f(i.value)}${auc ? '' : '%'}${ci}`;
}

/** Markdown table: one row per named report, each metric as "value [95% CI]". */
export function renderValidationTable(rows: readonly { name: string; report: ValidationReport }[]): string {
  const head = `| model | rule | threshold | ${METRIC_NAMES.map((m) => LABELS[m]).join(' | ')} |`;
  const sep = `|${'---|'.repeat(METRIC_NAMES.length + 3)}`;
  const body = rows.map(
    ({ name, report: r }) =>
      `| ${name} | ${r.rule} | ${r.threshold.toFixed(4)} | ${METRIC_NAMES.map((m) => formatInterval(m, r.intervals[m])).join(' | ')} |`,
  );
  return [head, sep, ...body].join('\n');
}

/** One paragraph naming what the intervals mean for the first report (its sample, groups, exact sensitivity bound). */
export function describeIntervals(r: ValidationReport): string {
  return (
    `n=${r.n} images (${r.positives} PNEUMONIA, ${r.negatives} NORMAL) from ${r.groups} patients. ` +
    `Intervals: ${Math.round(r.level * 100)}% percentile bootstrap, ${r.replicates} replicates resampling patients (cluster bootstrap). ` +
    `Sensitivity at the threshold: ${r.metrics.confusion.tp}/${r.positives}, exact (Clopper–Pearson, per image) ` +
    `${(100 * r.sensitivityExact.lo).toFixed(1)}–${(100 * r.sensitivityExact.hi).toFixed(1)}%.`
  );
}
