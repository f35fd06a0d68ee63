/**
 * Settings a sandboxed slot process starts with unless the worker's own environment sets them (read by glibc and
 * V8 at process start, so they go in the environment the sandbox is forked with, not into a running process).
 */
export const SANDBOX_ENV_DEFAULTS: Readonly<Record<string, string>> = {
  // glibc's dynamic thresholds rise with every large free: ONNX Runtime's session build frees some 150 MiB of
  // transient buffers that glibc then keeps for the life of the slot. Fixed thresholds give them back, and these two
  // do so without a cost per image. Blocks over 1 MiB (the session's buffers) are mmapped and unmapped on free;
  // an image's buffers (145-150 KB: the downloaded object, the decoded pixels) come from the heap, and heap tops
  // over 8 MiB go back to the system, above one batch's churn.
  // The previous setting, MALLOC_TRIM_THRESHOLD_=131072 alone, fixed the mmap threshold at 128 KiB too: every
  // image buffer was mapped, faulted in and unmapped. Null-engine pipeline (an ad-hoc script: 2 sandboxed slots,
  // 1,280 full-size JPEGs from the local S3 server), three alternating pairs, before -> now: sandbox CPU 11.9, 12.1,
  // 13.2 -> 11.1, 11.1, 12.8 ms per image, its system time 1.6-1.8 -> 1.1-1.2. One FP32 slot (npm run
  // bench:slot-memory), before -> now: loaded 397 -> 408 MiB, peak 545 -> 554, idle 523 -> 546 (glibc's own
  // thresholds: 587, 730, 730). A 4 MiB mmap and 32 MiB trim threshold measured the same as these.
  MALLOC_MMAP_THRESHOLD_: '1048576',
  MALLOC_TRIM_THRESHOLD_: '8388608',
};

/**
 * V8's young generation, capped at 2 MiB a semi-space (Node's default is 16). The model's file and weights are
 * read into buffers that are garbage once the session is built; with a small young generation the scavenges that
 * free them run during the load instead of never in an idle slot. FP32, full-size images, on top of the settings
 * above and the ORT arena off (npm run bench:slot-memory, paired runs): loaded 531 -> 398 and 529 -> 393 MiB, peak
 * 631 -> 502 and 633 -> 436 MiB, idle 416 -> 287 and 416 -> 290 MiB, at 10.3 and 10.8 images/s against 10.3.
 */
export const SANDBOX_V8_FLAG = '--max-semi-space-size=2';

/** The environment a sandbox is forked with: the worker's, over SANDBOX_ENV_DEFAULTS (a value set here wins). */
export function sandboxEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = { ...SANDBOX_ENV_DEFAULTS, ...env };
  // Added to the worker's NODE_OPTIONS, unless they set the semi-space size themselves.
  const own = env.NODE_OPTIONS ?? '';
  if (!/--max-semi-space-size\b/.test(own)) out.NODE_OPTIONS = own ? `${own} ${SANDBOX_V8_FLAG}` : SANDBOX_V8_FLAG;
  return out;
}
