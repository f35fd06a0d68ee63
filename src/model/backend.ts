import * as tf from '@tensorflow/tfjs';
import type { Logger } from '../shared/logger.js';

export type BackendChoice = 'node-gpu' | 'node' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** tf.getBackend() after selection: 'tensorflow' | 'wasm' | 'cpu'. */
  name: string;
  source: BackendChoice;
  wasmSimd?: boolean;
  wasmThreads?: boolean;
}

export type Importer = (specifier: string) => Promise<unknown>;
const defaultImporter: Importer = (s) => import(s);

const ORDER: BackendChoice[] = ['node-gpu', 'node', 'wasm', 'cpu'];
const PACKAGES: Record<BackendChoice, string | null> = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: null,
};

/** Maps TFJS_BACKEND to the candidates it allows; throws on an unknown value. */
export function candidatesFor(forced: string | undefined): BackendChoice[] {
  if (!forced) return ORDER;
  switch (forced.toLowerCase()) {
    case 'tensorflow':
      return ['node-gpu', 'node'];
    case 'node-gpu':
      return ['node-gpu'];
    case 'node':
      return ['node'];
    case 'wasm':
      return ['wasm'];
    case 'cpu':
      return ['cpu'];
    default:
      throw new Error(`TFJS_BACKEND=${forced} is not one of tensorflow, node-gpu, node, wasm, cpu`);
  }
}

function isMissingModule(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

async function tryBackend(choice: BackendChoice, importer: Importer): Promise<BackendInfo> {
  const pkg = PACKAGES[choice];
  if (pkg) await importer(pkg);
  const name = choice === 'wasm' ? 'wasm' : choice === 'cpu' ? 'cpu' : 'tensorflow';
  if (choice === 'wasm') tf.env().set('WASM_HAS_SIMD_SUPPORT', true);
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
  await tf.ready();
  const info: BackendInfo = { name: tf.getBackend(), source: choice };
  if (choice === 'wasm') {
    info.wasmSimd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    info.wasmThreads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
  }
  return info;
}

/**
 * Picks the fastest installed backend (tfjs-node-gpu, tfjs-node, wasm, cpu), or the one TFJS_BACKEND forces.
 * A missing package falls through silently; a forced one that is missing is an error.
 */
export async function selectBackend(
  logger?: Logger,
  env: NodeJS.ProcessEnv = process.env,
  importer: Importer = defaultImporter,
): Promise<BackendInfo> {
  const forced = env.TFJS_BACKEND;
  const candidates = candidatesFor(forced);
  const failures: string[] = [];
  for (const choice of candidates) {
    try {
      const info = await tryBackend(choice, importer);
      if (info.source === 'wasm' && !info.wasmThreads) {
        logger?.info('wasm: multithreading unavailable in Node (no SharedArrayBuffer workers); using one thread');
      }
      logger?.info(
        { backend: info.name, source: info.source, wasmSimd: info.wasmSimd, wasmThreads: info.wasmThreads },
        'tfjs backend selected',
      );
      return info;
    } catch (err) {
      const msg = isMissingModule(err) ? `${PACKAGES[choice]} is not installed` : (err as Error).message;
      failures.push(`${choice}: ${msg}`);
      if (!isMissingModule(err)) logger?.warn({ backend: choice, err: msg }, 'backend failed, trying next');
    }
  }
  const hint =
    forced === 'tensorflow' || forced === 'node-gpu' || forced === 'node'
      ? ' (install @tensorflow/tfjs-node, or use infra/gpu-tfjs.Dockerfile for tfjs-node-gpu)'
      : '';
  throw new Error(`TFJS_BACKEND=${forced ?? '(auto)'}: no usable backend${hint}; ${failures.join('; ')}`);
}

/** Selects a backend only when none has been chosen explicitly yet. */
export async function ensureBackend(logger?: Logger): Promise<BackendInfo> {
  const current = tf.engine().backendName;
  if (current && (current !== 'cpu' || process.env.TFJS_BACKEND === 'cpu')) {
    return { name: current, source: current === 'tensorflow' ? 'node' : (current as BackendChoice) };
  }
  return selectBackend(logger);
}
