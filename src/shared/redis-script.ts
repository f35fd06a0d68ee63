import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

/**
 * A Lua script kept in its own .lua file (header: KEYS, ARGV, return value), named after it. Run by its
 * SHA (EVALSHA), and sent whole only when Redis does not have it cached (after a restart or SCRIPT FLUSH).
 * The build copies src/**\/*.lua beside the compiled .js, so `new URL('./x.lua', import.meta.url)` finds
 * the file both from dist/ and from src/ under vitest.
 */
export class RedisScript {
  readonly lua: string;
  readonly sha: string;

  constructor(
    readonly name: string,
    lua: string,
  ) {
    this.lua = lua;
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Reads the script from `file` (a URL relative to the caller's module); a missing file fails at load, naming it. */
  static load(file: URL): RedisScript {
    const path = fileURLToPath(file);
    let lua: string;
    try {
      lua = readFileSync(path, 'utf8');
    } catch (cause) {
      throw new Error(`Redis script ${path} cannot be read (does the build copy the .lua files to dist/?)`, { cause });
    }
    return new RedisScript(path.replace(/^.*[\\/]/, '').replace(/\.lua$/, ''), lua);
  }

  /** Runs the script on these keys and arguments; the reply as Redis gives it (the caller decodes it once). */
  async run(redis: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
