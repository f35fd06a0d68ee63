import type { FailureLine, PredictionLine } from './types.js';

/** The flag an image gets when its OOD distance passes the model's threshold. */
export const OOD_FLAG = 'out of distribution';

/**
 * The flag an image gets when its content hash is in the model's training or validation set
 * (data-hashes.bin): its score is in-sample and says little about the model's quality. Unlike the other
 * flags it does not mean the model was not trained on such images, so --skip-flagged does not skip it.
 */
export const IN_TRAINING_FLAG = 'in-training-set';

export interface FlagCounts {
  /** Scored images with at least one flag. */
  flagged: number;
  /** Scored images flagged 'out of distribution'. */
  outOfDistribution: number;
  /** Scored images flagged 'in-training-set': the model saw them in training or validation. */
  inTrainingSet?: number;
  /** Scored images with an OOD score (0 when the model ships no OOD stats). */
  withOodScore: number;
  /** Scored images per flag. */
  byFlag: Record<string, number>;
  /** Images --skip-flagged recorded as failures. */
  failedAsFlagged: number;
}

export type FlagState = Pick<FlagCounts, 'flagged' | 'withOodScore' | 'byFlag' | 'failedAsFlagged'>;

/** Flag and OOD counts, fed one line at a time (finalize's single pass), for metrics.json and the report. */
export class FlagTally {
  private readonly byFlag: Record<string, number> = {};
  private flagged = 0;
  private withOodScore = 0;
  private failedAsFlagged = 0;

  prediction(p: PredictionLine): void {
    if (p.ood !== undefined) this.withOodScore++;
    if (!p.flags?.length) return;
    this.flagged++;
    for (const f of p.flags) this.byFlag[f] = (this.byFlag[f] ?? 0) + 1;
  }

  failure(f: FailureLine): void {
    if (f.stage === 'flagged') this.failedAsFlagged++;
  }

  state(): FlagState {
    return {
      flagged: this.flagged,
      withOodScore: this.withOodScore,
      byFlag: { ...this.byFlag },
      failedAsFlagged: this.failedAsFlagged,
    };
  }

  /** Adds another tally's state (flags in its order). */
  absorb(s: FlagState): void {
    this.flagged += s.flagged;
    this.withOodScore += s.withOodScore;
    this.failedAsFlagged += s.failedAsFlagged;
    for (const [f, n] of Object.entries(s.byFlag)) this.byFlag[f] = (this.byFlag[f] ?? 0) + n;
  }

  result(): FlagCounts {
    return {
      flagged: this.flagged,
      outOfDistribution: this.byFlag[OOD_FLAG] ?? 0,
      inTrainingSet: this.byFlag[IN_TRAINING_FLAG] ?? 0,
      withOodScore: this.withOodScore,
      byFlag: { ...this.byFlag },
      failedAsFlagged: this.failedAsFlagged,
    };
  }
}

/** 'N flagged, M out of distribution (K lateral view; ...)' for the report and the CLI. Pure. */
export function flagsFact(f: FlagCounts): string {
  const parts = Object.entries(f.byFlag).map(([flag, n]) => `${n} ${flag}`);
  const ood = f.withOodScore
    ? `${f.outOfDistribution} out of distribution`
    : 'no OOD score (the model ships no OOD stats)';
  return `${f.flagged} flagged, ${ood}${parts.length ? ` (${parts.join('; ')})` : ''}${f.failedAsFlagged ? `; ${f.failedAsFlagged} failed under --skip-flagged` : ''}`;
}

/**
 * The warning for a run whose labelled metrics include images the model was trained or selected on, or
 * undefined when none were flagged. Pure.
 */
export function inSampleWarning(f: FlagCounts | undefined, scored: number): string | undefined {
  const n = f?.inTrainingSet ?? f?.byFlag[IN_TRAINING_FLAG] ?? 0;
  if (!n) return undefined;
  const all = n === scored ? 'all' : `${n} of the ${scored}`;
  return `${all} scored images are in the model's training or validation set (flag ${IN_TRAINING_FLAG}): the metrics include in-sample images and overstate the model's quality on new patients`;
}
