/**
 * Calibration of a model's operating point on a site's labelled sample (pure parts): the sample-size
 * rule, the new version's metadata and its model card section.
 */
import { requiredPositives } from '../../shared/binomial.js';
import type { HeadMetadata } from '../metadata.js';
import { describeIntervals, renderValidationTable, type ValidationReport } from '../train/validation-report.js';

/** The labelled sample as it was scored. */
export interface CalibrationSample {
  uri: string;
  labelsFrom: string;
  /** The scoring run (its predictions are under runsOut/runId/). */
  runId: string;
  runsOut: string;
  /** Images scored with a label, and how many of them are PNEUMONIA / NORMAL. */
  n: number;
  positives: number;
  negatives: number;
  /** Labelled images the pipeline could not score (listed in the run's failures.jsonl). */
  failed: number;
  patients: number;
}

/** metadata.json `calibration` of a calibrated version. */
export interface CalibrationRecord {
  targetSensitivity: number;
  margin: number;
  requiredPositives: number;
  sample: CalibrationSample;
  report: ValidationReport;
  previous: { id: string; version: string; threshold: number; thresholdRule: string };
  /** Ids of the models with the same weights (this one's ancestors): their scores are this model's scores. */
  sameWeightsAs: string[];
  calibratedAt: string;
}

export class SampleTooSmallError extends Error {
  constructor(
    readonly positives: number,
    readonly required: number,
    target: number,
    margin: number,
    where: string,
  ) {
    super(
      `${where} has ${positives} labelled PNEUMONIA image(s); choosing a threshold for sensitivity ${target} needs at least ${required} ` +
        `(so that the exact 95% lower bound of the sample sensitivity is >= ${+(target - margin).toFixed(4)}): add ${required - positives} more, ` +
        'or lower --target-sensitivity, or widen --margin',
    );
    this.name = 'SampleTooSmallError';
  }
}

/** Throws SampleTooSmallError unless the sample has the positives the rule needs; returns that number. */
export function checkSampleSize(
  positives: number,
  negatives: number,
  target: number,
  margin: number,
  where: string,
): number {
  const required = requiredPositives(target, margin);
  if (positives < required) throw new SampleTooSmallError(positives, required, target, margin, where);
  if (negatives < 1)
    throw new Error(`${where} has no labelled NORMAL image: specificity at the new threshold could not be measured`);
  return required;
}

/** Models whose predictions count as this model's scores: itself and every model with its weights. */
export function sameWeightIds(meta: HeadMetadata): Set<string> {
  const c = meta.calibration as Partial<CalibrationRecord> | undefined;
  return new Set([meta.id, ...(c?.sameWeightsAs ?? [])]);
}

/** Default version of a calibrated model: the base version + "+cal.<date>" (semver build metadata). */
export function calibratedVersion(prev: string, now: Date): string {
  return `${prev.replace(/\+.*$/, '')}+cal.${now.toISOString().slice(0, 10).replace(/-/g, '')}`;
}

/** The new version's metadata (id left empty for the caller to compute): same everything, new threshold. */
export function calibratedMetadata(
  prev: HeadMetadata,
  rec: Omit<CalibrationRecord, 'previous' | 'sameWeightsAs'>,
  version: string,
): HeadMetadata {
  return {
    ...prev,
    id: '',
    version,
    threshold: rec.report.threshold,
    thresholdRule: `${rec.report.rule} (calibrated)`,
    calibration: {
      ...rec,
      previous: { id: prev.id, version: prev.version, threshold: prev.threshold, thresholdRule: prev.thresholdRule },
      sameWeightsAs: [...sameWeightIds(prev)],
    } satisfies CalibrationRecord,
  };
}

const SECTION = '## Calibration';

/**
 * The model card of the calibrated version: the title names the new version, a note under it says what
 * changed, and a Calibration section (replacing an earlier one) gives the sample and its metrics.
 */
export function calibratedCard(prevCard: string | undefined, meta: HeadMetadata): string {
  const c = meta.calibration as CalibrationRecord;
  const s = c.sample;
  const section = `${SECTION}

Threshold set on a site's labelled sample scored by the pipeline: same weights as model \`${c.previous.id}\` (version ${c.previous.version},
threshold ${c.previous.threshold.toFixed(6)}, rule ${c.previous.thresholdRule}); new threshold **${meta.threshold.toFixed(6)}**, the highest score
whose sensitivity on the sample reaches ${c.targetSensitivity}. Calibrated ${c.calibratedAt}.

- Sample: \`${s.uri}\` (labels from ${s.labelsFrom}); ${s.n} images scored: ${s.positives} PNEUMONIA, ${s.negatives} NORMAL, ${s.patients} patients; ${s.failed} labelled image(s) could not be scored.
- Scoring run \`${s.runId}\` under \`${s.runsOut}\`.
- Sample-size rule: at least ${c.requiredPositives} positives, so that the Clopper–Pearson 95% lower bound of a sensitivity of ${c.targetSensitivity} is at least ${+(c.targetSensitivity - c.margin).toFixed(4)}.

${renderValidationTable([{ name: `${meta.name} ${meta.version}`, report: c.report }])}

${describeIntervals(c.report)} These are measured on the sample the threshold was chosen on (optimistic for sensitivity).
`;
  const body = (prevCard ?? `# ${meta.name}\n`)
    .replace(new RegExp(`\\n${SECTION}\\n[\\s\\S]*?(?=\\n## |$)`), '\n')
    .replace(/^> \*\*Calibrated version.*\n(>.*\n)*\n?/m, '');
  const [title, ...rest] = body.split('\n');
  const note =
    `> **Calibrated version ${meta.version}**, model id \`${meta.id}\`: threshold ${meta.threshold.toFixed(6)} (see Calibration).\n` +
    `> Everything above the Calibration section describes model \`${c.previous.id}\`, whose weights this version keeps.\n`;
  return (
    [
      `${title.replace(/^# .*$/, `# ${meta.name} ${meta.version}`)}`,
      '',
      note,
      ...rest.join('\n').replace(/^\n+/, '').split('\n'),
    ]
      .join('\n')
      .replace(/\n*$/, '\n\n') + section
  );
}
