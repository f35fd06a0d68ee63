import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.js';
import { describeError } from '../../src/cli/errors.js';
import { parseWebhook, resolveWebhook, webhookHoldsToken } from '../../src/eval/webhook.js';
import { execCli } from '../helpers/cli.js';
import { redisFailure } from '../../src/shared/redis-failure.js';
import { displayUrl, scrubText, secretValues } from '../../src/shared/secrets.js';
import { repoRoot } from '../../src/shared/paths.js';

const PASS = 'pa55-w0rd-sentinel';
const TOKEN = 'hook-token-sentinel';

describe('secrets in text', () => {
  it('displayUrl drops user, password and query string', () => {
    expect(displayUrl(`rediss://cxr:${PASS}@redis.internal:6380/2`)).toBe('rediss://redis.internal:6380/2');
    expect(displayUrl(`https://hooks.example/services/x?token=${TOKEN}`)).toBe('https://hooks.example/services/x');
  });

  it('secretValues finds secret-named settings and the passwords and query values inside URL settings', () => {
    const env = {
      AWS_SECRET_ACCESS_KEY: 'aws-secret-sentinel',
      AWS_ACCESS_KEY_ID: 'AKIASENTINEL0000',
      REDIS_URL: `redis://cxr:${PASS}@h:6379`,
      CXR_DASHBOARD_PASSWORD: 'dash-pass-sentinel',
      ALERT_HOOK: `https://h/x?token=${TOKEN}`,
      HOME: '/home/someone-long',
      SHORT_TOKEN: 'abc',
    };
    expect(secretValues(env).sort()).toEqual(
      ['AKIASENTINEL0000', 'aws-secret-sentinel', 'dash-pass-sentinel', TOKEN, PASS].sort(),
    );
  });

  it('scrubText removes URL user-info whatever its length, and every known value', () => {
    expect(scrubText(`at redis://u:x@h:1 and ${PASS}!`, [PASS])).toBe('at redis://[redacted]@h:1 and [redacted]!');
  });

  it('scrubText keeps the literal USER:PASSWORD placeholder of a hint, and still scrubs a real password beside it', () => {
    const hint = 'give it in REDIS_URL as redis://USER:PASSWORD@10.0.0.5:6380';
    expect(scrubText(hint, [])).toBe(hint);
    expect(scrubText(`redis://USER:${PASS}@h:1 redis://user:PASSWORD@h:1`, [])).toBe(
      'redis://[redacted]@h:1 redis://[redacted]@h:1',
    );
  });
});

describe('Redis failures as one line', () => {
  const t = { url: `redis://cxr:${PASS}@10.0.0.5:6380` };
  const line = (err: object, target: { url: string; tls?: { ca?: string } } = t) => redisFailure(err, target);
  it.each([
    [
      {
        message: 'WRONGPASS invalid username-password pair or user is disabled.',
        command: { name: 'hello', args: ['3', 'AUTH', 'cxr', PASS] },
      },
      true,
      'authentication failed for user cxr at 10.0.0.5:6380',
    ],
    [
      { message: 'NOAUTH Authentication required.' },
      true,
      'Redis at 10.0.0.5:6380 requires a password: give it in REDIS_URL as redis://USER:PASSWORD@10.0.0.5:6380',
    ],
    [
      { code: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' },
      true,
      'TLS certificate of Redis at 10.0.0.5:6380 is not trusted (self-signed certificate in certificate chain): set CXR_REDIS_TLS_CA to the file of the CA that signed it',
    ],
    [
      { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', message: 'alert' },
      true,
      'Redis at 10.0.0.5:6380 requires a client certificate: set CXR_REDIS_TLS_CERT and CXR_REDIS_TLS_KEY',
    ],
    [
      { code: 'ERR_SSL_WRONG_VERSION_NUMBER', message: 'wrong version number' },
      true,
      "Redis at 10.0.0.5:6380 does not speak TLS: use redis:// or the server's tls-port",
    ],
    [
      { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' },
      false,
      'cannot reach Redis at 10.0.0.5:6380 (connection refused)',
    ],
  ])('%o', (err, fatal, expected) => {
    const f = line(err);
    expect(f).toMatchObject({ fatal, line: expected });
    expect(f.line).not.toContain(PASS);
  });

  it('names the CA file when one was set', () => {
    expect(
      line(
        { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'unable to verify' },
        { ...t, tls: { ca: '/etc/cxr/ca.pem' } },
      ).line,
    ).toMatch(/CXR_REDIS_TLS_CA \(\/etc\/cxr\/ca\.pem\) is not the CA that signed it$/);
  });

  it('a NOPERM, alone or inside MULTI (EXECABORT), is one line pointing at the ACL document', () => {
    const noperm = { message: "NOPERM this user has no permissions to run the 'xadd' command" };
    const expected =
      "Redis refused a command: this user has no permissions to run the 'xadd' command; docs/security.md lists the ACL rules cxr needs";
    expect(describeError(Object.assign(new Error(noperm.message))).line).toBe(expected);
    expect(
      describeError(
        Object.assign(new Error('EXECABORT Transaction discarded because of previous errors.'), {
          previousErrors: [noperm],
        }),
      ).line,
    ).toBe(expected);
  });
});

describe('settings', () => {
  const bad = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (err) {
      return describeError(err);
    }
    throw new Error('no error');
  };
  it('SSE: mode checked, KMS key only with aws:kms, and both reach the S3 settings', () => {
    expect(bad({ CXR_S3_SSE: 'rot13' }).line).toBe(
      'invalid configuration: CXR_S3_SSE="rot13": must be AES256 or aws:kms',
    );
    expect(bad({ CXR_S3_SSE: 'AES256', CXR_S3_SSE_KMS_KEY_ID: 'k' }).line).toMatch(
      /CXR_S3_SSE_KMS_KEY_ID="k": needs CXR_S3_SSE=aws:kms/,
    );
    expect(loadConfig({ CXR_S3_SSE: 'aws:kms', CXR_S3_SSE_KMS_KEY_ID: 'k' }).s3.sse).toEqual({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'k',
    });
    expect(loadConfig({}).s3.sse).toBeUndefined();
  });
  it('a malformed REDIS_URL is shown without its password', () => {
    const r = bad({ REDIS_URL: `http://cxr:${PASS}@h:6379` });
    expect(r.line).toBe(
      'invalid configuration: REDIS_URL="http://[redacted]@h:6379": must be a URL starting with redis:// or rediss://',
    );
  });
});

describe('webhooks', () => {
  it('env:NAME is resolved in the posting process; URLs with a token are told apart', () => {
    expect(parseWebhook('env:CXR_ALERT_WEBHOOK')).toBe('env:CXR_ALERT_WEBHOOK');
    expect(() => parseWebhook('env:')).toThrow(/env:NAME/);
    expect(resolveWebhook('env:HOOK', { HOOK: `https://h/x?token=${TOKEN}` })).toBe(`https://h/x?token=${TOKEN}`);
    expect(() => resolveWebhook('env:HOOK', {})).toThrow(
      "webhook env:HOOK: HOOK is not set in this process's environment",
    );
    expect([`https://h/x?token=${TOKEN}`, 'https://u:p@h/x', 'https://h/x', 'env:HOOK'].map(webhookHoldsToken)).toEqual(
      [true, true, false, false],
    );
  });

  it('schedule eval refuses to store a token-bearing webhook URL in Redis, in one line without the token', async () => {
    const r = await execCli(
      [
        'schedule',
        'eval',
        '--data',
        's3://cxr-bucket/l/',
        '--out',
        's3://cxr-bucket/e',
        '--cron',
        '0 2 * * *',
        '--webhook',
        `https://h/x?token=${TOKEN}`,
      ],
      { ...process.env, REDIS_URL: 'redis://127.0.0.1:1' },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'cxr: --webhook: this URL holds a credential (user-info or query string) and would be stored in Redis with the schedule; set it in an environment variable of the workers and pass --webhook env:NAME\n',
    );
  });
});

describe('the logger', () => {
  it('redacts credential fields, error commands and known values (control: the same object printed plainly holds them)', () => {
    const script = `
      const { createLogger } = await import(${JSON.stringify(path.join(repoRoot(), 'dist', 'shared', 'logger.js'))});
      const err = Object.assign(new Error('WRONGPASS'), { command: { name: 'hello', args: ['3', 'AUTH', 'cxr', '${PASS}'] } });
      const fields = { err, redisUrl: 'redis://cxr:${PASS}@h:1', job: { data: { webhook: 'https://h/x?token=${TOKEN}' } }, s3: { credentials: { secretAccessKey: 'x' } } };
      createLogger({ role: 't' }).error(fields, 'failed at redis://cxr:${PASS}@h:1 with ' + process.env.AWS_SECRET_ACCESS_KEY);
      process.stdout.write(JSON.stringify(fields) + JSON.stringify(err.command) + process.env.AWS_SECRET_ACCESS_KEY);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, AWS_SECRET_ACCESS_KEY: 'aws-secret-sentinel' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    for (const s of [PASS, TOKEN, 'aws-secret-sentinel']) {
      expect(r.stdout).toContain(s);
      expect(r.stderr).not.toContain(s);
    }
    expect(JSON.parse(r.stderr)).toMatchObject({
      msg: 'failed at redis://[redacted]@h:1 with [redacted]',
      redisUrl: '[redacted]',
      err: { message: 'WRONGPASS' },
    });
  });
});
