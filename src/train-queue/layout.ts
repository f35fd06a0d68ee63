import { joinKey, type S3Location } from '../shared/s3/uri.js';

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** Where a training run's objects live under RUNS/RUN_ID/. Pure. */
export function trainLayout(out: S3Location, runId: string) {
  const root = joinKey(out.prefix, runId);
  const epochDir = (e: number) => joinKey(root, `epoch-${e}`);
  return {
    bucket: out.bucket,
    root,
    spec: joinKey(root, 'run.json'),
    status: joinKey(root, 'status.json'),
    history: joinKey(root, 'history.json'),
    curves: joinKey(root, 'curves.png'),
    norm: joinKey(root, 'norm.bin'),
    valFeatures: joinKey(root, 'val-features.bin'),
    best: joinKey(root, 'best'),
    epochDir,
    /** Global head state (standardised space) after the round; the commit object is metrics.json. */
    epochState: (e: number) => joinKey(epochDir(e), 'state.bin'),
    epochMetrics: (e: number) => joinKey(epochDir(e), 'metrics.json'),
    epochsPrefix: joinKey(root, 'epoch-'),
    shardBin: (e: number, s: number) => joinKey(root, 'shards', `epoch-${e}`, `shard-${pad(s, 3)}.bin`),
    shardJson: (e: number, s: number) => joinKey(root, 'shards', `epoch-${e}`, `shard-${pad(s, 3)}.json`),
    mergeLogPrefix: (e: number) => joinKey(root, 'merge-log', `epoch-${e}`) + '/',
  };
}

export type TrainLayout = ReturnType<typeof trainLayout>;

/** Epoch number of an RUN/epoch-E/metrics.json key, else undefined. */
export function epochOfMetricsKey(key: string): number | undefined {
  const m = /\/epoch-(\d+)\/metrics\.json$/.exec(key);
  return m ? Number(m[1]) : undefined;
}

/** BullMQ job ids (no ':'): deterministic per (run, epoch, shard) and per (run, epoch) merge. */
export const shardJobId = (runId: string, epoch: number, shard: number) =>
  `${runId}-e${pad(epoch, 4)}-s${pad(shard, 3)}`;
export const mergeJobId = (runId: string, epoch: number) => `${runId}-e${pad(epoch, 4)}-merge`;
