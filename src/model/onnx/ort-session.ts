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
 * The measured defaults. The CPU arena keeps every block it grew to: with it off an FP32 slot idles at 295-296 MiB
 * against 522-530 (npm run bench:slot-memory, README "Memory per slot"), but on a quiet machine FP32 inference
 * ran at 24.9 and 27.7 images/s with it off against 40.2 and 44.4 on (node dist/bench/raw-model.js 16 2 onnx
 * --min-seconds 8, CXR_WORKER_CONCURRENCY=1, runs alternated on, off, on, off); INT8 off was slower too (40.8
 * and 34.6 against 61.7 and 51.3). So it stays on for both; CXR_ORT_CPU_ARENA=false trades that speed for memory.
 */
export const defaultSessionMemory = (_int8: boolean): SessionMemory => ({ cpuArena: true, memPattern: true });

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
