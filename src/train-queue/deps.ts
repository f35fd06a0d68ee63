import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import type { FeatureDeps } from './features-s3.js';
import type { RoundStore } from './round-store.js';

/** What shard and merge jobs need; built once per worker process. */
export interface TrainDeps {
  s3: S3Client;
  queue: Queue;
  rounds: RoundStore;
  logger: Logger;
  features: Omit<FeatureDeps, 's3' | 'logger'>;
  /** Per-process memo (run specs, validation features), keyed by run id and kind. */
  memo: Map<string, Promise<unknown>>;
}

export function memo<T>(d: TrainDeps, key: string, make: () => Promise<T>): Promise<T> {
  let p = d.memo.get(key) as Promise<T> | undefined;
  if (!p) {
    p = make();
    d.memo.set(key, p);
    p.catch(() => d.memo.delete(key));
  }
  return p;
}
