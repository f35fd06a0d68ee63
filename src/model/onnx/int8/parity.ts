// Parity of an INT8 model against its FP32 source on the same images. Pure.
import { rocAuc } from '../../../shared/metrics.js';

/**
 * The bar from issue 21: INT8 ships only within these of FP32 on validation, and its accuracy on the
 * held-out patients (held-out.json) within half a point of FP32's.
 */
export const PARITY_LIMITS = { maxAucChange: 0.003, minAgreement: 0.995, maxHeldOutAccuracyChange: 0.005 } as const;

export interface ScoreAgreement {
  n: number;
  /** Share of images whose decision (score >= threshold) is the same under both models. */
  decisionAgreement: number;
  decisionsChanged: number;
  maxScoreDiff: number;
  meanAbsScoreDiff: number;
  /** Mean |logit difference|: unlike the score, it still moves where sigmoid saturates. */
  meanAbsLogitDiff: number;
}

const logit = (p: number): number => {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return Math.log(q / (1 - q));
};

export function scoreAgreement(a: ArrayLike<number>, b: ArrayLike<number>, threshold: number): ScoreAgreement {
  if (a.length !== b.length || a.length === 0)
    throw new Error(`score lists differ in length (${a.length} vs ${b.length}) or are empty`);
  let same = 0;
  let maxDiff = 0;
  let sumDiff = 0;
  let sumLogit = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] >= threshold === b[i] >= threshold) same++;
    const d = Math.abs(a[i] - b[i]);
    maxDiff = Math.max(maxDiff, d);
    sumDiff += d;
    sumLogit += Math.abs(logit(a[i]) - logit(b[i]));
  }
  const n = a.length;
  return {
    n,
    decisionAgreement: same / n,
    decisionsChanged: n - same,
    maxScoreDiff: maxDiff,
    meanAbsScoreDiff: sumDiff / n,
    meanAbsLogitDiff: sumLogit / n,
  };
}

export interface ParityReport extends ScoreAgreement {
  threshold: number;
  aucFp32: number | null;
  aucInt8: number | null;
  /** INT8 AUC minus FP32 AUC. */
  aucChange: number | null;
  accuracyFp32: number;
  accuracyInt8: number;
  pass: boolean;
  limits: typeof PARITY_LIMITS;
}

export function parityReport(
  truth: readonly boolean[],
  fp32: ArrayLike<number>,
  int8: ArrayLike<number>,
  threshold: number,
): ParityReport {
  const agree = scoreAgreement(fp32, int8, threshold);
  const aucFp32 = rocAuc(truth, Array.from(fp32));
  const aucInt8 = rocAuc(truth, Array.from(int8));
  const aucChange = aucFp32 === null || aucInt8 === null ? null : aucInt8 - aucFp32;
  const acc = (s: ArrayLike<number>) => truth.filter((t, i) => s[i] >= threshold === t).length / truth.length;
  const pass =
    aucChange !== null &&
    Math.abs(aucChange) <= PARITY_LIMITS.maxAucChange &&
    agree.decisionAgreement >= PARITY_LIMITS.minAgreement;
  return {
    ...agree,
    threshold,
    aucFp32,
    aucInt8,
    aucChange,
    accuracyFp32: acc(fp32),
    accuracyInt8: acc(int8),
    pass,
    limits: PARITY_LIMITS,
  };
}

/** The same comparison on the held-out patients; there the bar is accuracy alone (INT8 within half a point of FP32). */
export interface HeldOutParity extends ParityReport {
  patients: number;
  /** INT8 accuracy minus FP32 accuracy at the shipped threshold. */
  accuracyChange: number;
}

export function heldOutParity(
  truth: readonly boolean[],
  fp32: ArrayLike<number>,
  int8: ArrayLike<number>,
  threshold: number,
  patients: number,
): HeldOutParity {
  const r = parityReport(truth, fp32, int8, threshold);
  const accuracyChange = r.accuracyInt8 - r.accuracyFp32;
  return {
    ...r,
    patients,
    accuracyChange,
    pass: Math.abs(accuracyChange) <= PARITY_LIMITS.maxHeldOutAccuracyChange + 1e-12,
  };
}

const CARD_BEGIN = '<!-- int8-parity:begin (written by npm run int8:parity) -->';
const CARD_END = '<!-- int8-parity:end -->';

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** The model card section: what was quantised, how, and the parity figures. Pure. */
export function cardSection(
  p: ParityReport & {
    modelId: string;
    split: { seed: number; valFraction: number };
    calibration: { method: string; images: number; keepFp32: string[] };
    heldOut?: HeldOutParity;
  },
): string {
  const h = p.heldOut;
  const heldOut = h
    ? [
        '',
        `On the ${h.n} images of the ${h.patients} held-out patients (held-out.json: patients nothing in training or model selection read):`,
        '',
        '| | FP32 | INT8 |',
        '|---|---|---|',
        `| ROC AUC | ${h.aucFp32?.toFixed(4)} | ${h.aucInt8?.toFixed(4)} |`,
        `| accuracy at the shipped threshold | ${pct(h.accuracyFp32)} | ${pct(h.accuracyInt8)} |`,
        '',
        `Accuracy change ${(h.accuracyChange * 100).toFixed(2)} points (limit ±${PARITY_LIMITS.maxHeldOutAccuracyChange * 100}); decisions agree on ${pct(h.decisionAgreement)} (${h.decisionsChanged} changed); ` +
          `largest score difference ${h.maxScoreDiff.toFixed(4)}. ${h.pass ? 'Within the limit' : 'NOT within the limit'}.`,
      ]
    : [];
  return [
    CARD_BEGIN,
    '## INT8 parity (engine `onnx-int8`)',
    '',
    `Static INT8 in QDQ form: int8 weights, symmetric per output channel; uint8 activations, per tensor, ranges from ${p.calibration.images} training-split images (${p.calibration.method}; chosen against FP32 on other training images). ` +
      `Layers kept in FP32: ${p.calibration.keepFp32.length ? p.calibration.keepFp32.join(', ') : 'none besides the head (GlobalAveragePool, Dense, sigmoid), which is not quantised'}.`,
    '',
    `Measured on the ${p.n} images of the patient-grouped validation split (seed ${p.split.seed}, ${p.split.valFraction * 100}%), against the FP32 export of model ${p.modelId}:`,
    '',
    '| | FP32 | INT8 |',
    '|---|---|---|',
    `| ROC AUC | ${p.aucFp32?.toFixed(4)} | ${p.aucInt8?.toFixed(4)} |`,
    `| accuracy at the shipped threshold ${p.threshold.toFixed(4)} | ${pct(p.accuracyFp32)} | ${pct(p.accuracyInt8)} |`,
    '',
    `AUC change ${p.aucChange?.toFixed(4)} (limit ±${PARITY_LIMITS.maxAucChange}); decisions agree on ${pct(p.decisionAgreement)} (${p.decisionsChanged} changed; at least ${pct(PARITY_LIMITS.minAgreement)} required); ` +
      `largest score difference ${p.maxScoreDiff.toFixed(4)}, mean ${p.meanAbsScoreDiff.toFixed(5)}. Parity on validation ${p.pass ? 'holds' : 'does NOT hold'}.`,
    ...heldOut,
    '',
    (p.pass && (h?.pass ?? true)
      ? 'INT8 is therefore the default engine on CPU hosts (`auto`); '
      : 'INT8 is therefore NOT the default engine (`auto` runs FP32); ') +
      '`CXR_ENGINE=onnx` forces FP32, and a host with the CUDA execution provider runs FP32.',
    CARD_END,
  ].join('\n');
}

/** The card with its INT8 section replaced (or appended). Pure. */
export function withCardSection(card: string, section: string): string {
  const a = card.indexOf(CARD_BEGIN);
  const b = card.indexOf(CARD_END);
  if (a >= 0 && b > a) return card.slice(0, a) + section + card.slice(b + CARD_END.length);
  return `${card.replace(/\s*$/, '')}\n\n${section}\n`;
}
