import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stderr (stdout stays free for command output); credentials are redacted. */
export function createLogger(bindings: Record<string, unknown> = {}, destination: { write(s: string): unknown } = pino.destination(2)): Logger {
  return pino(
    {
      level: process.env.LOG_LEVEL ?? 'info',
      base: { pid: process.pid, ...bindings },
      redact: {
        paths: ['*.secretAccessKey', '*.accessKeyId', '*.sessionToken', '*.password', 'credentials', '*.credentials'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
