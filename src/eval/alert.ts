import type { BinaryMetrics } from '../shared/metrics.js';
import { ksStatistic, psi, type ScoreSummary } from './drift.js';
import type { Alert } from './types.js';

/** What a night is compared against: the previous night or the stored baseline. */
export interface Reference {
  metrics: Pick<BinaryMetrics, 'recall' | 'specificity' | 'rocAuc'>;
  scores?: ScoreSummary;
}

export interface Limits {
  margin: number;
  psiLimit: number;
  ksLimit: number;
}

const WATCHED = [
  ['recall', 'sensitivity'],
  ['specificity', 'specificity'],
  ['rocAuc', 'AUC'],
] as const;

/** Alerts for one reference: metric drops larger than the margin, and score-distribution shifts above the limits. Pure. */
export function compareTo(
  against: Alert['against'],
  current: Reference,
  ref: Reference | undefined,
  limits: Limits,
): Alert[] {
  if (!ref) return [];
  const alerts: Alert[] = [];
  for (const [field, label] of WATCHED) {
    const value = current.metrics[field];
    const reference = ref.metrics[field];
    if (value === null || reference === null || value === undefined || reference === undefined) continue;
    if (reference - value > limits.margin) {
      alerts.push({
        kind: 'metric-drop',
        against,
        metric: label,
        value,
        reference,
        limit: limits.margin,
        message: `${label} fell from ${reference.toFixed(4)} to ${value.toFixed(4)} (more than ${limits.margin}) against the ${against}`,
      });
    }
  }
  const a = ref.scores?.histogram;
  const b = current.scores?.histogram;
  if (a && b && a.length === b.length) {
    const stats = [
      ['PSI', psi(a, b), limits.psiLimit],
      ['KS', ksStatistic(a, b), limits.ksLimit],
    ] as const;
    for (const [metric, value, limit] of stats) {
      if (value > limit) {
        alerts.push({
          kind: 'distribution-shift',
          against,
          metric,
          value,
          reference: 0,
          limit,
          message: `score distribution shifted against the ${against}: ${metric} ${value.toFixed(4)} > ${limit}`,
        });
      }
    }
  }
  return alerts;
}

export function decideAlerts(
  current: Reference,
  previous: Reference | undefined,
  baseline: Reference | undefined,
  limits: Limits,
): Alert[] {
  return [...compareTo('previous', current, previous, limits), ...compareTo('baseline', current, baseline, limits)];
}
