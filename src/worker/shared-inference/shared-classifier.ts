import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PneumoniaClassifier } from '../../model/classifier.js';
import { repoRoot } from '../../shared/paths.js';
import { Batcher } from './batcher.js';
import type { FromExecutor, ToExecutor } from './executor.js';

export interface SharedOptions {
  /** Most images in one inference call across slots. */
  maxBatch: number;
  /** How long a slot's batch waits for others before running alone. */
  waitMs: number;
  /** Each inference call: images and the slot batches merged into it. */
  onBatch?(images: number, requests: number): void;
}

/**
 * One inference executor for the whole worker process (a worker thread holding one model: one CUDA
 * context on a GPU), shared by the job slots, which download and decode concurrently in the main thread
 * and hand their tensors here. Their batches are merged up to maxBatch images (dynamic batching).
 */
export async function startSharedClassifier(opts: SharedOptions): Promise<PneumoniaClassifier> {
  // The thread may use every core: ONNX Runtime sizes its pool from CXR_WORKER_CONCURRENCY (cores / slots).
  const thread = new Worker(path.join(repoRoot(), 'dist', 'worker', 'shared-inference', 'executor.js'), {
    env: { ...process.env, CXR_WORKER_CONCURRENCY: '1' },
  });
  const calls = new Map<number, { resolve(p: Float32Array): void; reject(e: Error): void }>();
  let next = 0;
  const ready = await new Promise<Extract<FromExecutor, { type: 'ready' }>>((resolve, reject) => {
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`the inference thread exited with code ${code}`)));
    thread.on('message', (m: FromExecutor) => {
      if (m.type === 'ready') resolve(m);
      else if (m.type === 'failed') reject(new Error(m.error));
      else {
        const call = calls.get(m.id);
        calls.delete(m.id);
        if (m.type === 'result') call?.resolve(m.probabilities);
        else call?.reject(new Error(m.error));
      }
    });
  });
  thread.on('error', (err) => {
    for (const c of calls.values()) c.reject(err);
    calls.clear();
  });
  const run = (input: Float32Array, n: number) =>
    new Promise<Float32Array>((resolve, reject) => {
      const id = next++;
      calls.set(id, { resolve, reject });
      const msg: ToExecutor = { id, input, n };
      thread.postMessage(msg, [input.buffer as ArrayBuffer]);
    });
  const batcher = new Batcher(run, opts.maxBatch, opts.waitMs, opts.onBatch);
  return {
    info: ready.info,
    backend: ready.backend,
    predict: (input, n) => batcher.submit(input, n),
    dispose: () => void thread.terminate(),
  };
}
