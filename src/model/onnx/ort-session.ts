import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import os from 'node:os';
import type * as Ort from 'onnxruntime-node';
import type { Logger } from '../../shared/logger.js';

export type OrtModule = typeof Ort;

/** Loads onnxruntime-node; throws when it (or its native binding) is missing. */
export async function importOrt(): Promise<OrtModule> {
  const m = (await import('onnxruntime-node')) as OrtModule & { default?: OrtModule };
  return m.default ?? m;
}

/** Threads one sandboxed process may use: the cores shared by the worker's concurrent processes. */
export function threadsPerProcess(env: NodeJS.ProcessEnv = process.env, cores = os.availableParallelism()): number {
  const c = Number(env.CXR_WORKER_CONCURRENCY);
  const concurrency = Number.isInteger(c) && c > 0 ? c : 1;
  return Math.max(1, Math.floor(cores / concurrency));
}

/** True when onnxruntime-node's CUDA execution provider library was installed beside its binding. */
export function cudaProviderInstalled(): boolean {
  try {
    const pkg = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    return existsSync(
      join(pkg, 'bin', 'napi-v6', `${process.platform}`, `${process.arch}`, 'libonnxruntime_providers_cuda.so'),
    );
  } catch {
    return false;
  }
}

export interface OrtSession {
  session: Ort.InferenceSession;
  backend: 'onnxruntime-cuda' | 'onnxruntime-cpu';
  threads: number;
}

/** An inference session on CUDA when its provider is installed and starts, else on the CPU. */
export async function createSession(
  ort: OrtModule,
  model: Uint8Array,
  threads: number,
  logger?: Logger,
  cuda = cudaProviderInstalled(),
): Promise<OrtSession> {
  const base: Ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  if (cuda) {
    try {
      const session = await ort.InferenceSession.create(model, { ...base, executionProviders: ['cuda', 'cpu'] });
      return { session, backend: 'onnxruntime-cuda', threads };
    } catch (err) {
      logger?.warn(
        { err: (err as Error).message },
        'onnxruntime: CUDA execution provider failed to start; using the CPU',
      );
    }
  }
  const session = await ort.InferenceSession.create(model, { ...base, executionProviders: ['cpu'] });
  return { session, backend: 'onnxruntime-cpu', threads };
}
