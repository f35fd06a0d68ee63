import Table from 'cli-table3';
import type { HistoryEntry } from '../eval/types.js';
import { fixed, percent } from '../shared/format.js';
import { definedRate } from '../shared/metrics.js';

/** The evaluation history as a terminal table. */
export function historyTable(entries: readonly HistoryEntry[]): string {
  const t = new Table({
    head: ['date', 'name', 'model', 'n', 'sensitivity', 'specificity', 'AUC', 'mean score', 'positive rate', 'alerts'],
  });
  for (const e of entries) {
    t.push([
      e.date,
      e.name,
      e.model ? `${e.model.version} (${e.model.id.slice(0, 8)})` : '-',
      String(e.metrics.n),
      percent(definedRate(e.metrics, 'recall')),
      percent(definedRate(e.metrics, 'specificity')),
      fixed(e.metrics.rocAuc, 4),
      e.scores.mean.toFixed(3),
      percent(e.scores.positiveRate),
      e.alerts.length ? e.alerts.map((a) => `${a.metric} vs ${a.against}`).join('; ') : '-',
    ]);
  }
  return t.toString();
}
