import type { FailureLine, PartLine, PredictionLine, RunItem } from './types.js';

export interface MergedRun {
  predictions: PredictionLine[];
  failures: FailureLine[];
  /** Keys no part has a line for (their failure came from `missing`). */
  unrecorded: number;
}

/** The failure of a key no part has a line for. */
export type MissingReason = (item: RunItem) => Pick<FailureLine, 'stage' | 'reason'>;

const noResult: MissingReason = () => ({ stage: 'batch', reason: 'no result was recorded for this key' });

/**
 * Every manifest key exactly once: its latest prediction if any part has one, else its latest failure,
 * else a failure from `missing`. Parts must be given in merge order (generation, then batch). Pure.
 */
export function mergeParts(
  items: readonly RunItem[],
  parts: readonly (readonly PartLine[])[],
  missing: MissingReason = noResult,
): MergedRun {
  const prediction = new Map<string, PredictionLine>();
  const failure = new Map<string, FailureLine>();
  for (const part of parts) {
    for (const line of part) {
      if (line.type === 'prediction') prediction.set(line.key, line);
      else failure.set(line.key, line);
    }
  }
  const predictions: PredictionLine[] = [];
  const failures: FailureLine[] = [];
  let unrecorded = 0;
  for (const item of items) {
    const p = prediction.get(item.key);
    if (p) {
      predictions.push(p);
      continue;
    }
    const f = failure.get(item.key);
    if (!f) unrecorded++;
    failures.push(
      f ?? {
        type: 'failure',
        key: item.key,
        etag: item.etag,
        ...missing(item),
        ...(item.label ? { trueLabel: item.label } : {}),
      },
    );
  }
  return { predictions, failures, unrecorded };
}

/** A part's lines; `raw`, when given, keeps each line's text so a merge can write it again without re-encoding. */
export function parsePart(text: string, name: string, raw?: Map<PartLine, string>): PartLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      let line: PartLine;
      try {
        line = JSON.parse(l) as PartLine;
      } catch {
        throw new Error(`${name} line ${i + 1} is not JSON`);
      }
      raw?.set(line, l);
      return line;
    });
}

/** Failure lines for a whole batch, each with the batch's reason (stage 'batch'). Pure. */
export function batchFailureLines(items: readonly RunItem[], reason: string): FailureLine[] {
  return items.map((i) => ({
    type: 'failure',
    key: i.key,
    etag: i.etag,
    stage: 'batch',
    reason,
    ...(i.label ? { trueLabel: i.label } : {}),
  }));
}
