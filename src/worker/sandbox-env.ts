/**
 * Settings a sandboxed slot process starts with unless the worker's own environment sets them (read by glibc and
 * V8 at process start, so they go in the environment the sandbox is forked with, not into a running process).
 */
export const SANDBOX_ENV_DEFAULTS: Readonly<Record<string, string>> = {
  // A fixed trim threshold (glibc's default one starts at 128 KiB but rises with every large free) returns freed
  // heap tops to the system. ONNX Runtime's session build frees some 150 MiB of transient buffers that glibc
  // otherwise keeps for the life of the slot: one FP32 slot, full-size images (npm run bench:slot-memory),
  // loaded 679 -> 532 MiB, peak 817 -> 677 MiB, idle 816 -> 654 MiB, images/s unchanged (4.4 and 4.4, under load).
  // MALLOC_ARENA_MAX=2 changed nothing (peak 859 MiB); a fixed MALLOC_MMAP_THRESHOLD_ did what this does.
  MALLOC_TRIM_THRESHOLD_: '131072',
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
