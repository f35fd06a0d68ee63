import type { PredictionLine } from '../run/index.js';

export interface SamplePick {
  /** Right and wrong calls for the X-ray grid. */
  grid: { prediction: PredictionLine; correct: boolean }[];
  /** Most confident pneumonia calls that were right, for Grad-CAM. */
  confident: PredictionLine[];
  /** Wrong calls, most confident first, for Grad-CAM. */
  errors: PredictionLine[];
}

export interface SampleCounts {
  gridRight?: number;
  gridWrong?: number;
  cams?: number;
}

const confidence = (p: PredictionLine) => Math.abs(p.probability - p.threshold);

/** The samples' order: most confident first, then by key. */
const bySampleOrder = (a: PredictionLine, b: PredictionLine) =>
  confidence(b) - confidence(a) || a.key.localeCompare(b.key);

/** The first `k` items in `order` of those added, in that order: a sorted buffer of at most k, so memory stays bounded. */
export class TopK<T> {
  private readonly items: T[] = [];
  constructor(
    private readonly k: number,
    private readonly order: (a: T, b: T) => number,
  ) {}

  add(x: T): void {
    const { items, k, order } = this;
    if (k <= 0 || (items.length === k && order(x, items[k - 1]) >= 0)) return; // the common case: not among the first k
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (order(x, items[mid]) < 0) hi = mid;
      else lo = mid + 1;
    }
    items.splice(lo, 0, x);
    if (items.length > k) items.pop();
  }

  sorted(): T[] {
    return [...this.items];
  }
}

/**
 * Chooses report samples from the predictions as they stream by (those without a label are passed over),
 * keeping only the few it may pick: the wrong calls and the right calls of each class that lead the
 * sample order. Deterministic: the same picks for the same predictions in any order.
 */
export class SamplePicker {
  private readonly gridRight: number;
  private readonly gridWrong: number;
  private readonly cams: number;
  private readonly wrong: TopK<PredictionLine>;
  private readonly rightPos: TopK<PredictionLine>;
  private readonly rightNeg: TopK<PredictionLine>;

  constructor({ gridRight = 8, gridWrong = 8, cams = 4 }: SampleCounts = {}) {
    this.gridRight = gridRight;
    this.gridWrong = gridWrong;
    this.cams = cams;
    this.wrong = new TopK(Math.max(gridWrong, cams), bySampleOrder);
    this.rightPos = new TopK(Math.max(Math.ceil(gridRight / 2), cams), bySampleOrder);
    this.rightNeg = new TopK(gridRight, bySampleOrder);
  }

  add(p: PredictionLine): void {
    if (p.trueLabel === undefined) return;
    if (p.trueLabel !== p.label) this.wrong.add(p);
    else (p.label === 'PNEUMONIA' ? this.rightPos : this.rightNeg).add(p);
  }

  picks(): SamplePick {
    const wrong = this.wrong.sorted();
    const rightPos = this.rightPos.sorted();
    const rightNeg = this.rightNeg.sorted();
    // Balance the right calls between the classes so both appear in the grid.
    const half = Math.ceil(this.gridRight / 2);
    const rightPick = [
      ...rightPos.slice(0, half),
      ...rightNeg.slice(0, this.gridRight - Math.min(half, rightPos.length)),
    ].slice(0, this.gridRight);
    return {
      grid: [
        ...rightPick.map((p) => ({ prediction: p, correct: true })),
        ...wrong.slice(0, this.gridWrong).map((p) => ({ prediction: p, correct: false })),
      ],
      confident: rightPos.slice(0, this.cams),
      errors: wrong.slice(0, this.cams),
    };
  }
}
