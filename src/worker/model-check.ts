import { fork } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from '../shared/config.js';
import { UserError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { repoRoot } from '../shared/paths.js';
import { createS3Client } from '../shared/s3/client.js';
import type { ModelInfo } from '../model/classifier.js';
import { loadWorkerClassifier } from './context.js';

type CheckMessage = { ok: true; info: ModelInfo; backend: string } | { ok: false; error: string };

/** In a child process: loads the model the sandboxes will load and scores one blank image. */
async function checkHere(): Promise<CheckMessage> {
  try {
    const classifier = await loadWorkerClassifier(
      process.env,
      createS3Client(loadConfig(process.env).s3),
      createLogger({ role: 'model-check' }),
    );
    const size = classifier.info.inputSize;
    const [p] = await classifier.predict(new Float32Array(size * size * 3), 1);
    if (!(p >= 0 && p <= 1)) throw new Error(`the model answered ${p} for a blank image, not a probability`);
    return { ok: true, info: classifier.info, backend: classifier.backend };
  } catch (err) {
    return { ok: false, error: (err as Error).message.split('\n')[0] };
  }
}

/**
 * Loads and checks the scoring model in a child process (so the worker's own process stays small) before
 * the worker takes jobs; throws one line naming the model when it cannot be loaded.
 */
export function checkModel(env: NodeJS.ProcessEnv = process.env): Promise<{ info: ModelInfo; backend: string }> {
  const file = path.join(repoRoot(), 'dist', 'worker', 'model-check.js');
  const model = env.CXR_MODEL_URI || 'models/pneumonia-resnet50';
  return new Promise((resolve, reject) => {
    const child = fork(file, ['--check'], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let answer: CheckMessage | undefined;
    child.on('message', (m: CheckMessage) => (answer = m));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (answer?.ok) return resolve({ info: answer.info, backend: answer.backend });
      const why = answer && !answer.ok ? answer.error : `the check process exited with code ${code}`;
      reject(new UserError(`cannot load the model ${model} (engine ${env.CXR_ENGINE || 'auto'}): ${why}`));
    });
  });
}

if (process.argv[2] === '--check' && process.send) {
  void checkHere().then((m) => process.send!(m, () => process.exit(m.ok ? 0 : 1)));
}
