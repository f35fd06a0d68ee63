import type { ShardResult } from './types.js';

export interface ExpectedShard {
  runId: string;
  epoch: number;
  shard: number;
  shards: number;
  base: string;
}

/** Why a shard result may not enter this round's merge, or null when it may. Pure. */
export function staleReason(
  r: ShardResult | undefined,
  want: ExpectedShard,
  binBytes?: number,
  expectBinBytes?: number,
): string | null {
  if (!r) return 'no result';
  if (r.runId !== want.runId) return `result of run ${r.runId}`;
  if (r.epoch !== want.epoch) return `result of epoch ${r.epoch}, merging epoch ${want.epoch}`;
  if (r.shard !== want.shard || r.shards !== want.shards)
    return `result of shard ${r.shard}/${r.shards}, expected ${want.shard}/${want.shards}`;
  if (r.base !== want.base) return `trained from state ${r.base || '(none)'}, round starts from ${want.base}`;
  if (!(r.samples > 0)) return 'no samples';
  if (binBytes !== undefined && expectBinBytes !== undefined && binBytes !== expectBinBytes)
    return `weights have ${binBytes} bytes, expected ${expectBinBytes}`;
  return null;
}
