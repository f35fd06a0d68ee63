import { fork } from 'node:child_process';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../shared/logger.js';
import { featurePath, hasFeature, type FeatureJob } from './features.js';
import type { WorkerTask } from './extract-worker.js';

export interface ExtractOptions {
  backboneDir: string;
  backboneHash: string;
  featureRoot: string;
  workers: number;
  batchSize?: number;
  logger?: Logger;
}

/** Computes missing features with `workers` child processes (each its own tfjs + WASM), in job order. */
export async function extractFeatures(
  jobs: FeatureJob[],
  o: ExtractOptions,
): Promise<{ computed: number; seconds: number }> {
  const todo: FeatureJob[] = [];
  for (const j of jobs)
    if (!(await hasFeature(featurePath(o.featureRoot, o.backboneHash, j.sha256, j.copy)))) todo.push(j);
  o.logger?.info(
    { total: jobs.length, cached: jobs.length - todo.length, todo: todo.length, workers: o.workers },
    'feature extraction',
  );
  if (todo.length === 0) return { computed: 0, seconds: 0 };
  const n = Math.max(1, Math.min(o.workers, todo.length));
  const parts: FeatureJob[][] = Array.from({ length: n }, () => []);
  todo.forEach((j, i) => parts[i % n].push(j)); // round-robin keeps each worker in job order
  const started = Date.now();
  const done = new Array<number>(n).fill(0);
  let lastLog = 0;
  const script = fileURLToPath(new URL('./extract-worker.js', import.meta.url));
  await Promise.all(
    parts.map(
      (part, w) =>
        new Promise<void>((resolve, reject) => {
          const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
          let failed: string | null = null;
          child.on('message', (m: { type: string; done?: number; message?: string }) => {
            if (m.type === 'progress') {
              done[w] = m.done ?? 0;
              const total = done.reduce((a, b) => a + b, 0);
              if (Date.now() - lastLog > 30_000) {
                lastLog = Date.now();
                const s = (Date.now() - started) / 1000;
                o.logger?.info({ done: total, of: todo.length, imgPerSec: +(total / s).toFixed(2) }, 'extracting');
              }
            } else if (m.type === 'error') failed = m.message ?? 'unknown error';
          });
          child.on('exit', (code) =>
            code === 0 && !failed
              ? resolve()
              : reject(new Error(`extract worker ${w} failed (exit ${code}): ${failed ?? ''}`)),
          );
          const task: WorkerTask = {
            jobs: part,
            backboneDir: o.backboneDir,
            backboneHash: o.backboneHash,
            featureRoot: o.featureRoot,
            batchSize: o.batchSize ?? 8,
          };
          child.send(task);
        }),
    ),
  );
  const result = { computed: todo.length, seconds: (Date.now() - started) / 1000 };
  const logDir = join(o.featureRoot, o.backboneHash.slice(0, 16));
  await mkdir(logDir, { recursive: true });
  await appendFile(
    join(logDir, 'extract-runs.jsonl'),
    JSON.stringify({ ...result, workers: n, at: new Date().toISOString() }) + '\n',
  );
  return result;
}
