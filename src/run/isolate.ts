import type { Logger } from '../shared/logger.js';
import { JOB_BATCH } from '../shared/queue.js';
import { getTextIfExists, putJson } from '../shared/s3/objects.js';
import { batchJobId } from './batching.js';
import { runLayout } from './layout.js';
import { parsePart } from './merge-parts.js';
import { recordBatchDone, writePart, type BatchDeps } from './record-batch.js';
import type { MarkResult } from './run-store.js';
import { sumStages } from './run-metrics.js';
import type { BatchJobData, BatchSlice, PartLine, PartMeta } from './types.js';

/**
 * Poison-object isolation. When a batch's sandboxed process dies under it (a segfault, an OOM kill, an abort
 * in a native decoder), the next attempt does not score the batch again: it splits it into two slices, each
 * its own job, and so on down to the one object that crashes, which fails alone ("crashed the scoring
 * process (signal SIGSEGV, 6 attempts)") while its neighbours are scored.
 *
 * A slice is a range [start, end) of the batch's keys. Its part is parts/BBBBBB[.gG].sSTART-END.jsonl; its
 * record, one field of the batch's slice hash in Redis (record-slice.lua), set once. The batch is counted
 * (markBatchDone, as any batch) when the recorded slices cover its keys: the job that completes the cover
 * joins their parts into the batch's part, so the finalize, resume and repair see a batch like any other,
 * exactly once. Every step is safe to repeat: slice job ids are fixed, records are set once, the join
 * overwrites the same part.
 *
 * Only BullMQ's report that the job's own process exited ("Unexpected exit code: …") counts as a crash. A
 * worker killed outright leaves its jobs to stall and run again with no such report, so it never splits a
 * batch; nor does a shutdown's SIGTERM.
 */

/** The keys a job covers: its slice, or the whole batch of `size` keys. Pure. */
export const sliceOf = (data: BatchJobData, size: number): BatchSlice => data.slice ?? { start: 0, end: size };

/** A slice's two halves (the first the larger), or undefined for a single key, which cannot be split. Pure. */
export function splitSlice(s: BatchSlice): [BatchSlice, BatchSlice] | undefined {
  if (s.end - s.start < 2) return undefined;
  const mid = s.start + Math.ceil((s.end - s.start) / 2);
  return [
    { start: s.start, end: mid },
    { start: mid, end: s.end },
  ];
}

/** A slice job's id: its batch job's, and the range (fixed, so a repeated split adds nothing). Pure. */
export const sliceJobId = (data: BatchJobData, s: BatchSlice): string =>
  `${batchJobId(data.runId, data.batch, data.generation ?? 0)}-s${s.start}-${s.end}`;

/** A batch job's own fields, without a settle job's or a slice's. Pure. */
export function batchOf(data: BatchJobData): BatchJobData {
  const { runId, batch, generation, source, out, skipFlagged, shard, planShard, items } = data;
  return { runId, batch, generation, source, out, skipFlagged, shard, planShard, items };
}

/** What a slice's record holds. */
export interface SliceRecord {
  scored: number;
  failed: number;
  /** Attempts its job made, this one included. */
  attempts: number;
  /** The slice's timings, when it was scored (not settled). */
  meta?: PartMeta;
}

/**
 * After a crash of the job's process: splits the job's keys into two slice jobs and records the split (with
 * the attempts that crashed). Undefined, and nothing done, for a single key: it is retried or failed alone.
 */
export async function splitAfterCrash(
  ctx: BatchDeps,
  data: BatchJobData,
  size: number,
  crashedAttempts: number,
  logger: Logger,
): Promise<{ split: BatchSlice[] } | undefined> {
  const whole = sliceOf(data, size);
  const halves = splitSlice(whole);
  if (!halves) return undefined;
  const batch = batchOf(data);
  await ctx.queue.addBulk(
    halves.map((slice) => ({ name: JOB_BATCH, data: { ...batch, slice }, opts: { jobId: sliceJobId(data, slice) } })),
  );
  await ctx.store.recordSlice(data.runId, data.batch, data.generation ?? 0, `split:${whole.start}-${whole.end}`, {
    attempts: crashedAttempts,
  });
  logger.warn(
    { slice: whole, halves },
    'the process crashed scoring these keys; split them to find the object that does',
  );
  return { split: halves };
}

/**
 * Records a job's written part: a whole batch is counted at once (its meta beside its part), a slice is
 * recorded, and the batch counted when its slices cover its `size` keys. Undefined while slices are missing.
 */
export async function recordPart(
  ctx: BatchDeps,
  data: BatchJobData,
  size: number,
  record: SliceRecord,
  logger: Logger,
): Promise<MarkResult | undefined> {
  const layout = runLayout(data.out, data.runId);
  const generation = data.generation ?? 0;
  if (!data.slice) {
    if (record.meta) await putJson(ctx.s3, layout.bucket, layout.partMeta(data.batch, generation), record.meta);
    return recordBatchDone(ctx, data, record, logger);
  }
  const { start, end } = data.slice;
  const { covered, fields } = await ctx.store.recordSlice(
    data.runId,
    data.batch,
    generation,
    `${start}-${end}`,
    record,
  );
  if (covered < size) return undefined;
  return joinSlices(ctx, data, fields, logger);
}

/** The batch's part from its slices' parts, in key order, and its meta with the isolation's cost; then the batch is counted. */
async function joinSlices(
  ctx: BatchDeps,
  data: BatchJobData,
  fields: Map<string, string>,
  logger: Logger,
): Promise<MarkResult> {
  const batch = batchOf(data);
  const layout = runLayout(data.out, data.runId);
  const generation = data.generation ?? 0;
  const { slices, splitAttempts } = readSliceRecords(fields);
  const lines: PartLine[] = [];
  for (const { slice } of slices) {
    const key = layout.part(data.batch, generation, slice);
    const text = await getTextIfExists(ctx.s3, layout.bucket, key);
    if (text === undefined) throw new Error(`slice part s3://${layout.bucket}/${key} is recorded but missing`);
    lines.push(...parsePart(text, key));
  }
  await writePart(ctx.s3, batch, lines);
  const meta = joinedMeta(batch, slices, splitAttempts);
  if (meta) await putJson(ctx.s3, layout.bucket, layout.partMeta(data.batch, generation), meta);
  const scored = lines.filter((l) => l.type === 'prediction').length;
  logger.info(
    { slices: slices.length, splits: splitAttempts.length, scored, failed: lines.length - scored },
    'joined the slices of a split batch',
  );
  return recordBatchDone(ctx, batch, { scored, failed: lines.length - scored }, logger);
}

/** A batch's slice hash decoded: its recorded slices in key order, and the crashed attempts of each split. Pure. */
export function readSliceRecords(fields: ReadonlyMap<string, string>): {
  slices: (SliceRecord & { slice: BatchSlice })[];
  splitAttempts: number[];
} {
  const slices: (SliceRecord & { slice: BatchSlice })[] = [];
  const splitAttempts: number[] = [];
  for (const [field, value] of fields) {
    const range = /^(split:)?(\d+)-(\d+)$/.exec(field);
    if (!range) throw new Error(`slice record field ${JSON.stringify(field)} is not START-END or split:START-END`);
    if (range[1]) splitAttempts.push((JSON.parse(value) as { attempts: number }).attempts);
    else
      slices.push({ ...(JSON.parse(value) as SliceRecord), slice: { start: Number(range[2]), end: Number(range[3]) } });
  }
  slices.sort((a, b) => a.slice.start - b.slice.start);
  return { slices, splitAttempts };
}

/**
 * The joined batch's meta: its scored slices' images and stage times summed, their span, and the cost of the
 * isolation (splits, and attempts beyond the batch's one). Undefined when no slice was scored (nothing timed). Pure.
 */
export function joinedMeta(
  batch: BatchJobData,
  slices: readonly SliceRecord[],
  splitAttempts: readonly number[],
): PartMeta | undefined {
  const metas = slices.flatMap((s) => (s.meta ? [s.meta] : []));
  if (metas.length === 0) return undefined;
  const sum = (f: (m: PartMeta) => number) => metas.reduce((a, m) => a + f(m), 0);
  const attempts = slices.reduce((a, s) => a + s.attempts, 0) + splitAttempts.reduce((a, n) => a + n, 0);
  const coldStartMs = sum((m) => m.coldStartMs ?? 0);
  const { runId, backend, host, pid } = metas[0];
  // CPU per stage only when every slice recorded it: a partial sum would read as the whole batch's.
  const cpu = metas.every((m) => m.stageCpuMs) ? { stageCpuMs: sumStages(metas.map((m) => m.stageCpuMs!)) } : {};
  return {
    runId,
    batch: batch.batch,
    generation: batch.generation ?? 0,
    images: sum((m) => m.images),
    scored: sum((m) => m.scored),
    failed: slices.reduce((a, s) => a + s.failed, 0),
    stageMs: sumStages(metas.map((m) => m.stageMs)),
    ...cpu,
    backend,
    host,
    pid,
    startedAt: metas.map((m) => m.startedAt).sort()[0],
    finishedAt: metas
      .map((m) => m.finishedAt)
      .sort()
      .at(-1)!,
    ...(coldStartMs ? { coldStartMs } : {}),
    isolation: { splits: splitAttempts.length, extraAttempts: attempts - 1 },
  };
}
