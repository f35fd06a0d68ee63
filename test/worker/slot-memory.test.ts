import { afterEach, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { applySharpSettings, sharpSettings } from '../../src/shared/image/sharp-settings.js';
import { SANDBOX_ENV_DEFAULTS, SANDBOX_V8_FLAG, sandboxEnv } from '../../src/worker/sandbox-env.js';
import { SLOT_MEMORY_VARIANTS, variantEnv } from '../../src/bench/slot-memory-variants.js';

describe('sharp settings of a scoring slot', () => {
  const threads = sharp.concurrency();
  afterEach(() => {
    sharp.cache(true);
    sharp.concurrency(threads);
  });

  it('reads CXR_SHARP_CACHE (default off) and CXR_SHARP_CONCURRENCY', () => {
    expect(sharpSettings({})).toEqual({ cache: false });
    expect(sharpSettings({ CXR_SHARP_CACHE: 'true', CXR_SHARP_CONCURRENCY: '2' })).toEqual({
      cache: true,
      concurrency: 2,
    });
    expect(() => sharpSettings({ CXR_SHARP_CONCURRENCY: '0' })).toThrow(
      'CXR_SHARP_CONCURRENCY="0": must be a positive integer',
    );
    expect(() => sharpSettings({ CXR_SHARP_CACHE: 'maybe' })).toThrow('CXR_SHARP_CACHE="maybe": must be true or false');
  });

  it('applies them to sharp, repeatably', () => {
    applySharpSettings({ cache: false, concurrency: 1 });
    applySharpSettings({ cache: false, concurrency: 1 });
    expect(sharp.cache()).toMatchObject({ memory: { max: 0 }, files: { max: 0 }, items: { max: 0 } });
    expect(sharp.concurrency()).toBe(1);
    applySharpSettings({ cache: true });
    // sharp's own defaults again (50 MB, 20 files, 100 operations); the thread count is left as it was.
    expect(sharp.cache()).toMatchObject({ memory: { max: 50 }, files: { max: 20 }, items: { max: 100 } });
    expect(sharp.concurrency()).toBe(1);
  });
});

describe('the environment a sandbox starts with', () => {
  it('adds the defaults the worker does not set, and keeps what it sets', () => {
    const env = sandboxEnv({ PATH: '/bin' });
    expect(env).toEqual({ PATH: '/bin', ...SANDBOX_ENV_DEFAULTS, NODE_OPTIONS: SANDBOX_V8_FLAG });
    for (const name of Object.keys(SANDBOX_ENV_DEFAULTS)) expect(sandboxEnv({ [name]: 'mine' })[name]).toBe('mine');
  });

  it("adds the V8 flag to the worker's NODE_OPTIONS, unless they size the semi-space themselves", () => {
    expect(sandboxEnv({ NODE_OPTIONS: '--enable-source-maps' }).NODE_OPTIONS).toBe(
      `--enable-source-maps ${SANDBOX_V8_FLAG}`,
    );
    expect(sandboxEnv({ NODE_OPTIONS: '--max-semi-space-size=32' }).NODE_OPTIONS).toBe('--max-semi-space-size=32');
    // Safe to repeat: a sandbox environment given again is unchanged.
    const once = sandboxEnv({ NODE_OPTIONS: '--trace-warnings' });
    expect(sandboxEnv(once)).toEqual(once);
  });
});

describe('bench:slot-memory variants', () => {
  it('change only their own settings over the sandbox environment', () => {
    const base = sandboxEnv({ PATH: '/bin', CXR_SHARP_CACHE: 'false', MALLOC_ARENA_MAX: '4' });
    expect(variantEnv('shipped', base)).toEqual(base);
    const on = variantEnv('sharp-cache-on', base);
    expect(on).toEqual({ ...base, CXR_SHARP_CACHE: 'true' });
    // undefined means "the library's default": the variable is removed, not set to ''.
    const lib = variantEnv('library-defaults', base);
    expect('MALLOC_ARENA_MAX' in lib).toBe(false);
    expect(lib.PATH).toBe('/bin');
    expect(base.CXR_SHARP_CACHE).toBe('false');
    // The sandbox's own allocator setting is what 'malloc-glibc-defaults' takes away.
    expect(base.MALLOC_TRIM_THRESHOLD_).toBe(SANDBOX_ENV_DEFAULTS.MALLOC_TRIM_THRESHOLD_);
    expect(base.MALLOC_MMAP_THRESHOLD_).toBe(SANDBOX_ENV_DEFAULTS.MALLOC_MMAP_THRESHOLD_);
    const glibc = variantEnv('malloc-glibc-defaults', base);
    expect('MALLOC_TRIM_THRESHOLD_' in glibc || 'MALLOC_MMAP_THRESHOLD_' in glibc).toBe(false);
    // The previous default sets the trim threshold alone: the shipped mmap threshold is taken away with it.
    expect(variantEnv('malloc-trim-128k', base)).toMatchObject({ MALLOC_TRIM_THRESHOLD_: '131072' });
    expect('MALLOC_MMAP_THRESHOLD_' in variantEnv('malloc-trim-128k', base)).toBe(false);
    expect(() => variantEnv('nope', base)).toThrow(/unknown variant 'nope'/);
    // Every variant names what it changes.
    for (const spec of Object.values(SLOT_MEMORY_VARIANTS)) expect(spec.about.length).toBeGreaterThan(0);
  });
});
