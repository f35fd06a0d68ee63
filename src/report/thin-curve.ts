import type { CurvePoint } from '../shared/metrics.js';

type Axis = 'fpr' | 'tpr' | 'precision';

/** Points a chart draws of a curve: at most `max` of them, so a spec never embeds one point a key. */
export const MAX_CURVE_POINTS = 500;

/**
 * At most `max` points of a curve, its first and last included, read in passes (`points` is called again
 * for each, so a lazy curve is never held whole). Between two consecutive kept points the dropped ones lie
 * on a stretch of path no longer than `tolerance` (L1 in x and y), so the drawn line stays within
 * `tolerance` of the full curve in each coordinate. The tolerance is path length / (max - 2), or twice
 * that where the curve's turns need more points: at most 4 / (max - 2) for a ROC curve (path length 2). Pure.
 */
export function thinCurve(
  points: () => Iterable<CurvePoint>,
  x: Axis,
  y: Axis,
  max = MAX_CURVE_POINTS,
): { points: CurvePoint[]; tolerance: number } {
  const d = (a: CurvePoint, b: CurvePoint) => Math.abs(b[x] - a[x]) + Math.abs(b[y] - a[y]);
  let count = 0;
  let length = 0;
  let prev: CurvePoint | undefined;
  for (const p of points()) {
    if (prev) length += d(prev, p);
    prev = p;
    count++;
  }
  if (count <= max) return { points: [...points()], tolerance: 0 };
  const tight = length / (max - 2);
  const kept = thinned(points(), d, tight);
  if (kept.length <= max) return { points: kept, tolerance: tight };
  // A kept point closes a stretch of the tolerance or starts a longer step: at twice the tolerance it always fits.
  return { points: thinned(points(), d, 2 * tight), tolerance: 2 * tight };
}

/** Keeps a point where passing it would leave a stretch longer than `tolerance` since the last kept one; keeps both ends. */
function thinned(
  points: Iterable<CurvePoint>,
  d: (a: CurvePoint, b: CurvePoint) => number,
  tolerance: number,
): CurvePoint[] {
  const kept: CurvePoint[] = [];
  let since = 0; // path length from the last kept point to prev
  let prev: CurvePoint | undefined;
  for (const p of points) {
    if (!prev) kept.push(p);
    else {
      const step = d(prev, p);
      if (since + step > tolerance && kept.at(-1) !== prev) {
        kept.push(prev);
        since = 0;
      }
      since += step;
    }
    prev = p;
  }
  if (prev && kept.at(-1) !== prev) kept.push(prev);
  return kept;
}
