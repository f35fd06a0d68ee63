/** Splits items into consecutive batches of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`batch size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function assertRunId(runId: string): string {
  if (!RUN_ID.test(runId))
    throw new Error(`invalid run id ${JSON.stringify(runId)}: use letters, digits, '.', '_' and '-' (max 100)`);
  return runId;
}

export function newRunId(now = new Date(), random = Math.random): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `run-${stamp}-${Math.floor(random() * 0xffffff)
    .toString(16)
    .padStart(6, '0')}`;
}

/**
 * BullMQ job ids may not contain ':'. Run id plus batch index keeps re-enqueueing idempotent; a later
 * attempt generation of the same batch gets its own job id (`-gN`), so BullMQ does not take it for a duplicate.
 */
export function batchJobId(runId: string, batchIndex: number, generation = 0): string {
  return `${runId}-b${batchName(batchIndex)}${generation > 0 ? `-g${generation}` : ''}`;
}

export function batchName(batchIndex: number): string {
  return String(batchIndex).padStart(6, '0');
}
