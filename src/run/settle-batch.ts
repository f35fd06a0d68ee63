import type { Logger } from '../shared/logger.js';
import { getTextIfExists, putObject } from '../shared/s3/objects.js';
import { runLayout } from './layout.js';
import type { SettleJobData } from './types.js';
import { batchFailureLines, parsePart } from './merge-parts.js';
import { recordBatchDone, type BatchDeps } from './record-batch.js';
import { batchItemsOf } from './batch-items.js';

/**
 * Records a batch that used up its attempts, so the run can end: its keys become failures (stage 'batch')
 * with the batch's last error, unless its last attempt had written its part after all.
 */
export async function settleBatch(
  ctx: BatchDeps,
  data: SettleJobData,
  logger: Logger,
): Promise<{ scored: number; failed: number } | { skipped: string }> {
  const generation = data.generation ?? 0;
  if ((await ctx.store.batchStanding(data.runId, data.batch, generation)) === 'stale')
    return { skipped: 'stale generation' };
  const layout = runLayout(data.out, data.runId);
  const key = layout.part(data.batch, generation);
  const written = await getTextIfExists(ctx.s3, layout.bucket, key);
  const lines = written ? parsePart(written, key) : batchFailureLines(await batchItemsOf(ctx.s3, data), data.reason);
  if (!written)
    await putObject(
      ctx.s3,
      layout.bucket,
      key,
      lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
      'application/x-ndjson',
    );
  const scored = lines.filter((l) => l.type === 'prediction').length;
  const counts = { scored, failed: lines.length - scored };
  logger.warn(
    { reason: data.reason, ...counts, partExisted: Boolean(written) },
    'batch used up its attempts; recorded its keys',
  );
  await recordBatchDone(ctx, data, counts, logger);
  return counts;
}
