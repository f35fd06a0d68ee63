import type { FailureLine, PredictionLine } from '../shared/run/types.js';
import { OOD_FLAG } from './prediction-extras.js';

export interface FlagCounts {
  /** Scored images with at least one flag. */
  flagged: number;
  /** Scored images flagged 'out of distribution'. */
  outOfDistribution: number;
  /** Scored images with an OOD score (0 when the model ships no OOD stats). */
  withOodScore: number;
  /** Scored images per flag. */
  byFlag: Record<string, number>;
  /** Images --skip-flagged recorded as failures. */
  failedAsFlagged: number;
}

/** Flag and OOD counts of a merged run, for metrics.json and the report. Pure. */
export function flagCounts(merged: { predictions: readonly PredictionLine[]; failures: readonly FailureLine[] }): FlagCounts {
  const byFlag: Record<string, number> = {};
  let flagged = 0;
  let withOodScore = 0;
  for (const p of merged.predictions) {
    if (p.ood !== undefined) withOodScore++;
    if (!p.flags?.length) continue;
    flagged++;
    for (const f of p.flags) byFlag[f] = (byFlag[f] ?? 0) + 1;
  }
  return { flagged, outOfDistribution: byFlag[OOD_FLAG] ?? 0, withOodScore, byFlag, failedAsFlagged: merged.failures.filter((f) => f.stage === 'flagged').length };
}

/** 'N flagged, M out of distribution (K lateral view; ...)' for the report and the CLI. Pure. */
export function flagsFact(f: FlagCounts): string {
  const parts = Object.entries(f.byFlag).map(([flag, n]) => `${n} ${flag}`);
  const ood = f.withOodScore ? `${f.outOfDistribution} out of distribution` : 'no OOD score (the model ships no OOD stats)';
  return `${f.flagged} flagged, ${ood}${parts.length ? ` (${parts.join('; ')})` : ''}${f.failedAsFlagged ? `; ${f.failedAsFlagged} failed under --skip-flagged` : ''}`;
}
