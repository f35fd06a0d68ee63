/**
 * The run: one scoring pass over a source's images, its home. The CLI (`cxr score`, `status`, `demo`), the
 * worker and the evaluation/calibration commands go through this module; nothing outside src/run reaches
 * into its files.
 *
 * S3 is the record, Redis a cache of it. Everything a run has done is in S3 under OUT/RUN_ID/; Redis holds
 * counters sized by the queue window, and can be rebuilt from S3 at any time (ensureRunInRedis).
 *
 * Object layout (layout.ts, under OUT/RUN_ID/):
 *   run.json                       header, put-if-absent first: the producer whose header wins owns the run
 *   manifest/NNNNNN.jsonl          manifest shards (batchesPerShard x batchSize keys), written as listed
 *   manifest/NNNNNN.skipped.jsonl  objects the pipeline does not score, with the reason
 *   manifest.json                  the manifest index, put-if-absent last: the listing is complete
 *   parts/BBBBBB[.gG].jsonl        a batch's predictions and failures in attempt generation G (0: none)
 *   parts/BBBBBB[.gG].meta.json    the batch's timings and model facts
 *   parts/BBBBBB[.gG].sS-E.jsonl   a slice of a batch split after its process crashed (isolate.ts), joined
 *                                  into the batch's part when its slices cover it
 *   generations/GGGGGG.json        a later generation's plan index; its shards under generations/GGGGGG/TOKEN/
 *   merged/NNNNNN.*                a manifest shard's merge checkpoint (outputs, tally, scores, parts fingerprint)
 *   predictions.jsonl, predictions.csv, failures.jsonl, metrics.json
 *                                  the finalize's outputs; report/ the labelled run's report
 *
 * Redis (run-store.ts, one Lua script a change, in commands/*.lua): PREFIX:run:ID (hash: status, totals,
 * counters, generation, listing flag, `fed` cursor), PREFIX:run:ID:done (bitmap of done batches),
 * PREFIX:run:ID:plan (batch -> generation for re-planned batches), PREFIX:run:ID:lister (listing lease),
 * PREFIX:run:ID:slices:B:G (a split batch's slice records, isolate.ts).
 *
 * State machine (status in Redis, mirrored in metrics.json):
 *
 *   create ──> running (listing) ──manifest index written──> running ──last batch recorded──> finalize
 *   finalize: every planned batch has its part ──> done | done-with-failures
 *             Redis counted a batch with no part ──> running, repair generation G+1
 *             Redis lost the run ──> rebuilt from S3 (running), finalize asked again when its batches are done
 *   running ──model cannot load (fail)──> failed ──finalize──> failed (outputs merged, unscored keys as failures)
 *   ended (any) ──resume──> running, generation G+1 with only the keys lacking a prediction
 *
 * A batch is counted once, and only for the generation the run's current plan gives it: a stale or repeated
 * batch job cannot move the counters. Every step here is safe to repeat.
 */

// Create, resume and feed.
export { createRun, DEFAULT_BATCHES_PER_SHARD, type CreatedRun, type ScoreRequest } from './create-run.js';
export { resumeRun, type ResumedRun } from './resume-run.js';
export { ensureRunInRedis, reofferPending, startGeneration, type RunDeps } from './reconcile.js';
export { topUp, feedWindow, queueBacklog, WINDOW_PER_SLOT } from './feed.js';
export { batchJob, enqueueBatches } from './enqueue-batches.js';
export { discoverPrefixes, listingPages, parallelListingPages, type SourcePage } from './sources.js';

// A batch's life in a worker: its keys, its record, the settle of one that used up its attempts.
export { batchItemsOf } from './batch-items.js';
export { recordBatchDone, topUpAfter, writePart, type BatchDeps } from './record-batch.js';
export { settleBatch } from './settle-batch.js';
export { recordPart, sliceOf, splitAfterCrash } from './isolate.js';
export { CRASH_REASON, processCrash } from './crash.js';

// The end: finalize (merge into outputs) and its job.
export { finalizeRun, readRunMetrics, type FinalizeDeps, type FinalizeOutcome } from './finalize-run.js';
export { scheduleFinalize } from './finalize-job.js';

// Status and outputs.
export { RunStore, type GenerationStart, type MarkOutcome, type MarkResult, type RunState } from './run-store.js';
export { isEnded, mergedStatus, RUN_STATUSES, type RunStatus } from './state.js';
export {
  EXIT_CODES,
  judgeEnded,
  judgeRunning,
  parseMaxFailures,
  stallLimits,
  verdictLine,
  type MaxFailures,
  type StallLimits,
  type WaitVerdict,
} from './outcome.js';
export {
  allScores,
  readRunData,
  readRunInfo,
  streamPredictions,
  type RunData,
  type RunInfo,
  type RunScores,
} from './run-data.js';
export type { RunMetrics } from './run-metrics.js';
export { sumStages } from './run-metrics.js';
export { runLayout, type RunLayout } from './layout.js';
export { assertRunId, newRunId } from './batching.js';
export { flagsFact, IN_TRAINING_FLAG, inSampleWarning, OOD_FLAG } from './flags.js';
export type {
  BatchJobData,
  BatchSlice,
  FailureLine,
  FinalizeJobData,
  PartLine,
  PartMeta,
  PredictionLine,
  ProcessCrash,
  RunHeader,
  RunItem,
  RunManifest,
  SettleJobData,
  StageMs,
} from './types.js';
