import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import os from 'node:os';
import type * as Ort from 'onnxruntime-node';
import type { Logger } from '../../shared/logger.js';
import { envSwitch } from '../../shared/config.js';

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

/**
 * How a session keeps its working memory: CXR_ORT_CPU_ARENA (ONNX Runtime's CPU memory arena) and
 * CXR_ORT_MEM_PATTERN (activation buffers planned from the first run's shapes), each true or false.
 * defaultSessionMemory holds the measured defaults (npm run bench:slot-memory, README "Memory per slot").
 */
export interface SessionMemory {
  cpuArena: boolean;
  memPattern: boolean;
}

/**
 * The measured defaults (npm run bench:slot-memory, full-size images, runs in the order off, on, on, off). The CPU
 * arena keeps every block it grew to. FP32 off: idle 295-296 MiB against 522-530, peak 437-484 against 543-544, no
 * speed lost that the noise shows (18.9 and 5.3 images/s against 12.9 and 10.3). INT8 off was slower (40.8 and
 * 34.6 against 61.7 and 51.3) to save 80 MiB of idle memory, so it stays on there. CXR_ORT_CPU_ARENA overrides both.
 */
export const defaultSessionMemory = (int8: boolean): SessionMemory => ({ cpuArena: int8, memPattern: true });

export function sessionMemory(env: NodeJS.ProcessEnv = process.env, int8 = false): SessionMemory {
  const d = defaultSessionMemory(int8);
  return {
    cpuArena: envSwitch(env, 'CXR_ORT_CPU_ARENA', d.cpuArena),
    memPattern: envSwitch(env, 'CXR_ORT_MEM_PATTERN', d.memPattern),
  };
}

/** The options every session here is created with, less its execution providers. */
export function sessionOptions(threads: number, memory: SessionMemory): Ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: memory.cpuArena,
    enableMemPattern: memory.memPattern,
  };
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
  memory: SessionMemory = sessionMemory(),
): Promise<OrtSession> {
  const base = sessionOptions(threads, memory);
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
