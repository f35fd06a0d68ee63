import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Location } from '../shared/s3/uri.js';
import { finishedEpochs, readHistory, readStatus } from './run-io.js';
import type { HistoryEntry, RunStatusDoc } from './types.js';

/** A poll that reads an object while it is being rewritten (some S3 servers serve partial bodies) tries again next tick. */
export async function tolerant<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

export function formatEpoch(h: HistoryEntry, epochs: number, bestEpoch: number | null): string {
  const f = (x: number) => x.toFixed(4);
  return (
    `epoch ${h.epoch}/${epochs}  lr ${h.lr.toExponential(2)}  train loss ${f(h.trainLoss)} acc ${f(h.trainAccuracy)}  ` +
    `val loss ${f(h.valLoss)} acc ${f(h.valAccuracy)}  best ${bestEpoch ?? '-'}`
  );
}

/** Prints one line per merged round until status.json says the run is done; returns the final status. */
export async function watchTraining(
  s3: S3Client,
  out: S3Location,
  runId: string,
  epochs: number,
  write: (line: string) => void,
  intervalMs = 1000,
): Promise<RunStatusDoc> {
  let shown = 0;
  let prepared = false;
  for (;;) {
    const status = await tolerant(() => readStatus(s3, out, runId));
    if (!prepared && (await finishedEpochs(s3, out, runId)).includes(0)) {
      prepared = true;
      write('round 0: features, statistics and validation set ready');
    }
    const history = (await tolerant(() => readHistory(s3, out, runId))) ?? [];
    for (const h of history.filter((x) => x.epoch > shown)) {
      write(formatEpoch(h, epochs, status?.bestEpoch ?? null));
      shown = h.epoch;
    }
    if (status?.status === 'done' && shown >= status.lastEpoch) return status;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
