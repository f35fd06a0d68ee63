import type { S3Client } from '@aws-sdk/client-s3';
import { putObject } from '../shared/s3/objects.js';
import { runLayout } from './layout.js';
import type { RunHeader, RunItem, ShardEntry, SkippedObject } from './types.js';

/** Totals of the shards written so far. */
export interface ShardTotals {
  totalKeys: number;
  totalBatches: number;
  skipped: number;
}

export function shardTotals(shards: readonly ShardEntry[]): ShardTotals {
  return shards.reduce(
    (t, s) => ({
      totalKeys: t.totalKeys + s.items,
      totalBatches: t.totalBatches + s.batches,
      skipped: t.skipped + s.skipped,
    }),
    { totalKeys: 0, totalBatches: 0, skipped: 0 },
  );
}

/**
 * Cuts the run's keys into manifest shards of batchesPerShard x batchSize lines and writes each as it fills
 * (JSONL, with a `.skipped.jsonl` beside it when objects were skipped), so the producer holds one shard at
 * most. `onShard` runs after each shard is in S3.
 */
export class ShardWriter {
  /** The shard's JSONL so far, in joined chunks (lines are encoded as they come, so items die young). */
  private chunks: string[] = [];
  private lines: string[] = [];
  private count = 0;
  private lastKey = '';
  private skipped: SkippedObject[] = [];
  readonly shards: ShardEntry[];

  constructor(
    private readonly s3: S3Client,
    private readonly header: RunHeader,
    written: ShardEntry[],
    private readonly onShard: (entry: ShardEntry, all: readonly ShardEntry[]) => Promise<void>,
  ) {
    this.shards = [...written];
  }

  private get capacity(): number {
    return this.header.batchSize * this.header.batchesPerShard;
  }

  async add(items: readonly RunItem[], skipped: readonly SkippedObject[] = []): Promise<void> {
    this.skipped.push(...skipped);
    for (const item of items) {
      this.lines.push(JSON.stringify(item));
      this.lastKey = item.key;
      if (this.lines.length >= 512) this.chunks.push(this.lines.splice(0).join('\n') + '\n');
      if (++this.count >= this.capacity) await this.flush();
    }
  }

  /** Writes what is buffered as the next shard (the last one may be short). */
  async flush(): Promise<void> {
    if (this.count === 0 && this.skipped.length === 0) return;
    if (this.lines.length) this.chunks.push(this.lines.splice(0).join('\n') + '\n');
    const layout = runLayout(this.header.out, this.header.runId);
    const n = this.shards.length;
    const prev = this.shards.at(-1);
    const entry: ShardEntry = {
      shard: n,
      key: layout.manifestShard(n),
      items: this.count,
      firstBatch: prev ? prev.firstBatch + prev.batches : 0,
      batches: Math.ceil(this.count / this.header.batchSize),
      skipped: this.skipped.length,
      lastKey: [this.lastKey, this.skipped.at(-1)?.key ?? ''].sort().at(-1)!,
    };
    const jsonl = (rows: readonly unknown[]) =>
      rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
    if (this.skipped.length) {
      entry.skippedKey = layout.skippedShard(n);
      await putObject(this.s3, layout.bucket, entry.skippedKey, jsonl(this.skipped), 'application/x-ndjson');
    }
    const body = Buffer.from(this.chunks.join(''), 'utf8');
    this.chunks = [];
    await putObject(this.s3, layout.bucket, entry.key, body, 'application/x-ndjson');
    this.shards.push(entry);
    this.count = 0;
    this.lastKey = '';
    this.skipped = [];
    await this.onShard(entry, this.shards);
  }
}
