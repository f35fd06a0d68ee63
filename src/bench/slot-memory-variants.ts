// The levers npm run bench:slot-memory measures, one per variant, each as the environment a sandbox starts with.

/** What one variant printed (the child's JSON line). */
export interface SlotMemoryResult {
  variant: string;
  engine: 'fp32' | 'int8';
  backend: string;
  images: number;
  batch: number;
  /** RSS after the model loaded, after the last batch, and 5 s later; peakMiB is the process's maximum RSS. */
  loadedMiB: number;
  scoredMiB: number;
  peakMiB: number;
  idleMiB: number;
  heapMiB: number;
  externalMiB: number;
  imagesPerSecond: number;
}

export interface VariantSpec {
  about: string;
  /** Set over the sandbox's environment; undefined removes the variable (the library's own default). */
  env: Record<string, string | undefined>;
}

/** Every lever at its library's default: the figures before this project set any of them. */
const LIBRARY_DEFAULTS: VariantSpec['env'] = {
  CXR_ORT_CPU_ARENA: 'true',
  CXR_ORT_MEM_PATTERN: 'true',
  CXR_SHARP_CACHE: 'true',
  CXR_SHARP_CONCURRENCY: undefined,
  MALLOC_ARENA_MAX: undefined,
  MALLOC_TRIM_THRESHOLD_: undefined,
  MALLOC_MMAP_THRESHOLD_: undefined,
  NODE_OPTIONS: undefined,
};

export const SLOT_MEMORY_VARIANTS: Record<string, VariantSpec> = {
  shipped: { about: "the worker's defaults (sandboxForkOptions, sessionMemory, sharpSettings)", env: {} },
  'library-defaults': {
    about: 'every lever at its library default (before this project set any)',
    env: LIBRARY_DEFAULTS,
  },
  'ort-arena-on': { about: 'ONNX Runtime CPU memory arena on', env: { CXR_ORT_CPU_ARENA: 'true' } },
  'ort-arena-off': { about: 'ONNX Runtime CPU memory arena off', env: { CXR_ORT_CPU_ARENA: 'false' } },
  'ort-pattern-off': { about: 'ONNX Runtime memory pattern off', env: { CXR_ORT_MEM_PATTERN: 'false' } },
  'sharp-cache-on': { about: "sharp's operation cache on (50 MB, 100 items)", env: { CXR_SHARP_CACHE: 'true' } },
  'sharp-cache-off': { about: "sharp's operation cache off", env: { CXR_SHARP_CACHE: 'false' } },
  'sharp-threads-1': { about: 'one libvips thread per image', env: { CXR_SHARP_CONCURRENCY: '1' } },
  'malloc-arenas-2': { about: 'glibc MALLOC_ARENA_MAX=2', env: { MALLOC_ARENA_MAX: '2' } },
  'malloc-glibc-defaults': {
    about: "glibc's own malloc settings (no MALLOC_* variable)",
    env: { MALLOC_ARENA_MAX: undefined, MALLOC_TRIM_THRESHOLD_: undefined, MALLOC_MMAP_THRESHOLD_: undefined },
  },
  'malloc-trim-128k': {
    about:
      'the previous sandbox default: glibc MALLOC_TRIM_THRESHOLD_=131072 alone (the mmap threshold then stays at 128 KiB: image-sized blocks are mapped)',
    env: { MALLOC_TRIM_THRESHOLD_: '131072', MALLOC_MMAP_THRESHOLD_: undefined },
  },
  'malloc-mmap-1m': {
    about: 'glibc MALLOC_MMAP_THRESHOLD_=1048576 alone (the trim threshold then stays at 128 KiB)',
    env: { MALLOC_MMAP_THRESHOLD_: '1048576', MALLOC_TRIM_THRESHOLD_: undefined },
  },
  'malloc-trim+mmap': {
    about: 'glibc MALLOC_TRIM_THRESHOLD_=131072 with MALLOC_MMAP_THRESHOLD_=1048576',
    env: { MALLOC_TRIM_THRESHOLD_: '131072', MALLOC_MMAP_THRESHOLD_: '1048576' },
  },
  'v8-semi-space-2': {
    about: 'V8 young generation capped: --max-semi-space-size=2 (MiB)',
    env: { NODE_OPTIONS: '--max-semi-space-size=2' },
  },
  'v8-semi-space-default': {
    about: "V8's own young generation (no NODE_OPTIONS)",
    env: { NODE_OPTIONS: undefined },
  },
};

/** The environment a variant's process starts with: the sandbox's own, with the variant's changes. */
export function variantEnv(name: string, sandboxEnv: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const spec = SLOT_MEMORY_VARIANTS[name];
  if (!spec) throw new Error(`unknown variant '${name}' (known: ${Object.keys(SLOT_MEMORY_VARIANTS).join(', ')})`);
  const env = { ...sandboxEnv };
  for (const [k, value] of Object.entries(spec.env)) {
    if (value === undefined) delete env[k];
    else env[k] = value;
  }
  return env;
}
