import type { S3Client } from '@aws-sdk/client-s3';
import { openUploadStream } from '../shared/s3/upload-stream.js';
import { runLayout } from './layout.js';
import { planGenerations, type RunRecord } from './plan.js';
import { RunTally, type LabelledScores, type TallyState } from './tally.js';
import type { PartLine, PredictionLine } from './types.js';
import { walkShard, type BatchRecord } from './run-record.js';
import { mergeParts, type MissingReason } from './merge-parts.js';
import { CHECKPOINT_OBJECTS, decodeScores, encodeScores, ReadCounter, type CheckpointObject } from './checkpoint.js';
import { readCheckpoint, readCheckpointObject, writeCheckpoint } from './checkpoint-io.js';

/** A manifest shard's merged outputs and its share of the tally. */
interface MergedShard {
  text: Record<Exclude<CheckpointObject, 'scores'>, string>;
  tally: TallyState;
  scores: LabelledScores;
}

export interface MergeResult {
  tally: RunTally;
  /** Manifest shards taken from their checkpoint, and merged from their parts. */
  shards: { checkpointed: number; merged: number };
  reads: ReadCounter;
}

/**
 * Merges the run shard by shard in batch order, streaming predictions.jsonl, predictions.csv and
 * failures.jsonl as multipart uploads and counting the metrics in the same pass. A shard whose merge
 * checkpoint was made from exactly the parts S3 lists now is read from it (each object once); any other
 * is merged from its parts (see mergeParts: each key exactly once) and checkpointed. Memory holds a shard,
 * a few batches and the scores.
 */
export async function mergeRun(s3: S3Client, record: RunRecord, missing?: MissingReason): Promise<MergeResult> {
  const { manifest } = record;
  const layout = runLayout(manifest.out, manifest.runId);
  const out = {
    predictions: openUploadStream(s3, layout.bucket, layout.predictionsJsonl, 'application/x-ndjson'),
    csv: openUploadStream(s3, layout.bucket, layout.predictionsCsv, 'text/csv'),
    failures: openUploadStream(s3, layout.bucket, layout.failures, 'application/x-ndjson'),
  };
  const result: MergeResult = {
    tally: new RunTally(),
    shards: { checkpointed: 0, merged: 0 },
    reads: new ReadCounter(),
  };
  const gens = planGenerations(record.plans);
  await out.csv.write(CSV_HEADER);
  for (const shard of manifest.shards) {
    let merged: MergedShard | undefined = await fromCheckpoint(s3, record, shard.shard, result.reads);
    let checkpoint: Promise<void> | undefined;
    if (merged) result.shards.checkpointed++;
    else {
      const fresh = await fromParts(
        walkShard(s3, record, shard, { withMeta: true, reads: result.reads }, gens),
        missing,
      );
      // A key no part has a line for fails by the run's state: such a shard is not checkpointed.
      if (fresh.unrecorded === 0)
        checkpoint = writeCheckpoint(
          s3,
          record,
          shard.shard,
          { ...fresh.text, scores: encodeScores(fresh.scores) },
          fresh.tally,
        );
      merged = fresh;
      result.shards.merged++;
    }
    result.tally.absorb(merged.tally, merged.scores);
    const text = merged.text;
    await Promise.all([
      checkpoint,
      ...(Object.keys(out) as (keyof typeof out)[]).map((k) => (text[k] ? out[k].write(text[k]) : undefined)),
    ]);
  }
  await Promise.all(Object.values(out).map((o) => o.end()));
  return result;
}

/** The shard's outputs from its checkpoint, when it matches the parts and all its objects are the ones it wrote. */
async function fromCheckpoint(
  s3: S3Client,
  record: RunRecord,
  shard: number,
  reads: ReadCounter,
): Promise<MergedShard | undefined> {
  const cp = await readCheckpoint(s3, record, shard, reads);
  if (!cp) return undefined;
  const [predictions, csv, failures, scores] = await Promise.all(
    CHECKPOINT_OBJECTS.map((n) => readCheckpointObject(s3, record, cp, n, reads)),
  );
  if (!predictions || !csv || !failures || !scores) return undefined;
  const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
  return {
    text: { predictions: text(predictions), csv: text(csv), failures: text(failures) },
    tally: cp.tally,
    scores: decodeScores(scores, cp.tally.labelled, `checkpoint of shard ${shard}`),
  };
}

/** Merges a shard from its parts, batch by batch; `unrecorded`: keys no part has a line for. */
async function fromParts(
  batches: AsyncIterable<BatchRecord>,
  missing: MissingReason | undefined,
): Promise<MergedShard & { unrecorded: number }> {
  const tally = new RunTally();
  const text = { predictions: [] as string[], csv: [] as string[], failures: [] as string[] };
  let unrecorded = 0;
  for await (const b of batches) {
    const merged = mergeParts(
      b.items,
      b.parts.map((p) => p.lines),
      missing,
    );
    unrecorded += merged.unrecorded;
    for (const p of merged.predictions) tally.prediction(p);
    for (const f of merged.failures) tally.failure(f);
    for (const p of b.parts) if (p.meta) tally.meta(p.meta);
    // A line merged as it was written goes out as the part's text, not encoded again.
    const lines = (rows: readonly PartLine[]) =>
      rows
        .map((r) => ((b.parts.length === 1 ? b.parts[0].raw.get(r) : undefined) ?? JSON.stringify(r)) + '\n')
        .join('');
    text.predictions.push(lines(merged.predictions));
    text.csv.push(merged.predictions.map(csvRow).join(''));
    text.failures.push(lines(merged.failures));
  }
  return {
    text: { predictions: text.predictions.join(''), csv: text.csv.join(''), failures: text.failures.join('') },
    tally: tally.state(),
    scores: tally.labelledScores(),
    unrecorded,
  };
}

const CSV_COLUMNS = ['key', 'etag', 'label', 'probability', 'threshold', 'model_id', 'model_version', 'true_label'];
const CSV_HEADER = CSV_COLUMNS.join(',') + '\n';

/** One predictions.csv row (RFC 4180: a field with a comma, quote or line break is quoted). Pure. */
export function csvRow(p: PredictionLine): string {
  return (
    [p.key, p.etag, p.label, p.probability, p.threshold, p.modelId, p.modelVersion, p.trueLabel ?? '']
      .map(csvField)
      .join(',') + '\n'
  );
}

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** predictions.csv for these rows, header first. Pure. */
export function predictionsCsv(rows: readonly PredictionLine[]): string {
  return CSV_HEADER + rows.map(csvRow).join('');
}
