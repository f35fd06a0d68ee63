import { InvalidArgumentError } from 'commander';
import { CronExpressionParser } from 'cron-parser';
import { assertRunId } from '../run/index.js';
import { parseS3Uri } from '../shared/s3/uri.js';
import { parseWebhook } from '../eval/webhook.js';

/**
 * A commander value parser from a function that throws on bad input. Commander reports the thrown
 * InvalidArgumentError as `option '--tz <zone>' argument 'Mars/Olympus' is invalid. <reason>`, i.e. naming
 * the flag and the value.
 */
export function parsedBy<T>(check: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return check(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

export function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
    return n;
  };
}

export function nonNegative(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0)
      throw new InvalidArgumentError(`${flag} must be a number >= 0, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** s3://bucket/prefix, kept as text; a bad one is refused with the parser's reason. */
export const s3Uri = parsedBy((v) => {
  parseS3Uri(v);
  return v;
});

export const runIdArg = parsedBy(assertRunId);

export const webhookArg = parsedBy(parseWebhook);

/** An IANA time zone name, e.g. Europe/Berlin. */
export const timeZone = parsedBy((v) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: v });
  } catch {
    throw new Error('unknown time zone; use an IANA name such as UTC or Europe/Berlin');
  }
  return v;
});

/**
 * Checked before cron-parser, which fills in missing fields: "* * *" would otherwise pass and fire every
 * minute. Five fields, or six with seconds first (as cron-parser and BullMQ read six); `@daily`-style
 * macros go to cron-parser as they are. Returns the reason a pattern is refused, or undefined.
 */
export function cronFieldProblem(pattern: string): string | undefined {
  const fields = pattern.trim().split(/\s+/).filter(Boolean);
  if (fields.length === 1 && fields[0].startsWith('@')) return undefined;
  if (fields.length === 5 || fields.length === 6) return undefined;
  return `a cron pattern has 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; got ${fields.length}`;
}

/** A cron pattern as BullMQ's job schedulers read it (same cron-parser). */
export const cronPattern = parsedBy((v) => {
  const problem = cronFieldProblem(v);
  if (problem) throw new Error(`${problem}; e.g. "0 2 * * *" is 02:00 every day`);
  try {
    CronExpressionParser.parse(v);
  } catch (err) {
    throw new Error(`not a cron pattern (${(err as Error).message}); e.g. "0 2 * * *" is 02:00 every day`, {
      cause: err,
    });
  }
  return v;
});

/** A TCP port, 1-65535. */
export function tcpPort(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      throw new InvalidArgumentError(`${flag} must be a TCP port (1-65535), got ${JSON.stringify(value)}`);
    return n;
  };
}
