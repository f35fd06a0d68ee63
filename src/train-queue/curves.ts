import { trainingCurvesSpec } from '../report/chart-specs.js';
import { renderPng } from '../report/render.js';
import type { HistoryEntry } from './types.js';

/** PNG of the run's loss, accuracy and learning-rate curves (vega-lite -> SVG -> sharp). */
export function curvesPng(history: readonly HistoryEntry[]): Promise<Buffer> {
  return renderPng(trainingCurvesSpec(history.map(({ selectedOn: _s, ...h }) => h)));
}
