import { clopperPearson } from '../../shared/binomial.js';
import type { ThresholdRule } from './options.js';

export interface ThresholdChoice {
  threshold: number;
  sensitivity: number;
  specificity: number;
  rule: string;
}

/**
 * Picks the decision threshold t (positive iff score >= t) on validation scores.
 * youden: maximise J = sensitivity + specificity - 1 over every distinct score; ties -> higher t.
 * sens-target:s: the highest t whose sensitivity >= s (so specificity is as high as possible).
 * sens-bound:s: the highest t whose exact (Clopper–Pearson, 95%) lower bound on sensitivity >= s: the target
 * held with confidence rather than on the point estimate, for validation sets too separable to place the threshold.
 */
export function chooseThreshold(
  truth: readonly boolean[],
  scores: readonly number[],
  rule: ThresholdRule,
): ThresholdChoice {
  const pos = truth.filter(Boolean).length;
  const neg = truth.length - pos;
  if (pos === 0 || neg === 0) throw new Error('threshold selection needs both classes in validation');
  const order = scores.map((s, i) => [s, truth[i]] as const).sort((a, b) => b[0] - a[0]);
  let tp = 0;
  let fp = 0;
  let best: ThresholdChoice | null = null;
  for (let i = 0; i < order.length;) {
    const t = order[i][0];
    while (i < order.length && order[i][0] === t) {
      if (order[i][1]) tp++;
      else fp++;
      i++;
    }
    const sens = tp / pos;
    const spec = 1 - fp / neg;
    if (rule.kind === 'youden') {
      if (!best || sens + spec - 1 > best.sensitivity + best.specificity - 1)
        best = { threshold: t, sensitivity: sens, specificity: spec, rule: 'youden' };
    } else if (rule.kind === 'sens-target' ? sens >= rule.target : clopperPearson(tp, pos).lo >= rule.target) {
      return { threshold: t, sensitivity: sens, specificity: spec, rule: `${rule.kind}:${rule.target}` };
    }
  }
  if (!best) throw new Error('no threshold found');
  return best;
}
