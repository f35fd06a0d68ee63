/**
 * Settings a sandboxed slot process starts with unless the worker's own environment sets them (read by glibc and
 * V8 at process start, so they go in the environment the sandbox is forked with, not into a running process).
 */
export const SANDBOX_ENV_DEFAULTS: Readonly<Record<string, string>> = {};

/** The environment a sandbox is forked with: the worker's, over SANDBOX_ENV_DEFAULTS (a value set here wins). */
export function sandboxEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...SANDBOX_ENV_DEFAULTS, ...env };
}
