import type { Redis } from 'ioredis';
import { RedisScript } from '../shared/redis-script.js';

const MARK = RedisScript.load(new URL('./commands/mark-shard-done.lua', import.meta.url));

/** Per-round bookkeeping in Redis: the set of finished shard ids and the 'round merged' marker. */
export class RoundStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(runId: string, epoch: number, what: string): string {
    return `${this.prefix}:train:${runId}:e${epoch}:${what}`;
  }

  /** Records a finished shard (idempotent) and returns how many distinct shards of the round are done. */
  async markShardDone(runId: string, epoch: number, shard: number): Promise<number> {
    return Number(await MARK.run(this.redis, [this.key(runId, epoch, 'done')], [String(shard)]));
  }

  async forgetShard(runId: string, epoch: number, shard: number): Promise<void> {
    await this.redis.srem(this.key(runId, epoch, 'done'), String(shard));
  }

  async isMerged(runId: string, epoch: number): Promise<boolean> {
    return (await this.redis.exists(this.key(runId, epoch, 'merged'))) === 1;
  }

  /** Sets the merged marker; true only for the first caller. */
  async markMerged(runId: string, epoch: number): Promise<boolean> {
    return (await this.redis.set(this.key(runId, epoch, 'merged'), new Date().toISOString(), 'NX')) === 'OK';
  }
}
