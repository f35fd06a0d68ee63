import type { Logger } from '../shared/logger.js';
import { getTextIfExists } from '../shared/s3/objects.js';
import { runLayout } from './layout.js';
import type { BatchSlice, SettleJobData } from './types.js';
import { batchFailureLines, parsePart } from './merge-parts.js';
import { writePart } from './record-batch.js';
import { batchItemsOf } from './batch-items.js';
import { crashReason } from './crash.js';
import { recordPart, sliceOf, splitAfterCrash } from './isolate.js';

/**
 * Records a batch (or a slice of one) that used up its attempts, so the run can end: its keys become failures
 * (stage 'batch') with the last error, unless its last attempt had written its part after all. When its
 * process crashed and it has several keys, it is split instead (isolate.ts): only the object that crashes
 * fails, as "crashed the scoring process (signal …, N attempts)".
 */
export async function settleBatch(
  ctx: Parameters<typeof recordPart>[0],
  data: SettleJobData,
  logger: Logger,
): Promise<{ scored: number; failed: number } | { skipped: string } | { split: BatchSlice[] }> {
  const generation = data.generation ?? 0;
  if ((await ctx.store.batchStanding(data.runId, data.batch, generation)) === 'stale')
    return { skipped: 'stale generation' };
  const items = await batchItemsOf(ctx.s3, data);
  const attempts = data.attempts ?? 1;
  if (data.crash) {
    const split = await splitAfterCrash(ctx, data, items.length, attempts, logger);
    if (split) return split;
  }
  const layout = runLayout(data.out, data.runId);
  const key = layout.part(data.batch, generation, data.slice);
  const written = await getTextIfExists(ctx.s3, layout.bucket, key);
  const { start, end } = sliceOf(data, items.length);
  const reason = data.crash ? crashReason(data.crash, attempts) : data.reason;
  const lines = written ? parsePart(written, key) : batchFailureLines(items.slice(start, end), reason);
  if (!written) await writePart(ctx.s3, data, lines);
  const scored = lines.filter((l) => l.type === 'prediction').length;
  const counts = { scored, failed: lines.length - scored };
  logger.warn(
    { reason, ...counts, partExisted: Boolean(written), ...(data.slice ? { slice: data.slice } : {}) },
    'batch used up its attempts; recorded its keys',
  );
  await recordPart(ctx, data, items.length, { ...counts, attempts }, logger);
  return counts;
}
