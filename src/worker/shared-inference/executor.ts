import { parentPort } from 'node:worker_threads';
import { loadConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { createS3Client } from '../../shared/s3/client.js';
import { loadWorkerClassifier } from '../context.js';

/** Messages between the worker's main thread and its inference thread. */
export type ToExecutor = { id: number; input: Float32Array; n: number };
export type FromExecutor =
  | { type: 'ready'; info: import('../../model/classifier.js').ModelInfo; backend: string }
  | { type: 'failed'; error: string }
  | { type: 'result'; id: number; probabilities: Float32Array }
  | { type: 'error'; id: number; error: string };

// The inference thread of `cxr worker --inference shared`: one model for the whole process, fed batches
// by the main thread (see shared-classifier.ts); predictions run here, so the event loop stays free.
async function serve(port: NonNullable<typeof parentPort>): Promise<void> {
  const post = (m: FromExecutor, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  let classifier;
  try {
    classifier = await loadWorkerClassifier(
      process.env,
      createS3Client(loadConfig(process.env).s3),
      createLogger({ role: 'inference' }),
    );
  } catch (err) {
    return post({ type: 'failed', error: (err as Error).message.split('\n')[0] });
  }
  post({ type: 'ready', info: classifier.info, backend: classifier.backend });
  port.on('message', (m: ToExecutor) => {
    classifier.predict(m.input, m.n).then(
      (probabilities) => post({ type: 'result', id: m.id, probabilities }, [probabilities.buffer as ArrayBuffer]),
      (err: Error) => post({ type: 'error', id: m.id, error: err.message }),
    );
  });
}

if (parentPort) void serve(parentPort);
