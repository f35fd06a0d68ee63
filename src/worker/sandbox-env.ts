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

/** The environment a sandbox is forked with: the worker's, over SANDBOX_ENV_DEFAULTS (a value set here wins). */
export function sandboxEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...SANDBOX_ENV_DEFAULTS, ...env };
}
