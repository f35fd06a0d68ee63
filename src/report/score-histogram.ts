import type { ClassName } from '../shared/labels.js';
import type { PredictionLine } from '../run/index.js';
import type { ScoreBins } from './chart-specs.js';

const CLASSES: readonly ClassName[] = ['NORMAL', 'PNEUMONIA'];

/**
 * Counts of the labelled scores by true class in equal bins over [0, 1], binned as Vega-Lite's
 * `bin: {extent: [0, 1], step}` does (the top score falls in the last bin), so the chart drawn from the
 * counts is the one Vega-Lite drew from one value a prediction. Memory: two arrays of 1 / step counts.
 */
export class ScoreHistogram {
  private readonly bins: number;
  private readonly counts: Record<ClassName, number[]>;

  constructor(readonly step = 0.05) {
    this.bins = Math.ceil(1 / step);
    this.counts = { NORMAL: new Array<number>(this.bins).fill(0), PNEUMONIA: new Array<number>(this.bins).fill(0) };
  }

  add(p: PredictionLine): void {
    if (p.trueLabel === undefined) return;
    const v = Math.max(0, Math.min(p.probability, this.bins * this.step - this.step));
    this.counts[p.trueLabel][Math.floor(1e-14 + v / this.step)]++; // Vega's EPSILON: a score on a bin edge opens the upper bin
  }

  /** The non-empty bins, NORMAL first, each in score order; the ends as Vega computes them. */
  result(): ScoreBins {
    const s = this.step;
    const bins = CLASSES.flatMap((actual) =>
      this.counts[actual].flatMap((count, i) =>
        count ? [{ start: s * i, end: s * (1 + (s * i) / s), actual, count }] : [],
      ),
    );
    return { step: s, bins };
  }
}
