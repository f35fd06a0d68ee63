import { z } from 'zod';
import { UsageError } from './errors.js';
import type { RedisTarget, RedisTlsFiles } from './redis-failure.js';
import type { SseSettings } from './s3/sse.js';
import { scrubText } from './secrets.js';

/** Settings shared by every command; each comes from the environment and may be overridden by a flag. */
export interface Config {
  redisUrl: string;
  /** CA, client certificate and key files for rediss:// (paths). */
  redisTls?: RedisTlsFiles;
  s3: S3Settings;
  queuePrefix: string;
}

export interface S3Settings {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /** Server-side encryption of every object written. */
  sse?: SseSettings;
}

/** Where Redis is and how to reach it, for the connection functions. */
export function redisTarget(config: Pick<Config, 'redisUrl' | 'redisTls'>): RedisTarget {
  return { url: config.redisUrl, tls: config.redisTls };
}

/** Bad settings (environment or global flags): a usage error, exit code 2. */
export class ConfigError extends UsageError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
  );

const boolish = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => ['true', '1', 'yes'].includes(v));

/**
 * One on/off setting read outside the main configuration (a process-level tuning knob such as CXR_ORT_CPU_ARENA):
 * unset or empty gives `fallback`; anything but true/false/1/0/yes/no is a ConfigError naming the variable.
 */
export function envSwitch(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const parsed = boolish.safeParse(raw.toLowerCase());
  if (!parsed.success) throw new ConfigError(`${name}=${JSON.stringify(raw)}: must be true or false`);
  return parsed.data;
}

const schema = z
  .object({
    REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
    S3_ENDPOINT: url(['http:', 'https:']).optional(),
    AWS_REGION: z
      .string()
      .regex(/^[a-z0-9-]+$/, 'must look like us-east-1')
      .default('us-east-1'),
    S3_FORCE_PATH_STYLE: boolish.optional(),
    CXR_QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
      .default('cxr'),
    CXR_REDIS_TLS_CA: z.string().optional(),
    CXR_REDIS_TLS_CERT: z.string().optional(),
    CXR_REDIS_TLS_KEY: z.string().optional(),
    CXR_S3_SSE: z.enum(['AES256', 'aws:kms'], { message: 'must be AES256 or aws:kms' }).optional(),
    CXR_S3_SSE_KMS_KEY_ID: z.string().optional(),
  })
  .superRefine((c, ctx) => {
    const issue = (name: string, message: string) => ctx.addIssue({ code: 'custom', path: [name], message });
    const tls = c.REDIS_URL.startsWith('rediss:');
    for (const name of ['CXR_REDIS_TLS_CA', 'CXR_REDIS_TLS_CERT', 'CXR_REDIS_TLS_KEY'] as const) {
      if (c[name] && !tls) issue(name, 'is for TLS: REDIS_URL must start with rediss://');
    }
    if (c.CXR_REDIS_TLS_CERT && !c.CXR_REDIS_TLS_KEY)
      issue('CXR_REDIS_TLS_KEY', 'must be set with CXR_REDIS_TLS_CERT (the private key of the client certificate)');
    if (c.CXR_REDIS_TLS_KEY && !c.CXR_REDIS_TLS_CERT)
      issue('CXR_REDIS_TLS_CERT', 'must be set with CXR_REDIS_TLS_KEY (the client certificate)');
    if (c.CXR_S3_SSE_KMS_KEY_ID && c.CXR_S3_SSE !== 'aws:kms')
      issue('CXR_S3_SSE_KMS_KEY_ID', 'needs CXR_S3_SSE=aws:kms (--sse aws:kms)');
  });

const SETTINGS = [
  'REDIS_URL',
  'S3_ENDPOINT',
  'AWS_REGION',
  'S3_FORCE_PATH_STYLE',
  'CXR_QUEUE_PREFIX',
  'CXR_REDIS_TLS_CA',
  'CXR_REDIS_TLS_CERT',
  'CXR_REDIS_TLS_KEY',
  'CXR_S3_SSE',
  'CXR_S3_SSE_KMS_KEY_ID',
] as const;

/** Reads and validates configuration; the error names every bad setting. */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Record<(typeof SETTINGS)[number], string>> = {},
): Config {
  const raw: Record<string, string | undefined> = {};
  for (const key of SETTINGS) {
    const value = overrides[key as keyof typeof overrides] ?? env[key];
    raw[key] = value === '' ? undefined : value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    // A bad URL may still hold a password: shown without its user-info.
    const lines = parsed.error.issues.map(
      (i) => `  ${i.path.join('.')}=${JSON.stringify(scrubText(raw[String(i.path[0])] ?? '', []))}: ${i.message}`,
    );
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const redisTls =
    c.CXR_REDIS_TLS_CA || c.CXR_REDIS_TLS_CERT
      ? { ca: c.CXR_REDIS_TLS_CA, cert: c.CXR_REDIS_TLS_CERT, key: c.CXR_REDIS_TLS_KEY }
      : undefined;
  return {
    redisUrl: c.REDIS_URL,
    ...(redisTls ? { redisTls } : {}),
    queuePrefix: c.CXR_QUEUE_PREFIX,
    s3: {
      endpoint: c.S3_ENDPOINT,
      region: c.AWS_REGION,
      // Custom endpoints (MinIO, local servers) nearly always need path-style addressing.
      forcePathStyle: c.S3_FORCE_PATH_STYLE ?? c.S3_ENDPOINT !== undefined,
      ...(c.CXR_S3_SSE
        ? {
            sse: {
              ServerSideEncryption: c.CXR_S3_SSE,
              ...(c.CXR_S3_SSE_KMS_KEY_ID ? { SSEKMSKeyId: c.CXR_S3_SSE_KMS_KEY_ID } : {}),
            },
          }
        : {}),
    },
  };
}

/** Writes the settings back as environment variables, for child processes (worker sandboxes) that read them there. */
export function exportSettings(config: Config, env: NodeJS.ProcessEnv = process.env): void {
  const set = (name: (typeof SETTINGS)[number], value: string | undefined) => {
    if (value === undefined) delete env[name];
    else env[name] = value;
  };
  set('REDIS_URL', config.redisUrl);
  set('CXR_REDIS_TLS_CA', config.redisTls?.ca);
  set('CXR_REDIS_TLS_CERT', config.redisTls?.cert);
  set('CXR_REDIS_TLS_KEY', config.redisTls?.key);
  set('S3_ENDPOINT', config.s3.endpoint);
  set('AWS_REGION', config.s3.region);
  set('S3_FORCE_PATH_STYLE', String(config.s3.forcePathStyle));
  set('CXR_QUEUE_PREFIX', config.queuePrefix);
  set('CXR_S3_SSE', config.s3.sse?.ServerSideEncryption);
  set('CXR_S3_SSE_KMS_KEY_ID', config.s3.sse?.SSEKMSKeyId);
}
