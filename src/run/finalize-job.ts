import type { Queue } from 'bullmq';
import { JOB_FINALIZE } from '../shared/queue.js';
import type { S3Location } from '../shared/s3/uri.js';
import type { FinalizeJobData } from './types.js';

/**
 * One finalize job per run generation: whoever sees the last batch finish may call this; duplicates are
 * ignored. `kind` 'recover' is asked for when Redis no longer has the run: the job rebuilds it from S3;
 * 'listed' by a producer whose run ended (failed) while it was still listing.
 */
export async function scheduleFinalize(
  queue: Queue,
  runId: string,
  out: S3Location,
  generation: number,
  kind: 'finalize' | 'recover' | 'listed' = 'finalize',
): Promise<void> {
  const data: FinalizeJobData = { runId, out, generation };
  await queue.add(JOB_FINALIZE, data, { jobId: `${runId}-${kind}-g${generation}`, priority: 1 });
}
