import { parseArgs } from 'node:util';
import { TRAIN_FROM, type TrainFrom } from '../resnet50.js';
import { groupByText, parseGroupBy } from './groups.js';

export type OptimizerName = 'adam' | 'sgd' | 'rmsprop';
export type LrSchedule = 'constant' | 'cosine' | 'step';
export type ThresholdRule =
  { kind: 'youden' } | { kind: 'sens-target'; target: number } | { kind: 'sens-bound'; target: number };

export interface TrainOptions {
  data: string;
  out: string;
  seed: number;
  valFraction: number;
  augmentCopies: number;
  classWeights: 'auto' | 'none';
  optimizer: OptimizerName;
  lr: number;
  batchSize: number;
  epochs: number;
  lrSchedule: LrSchedule;
  clipNorm: number; // 0 = off
  weightDecay: number; // L2 on the dense kernel
  dropout: number;
  minEpochs: number;
  patience: number;
  thresholdRule: ThresholdRule;
  /** Patient grouping of the split: auto (file-name rules), none, or a regex (see groups.ts). */
  groupBy: string;
  limit: number; // 0 = all
  workers: number;
  extractOnly: boolean;
  featuresReadyOnly: boolean;
  version: string;
  /** head: frozen backbone, cached GAP features; conv5/conv4/all: fine-tune from that stage on. */
  trainFrom: 'head' | TrainFrom;
  /** Rounds of linear learning-rate warm-up before the schedule. */
  warmupEpochs: number;
  /**
   * Augmentation of training images (variants.ts): mild = copies 1..augmentCopies of the 1.0.0/2.0.0
   * rotation/flip/shift; strong = random resized crop with photometric jitter, and for fine-tuning a
   * fresh draw every round (augmentCopies is then not used).
   */
  augment: 'mild' | 'strong';
  /** Fine-tuning targets y(1 - e) + e/2: the loss stops rewarding ever larger logits (saturated scores). */
  labelSmoothing: number;
  /** Share of all images held out by patient from the validation side: nothing in training or selection reads them. */
  holdoutFraction: number;
  /** Fine-tuning warm start: a fine-tuned model folder (local or s3://) instead of ImageNet + AdaBN. '' = none. */
  initFrom: string;
  /** Validation set that picks the checkpoint and the threshold: the stored images, or the same under fixed shifts. */
  selectOn: 'clean' | 'stressed';
}

export function parseThresholdRule(s: string): ThresholdRule {
  if (s === 'youden') return { kind: 'youden' };
  const m = /^(sens-target|sens-bound):(0?\.\d+|1(\.0*)?)$/.exec(s);
  if (m) return { kind: m[1] as 'sens-target' | 'sens-bound', target: Number(m[2]) };
  throw new Error(`--threshold-rule ${s}: expected youden, sens-target:<0..1> or sens-bound:<0..1>`);
}

function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v))
    throw new Error(`--${name} ${v}: expected one of ${allowed.join(', ')}`);
  return v as T;
}

function num(name: string, v: string, min = -Infinity): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} ${v}: not a number >= ${min}`);
  return n;
}

/** Parses the training CLI arguments (pure). */
export function parseTrainArgs(argv: string[]): TrainOptions {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      out: { type: 'string', default: 'models/pneumonia-resnet50' },
      seed: { type: 'string', default: '42' },
      'val-fraction': { type: 'string', default: '0.2' },
      'augment-copies': { type: 'string', default: '1' },
      'class-weights': { type: 'string', default: 'auto' },
      optimizer: { type: 'string', default: 'adam' },
      lr: { type: 'string', default: '0.001' },
      'batch-size': { type: 'string', default: '64' },
      epochs: { type: 'string', default: '60' },
      'lr-schedule': { type: 'string', default: 'cosine' },
      'clip-norm': { type: 'string', default: '0' },
      'weight-decay': { type: 'string', default: '0.0001' },
      dropout: { type: 'string', default: '0.3' },
      'min-epochs': { type: 'string', default: '5' },
      patience: { type: 'string', default: '10' },
      'threshold-rule': { type: 'string', default: 'sens-target:0.95' },
      'group-by': { type: 'string', default: 'auto' },
      limit: { type: 'string', default: '0' },
      workers: { type: 'string', default: '2' },
      'extract-only': { type: 'boolean', default: false },
      'features-ready-only': { type: 'boolean', default: false },
      version: { type: 'string', default: '1.0.0' },
      'train-from': { type: 'string', default: 'head' },
      'warmup-epochs': { type: 'string', default: '0' },
      augment: { type: 'string', default: 'strong' },
      'label-smoothing': { type: 'string', default: '0.1' },
      'holdout-fraction': { type: 'string', default: '0.1' },
      'init-from': { type: 'string', default: '' },
      'select-on': { type: 'string', default: 'stressed' },
    },
    strict: true,
  });
  if (!v.data) throw new Error('--data DIR is required (folder with NORMAL/ and PNEUMONIA/)');
  const dropout = num('dropout', v.dropout!, 0);
  if (dropout >= 1) throw new Error('--dropout must be < 1');
  const valFraction = num('val-fraction', v['val-fraction']!, 0);
  const holdoutFraction = num('holdout-fraction', v['holdout-fraction']!, 0);
  if (holdoutFraction >= valFraction && holdoutFraction > 0) {
    throw new Error(
      `--holdout-fraction ${holdoutFraction} must be below --val-fraction ${valFraction}: the held-out patients are carved out of the validation side`,
    );
  }
  const labelSmoothing = num('label-smoothing', v['label-smoothing']!, 0);
  if (labelSmoothing >= 0.5) throw new Error('--label-smoothing must be < 0.5');
  return {
    data: v.data,
    out: v.out!,
    seed: Math.trunc(num('seed', v.seed!)),
    valFraction,
    augmentCopies: Math.trunc(num('augment-copies', v['augment-copies']!, 0)),
    classWeights: oneOf('class-weights', v['class-weights']!, ['auto', 'none'] as const),
    optimizer: oneOf('optimizer', v.optimizer!, ['adam', 'sgd', 'rmsprop'] as const),
    lr: num('lr', v.lr!, 0),
    batchSize: Math.trunc(num('batch-size', v['batch-size']!, 1)),
    epochs: Math.trunc(num('epochs', v.epochs!, 1)),
    lrSchedule: oneOf('lr-schedule', v['lr-schedule']!, ['constant', 'cosine', 'step'] as const),
    clipNorm: num('clip-norm', v['clip-norm']!, 0),
    weightDecay: num('weight-decay', v['weight-decay']!, 0),
    dropout,
    minEpochs: Math.trunc(num('min-epochs', v['min-epochs']!, 0)),
    patience: Math.trunc(num('patience', v.patience!, 1)),
    thresholdRule: parseThresholdRule(v['threshold-rule']!),
    groupBy: groupByText(parseGroupBy(v['group-by']!)),
    limit: Math.trunc(num('limit', v.limit!, 0)),
    workers: Math.trunc(num('workers', v.workers!, 1)),
    extractOnly: v['extract-only']!,
    featuresReadyOnly: v['features-ready-only']!,
    version: v.version!,
    trainFrom: oneOf('train-from', v['train-from']!, ['head', ...TRAIN_FROM] as const),
    warmupEpochs: Math.trunc(num('warmup-epochs', v['warmup-epochs']!, 0)),
    augment: oneOf('augment', v.augment!, ['mild', 'strong'] as const),
    labelSmoothing,
    holdoutFraction,
    initFrom: v['init-from']!,
    selectOn: oneOf('select-on', v['select-on']!, ['clean', 'stressed'] as const),
  };
}
