import { pino, stdSerializers, type Logger } from 'pino';
import { REDACTED, scrubText, secretValues } from './secrets.js';

export type { Logger };

/** Fields that carry credentials wherever they appear in a log line (one and two levels down). */
const SECRET_FIELDS = [
  'password',
  'secretAccessKey',
  'accessKeyId',
  'sessionToken',
  'credentials',
  'redisUrl',
  'REDIS_URL',
  'webhook',
  'authorization',
  'Authorization',
  'token',
];
export const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
  // ioredis reply errors carry the command, e.g. HELLO 3 AUTH user password.
  'command',
  '*.command',
  'args',
  '*.args',
];

/** pino's error serializer without what an error object may carry of the request that failed. */
function errSerializer(err: Error): Record<string, unknown> {
  const out = stdSerializers.err(err) as unknown as Record<string, unknown>;
  delete out.command;
  delete out.args;
  return out;
}

/**
 * JSON logs on stderr (stdout stays free for command output). Credentials are redacted by field name, and
 * every line is scrubbed of URL user-info and of the secret values in `env` (see secrets.ts).
 */
export function createLogger(
  bindings: Record<string, unknown> = {},
  destination: { write(s: string): unknown } = pino.destination(2),
  env: NodeJS.ProcessEnv = process.env,
): Logger {
  const secrets = secretValues(env);
  return pino(
    {
      level: env.LOG_LEVEL ?? 'info',
      base: { pid: process.pid, ...bindings },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      serializers: { err: errSerializer },
      hooks: { streamWrite: (line) => scrubText(line, secrets) },
    },
    destination,
  );
}
