import { parseEngine, type EngineChoice } from '../model/engine.js';

/** The engines a worker accepts: the model engines, plus 'null' (tests and benchmarks; see null-classifier.ts). */
export type WorkerEngine = EngineChoice | 'null';

export function parseWorkerEngine(value: string | undefined): WorkerEngine {
  return (value ?? '').trim().toLowerCase() === 'null' ? 'null' : parseEngine(value);
}
