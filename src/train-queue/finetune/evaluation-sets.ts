// The image sets a fine-tuned model is judged on, each as (items, image variants): validation as stored,
// the stressed validation (every validation image under each fixed shift of variants.ts), and the
// held-out patients, as stored and stressed. Pure.
import type { TrainItem, TrainRunSpec } from '../types.js';
import { STRESS_COPIES } from '../../model/train/variants.js';

export interface EvaluationSet {
  name: 'validation' | 'stressed validation' | 'held-out patients' | 'held-out patients, stressed';
  items: readonly TrainItem[];
  /** Variants scored per item; scores are concatenated variant by variant. */
  copies: number[];
  /** Labels and patient groups, aligned with the concatenated scores. */
  truth: number[];
  groups: string[];
}

const repeat = <T>(xs: readonly T[], k: number): T[] => Array.from({ length: k }, () => xs).flat();

export function evaluationSets(spec: Pick<TrainRunSpec, 'val' | 'holdout'>): EvaluationSet[] {
  const set = (name: EvaluationSet['name'], items: readonly TrainItem[], copies: number[]): EvaluationSet => ({
    name,
    items,
    copies,
    truth: repeat(
      items.map((it) => it.label),
      copies.length,
    ),
    groups: repeat(
      items.map((it) => it.group),
      copies.length,
    ),
  });
  const sets = [set('validation', spec.val, [0]), set('stressed validation', spec.val, [...STRESS_COPIES])];
  if (spec.holdout?.length)
    sets.push(
      set('held-out patients', spec.holdout, [0]),
      set('held-out patients, stressed', spec.holdout, [...STRESS_COPIES]),
    );
  return sets;
}

export function concatF32(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
