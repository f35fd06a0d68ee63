import sharp from 'sharp';
import { ConfigError, envSwitch } from '../config.js';

/** How sharp (libvips) holds memory in a scoring process; see applySharpSettings. */
export interface SharpSettings {
  /** libvips' operation cache (default: 50 MB, 100 operations, 20 files). */
  cache: boolean;
  /** libvips threads per image; undefined keeps sharp's default (one per core). */
  concurrency?: number;
}

/**
 * The worker's sharp settings: CXR_SHARP_CACHE (default false) and CXR_SHARP_CONCURRENCY (default: sharp's).
 * The cache is off because a worker never decodes the same object twice: it cannot hit, only hold the last
 * operations' buffers. At the bench's sizes it held no measurable memory (npm run bench:slot-memory, one FP32 slot:
 * peak / idle 796 / 796 MiB with it on, 817 / 816 off; README "Memory per slot").
 */
export function sharpSettings(env: NodeJS.ProcessEnv = process.env): SharpSettings {
  const cache = envSwitch(env, 'CXR_SHARP_CACHE', false);
  const raw = env.CXR_SHARP_CONCURRENCY;
  if (raw === undefined || raw === '') return { cache };
  const concurrency = Number(raw);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new ConfigError(`CXR_SHARP_CONCURRENCY=${JSON.stringify(raw)}: must be a positive integer`);
  return { cache, concurrency };
}

/** Applies settings to this process's sharp (process-wide; safe to repeat). */
export function applySharpSettings(s: SharpSettings): void {
  // sharp.cache(true) restores sharp's own defaults, so turning the cache back on is repeatable too.
  sharp.cache(s.cache);
  if (s.concurrency !== undefined) sharp.concurrency(s.concurrency);
}
