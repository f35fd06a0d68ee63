import { CommanderError } from 'commander';
import { EXIT_FAILURE, EXIT_USAGE, UserError } from '../shared/errors.js';
import { permissionLine } from '../shared/redis-failure.js';
import { isConnectionError } from '../shared/redis-connection.js';
import { s3FailureLine } from '../shared/s3/failure.js';
import { scrubText, secretValues } from '../shared/secrets.js';

/** How the CLI prints any error: one `cxr: ` line and an exit code (see shared/errors.ts for the codes). */
export interface ErrorOutcome {
  /** What to print after `cxr: `; empty when commander already printed (help). */
  line: string;
  exitCode: number;
}

const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

/** HOST:PORT of the Redis this command connected to (openRuntime notes it), for the line when it is lost. */
let redisInUse: string | undefined;

export function noteRedis(hostPort: string): void {
  redisInUse = hostPort;
}

/** One line a person can act on, and the exit code, for anything a command threw. Pure. */
export function describeError(err: unknown): ErrorOutcome {
  if (err instanceof CommanderError) {
    if (HELP_CODES.has(err.code)) return { line: '', exitCode: err.exitCode === 0 ? 0 : EXIT_USAGE };
    return { line: oneLine(err.message.replace(/^error: /, '')), exitCode: EXIT_USAGE };
  }
  if (err instanceof UserError) return { line: oneLine(err.message), exitCode: err.exitCode };
  // An S3 client's error carries its endpoint (s3/failure.ts): classified first, since its network codes
  // (ECONNREFUSED, ...) would also read as a lost Redis below.
  const s3 = s3FailureLine(err);
  if (s3) return { line: s3, exitCode: EXIT_FAILURE };
  // ioredis's own words ("Connection is closed.") do not say which connection, nor that the command gave up.
  if (redisInUse && isConnectionError(err))
    return { line: `lost Redis at ${redisInUse}: ${oneLine(messageOf(err))}`, exitCode: EXIT_FAILURE };
  const denied = permissionLine(err);
  if (denied) return { line: denied, exitCode: EXIT_FAILURE };
  const name = (err as { name?: string } | null)?.name;
  if (name === 'CredentialsProviderError') {
    return {
      line: 'no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for the S3 endpoint',
      exitCode: EXIT_FAILURE,
    };
  }
  // S3 service errors carry the HTTP status; their code (AccessDenied, InvalidAccessKeyId, ...) says more than the text alone.
  if (
    (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode &&
    name &&
    name !== 'Error'
  ) {
    return { line: oneLine(`S3 ${name}: ${messageOf(err)}`), exitCode: EXIT_FAILURE };
  }
  return { line: oneLine(messageOf(err)), exitCode: EXIT_FAILURE };
}

/** Prints the error as one `cxr: ` line (and its stack when LOG_LEVEL is debug or trace), scrubbed of secrets, and exits. */
export function exitWithError(err: unknown, env: NodeJS.ProcessEnv = process.env): never {
  const { line, exitCode } = describeError(err);
  const scrub = (text: string) => scrubText(text, secretValues(env));
  if (line) process.stderr.write(scrub(`cxr: ${line}\n`));
  if (['debug', 'trace'].includes(env.LOG_LEVEL ?? '') && err instanceof Error && err.stack)
    process.stderr.write(scrub(`${err.stack}\n`));
  process.exit(exitCode);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Multi-line messages (config errors list every bad setting) joined into one line. */
function oneLine(message: string): string {
  const parts = message
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return parts.map((p, i) => (i > 0 && !parts[i - 1].endsWith(':') ? `; ${p}` : i > 0 ? ` ${p}` : p)).join('');
}
