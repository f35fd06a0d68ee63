import { z } from 'zod';
import { UsageError } from './errors.js';

/** Settings shared by every command; each comes from the environment and may be overridden by a flag. */
export interface Config {
  redisUrl: string;
  s3: S3Settings;
  queuePrefix: string;
}

export interface S3Settings {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
}

/** Bad settings (environment or global flags): a usage error, exit code 2. */
export class ConfigError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const url = (protocols: string[]) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

const boolish = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => ['true', '1', 'yes'].includes(v));

const schema = z.object({
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  S3_ENDPOINT: url(['http:', 'https:']).optional(),
  AWS_REGION: z.string().regex(/^[a-z0-9-]+$/, 'must look like us-east-1').default('us-east-1'),
  S3_FORCE_PATH_STYLE: boolish.optional(),
  CXR_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('cxr'),
});

/** Reads and validates configuration; the error names every bad setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof z.input<typeof schema>, string>> = {}): Config {
  const raw: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = overrides[key as keyof typeof overrides] ?? env[key];
    raw[key] = value === '' ? undefined : value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}=${JSON.stringify(raw[String(i.path[0])] ?? '')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  return {
    redisUrl: c.REDIS_URL,
    queuePrefix: c.CXR_QUEUE_PREFIX,
    s3: {
      endpoint: c.S3_ENDPOINT,
      region: c.AWS_REGION,
      // Custom endpoints (MinIO, local servers) nearly always need path-style addressing.
      forcePathStyle: c.S3_FORCE_PATH_STYLE ?? c.S3_ENDPOINT !== undefined,
    },
  };
}
