import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/shared/paths.js';
import { execCli, type CliResult } from '../helpers/cli.js';
import { aclRules, makePki, startSecureRedis, type Pki, type SecureRedis } from '../helpers/secure-redis.js';

const PREFIX = 'cxrsec';
const PASS = 'worker-pass-5d2c81';
/** A long connect timeout, so that a failure that is not fast shows (the default is 5 s). */
const TIMEOUT_MS = 30_000;

/**
 * Redis as operators run it, against real redis-servers (TLS, mutual TLS, ACL users) and the real `cxr`:
 * what connects, and what fails at once with one line naming the setting to change and no password.
 */
describe('Redis TLS, mutual TLS and ACL users', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cxr-redis-sec-'));
  let pki: Pki;
  let tls: SecureRedis;
  let mtls: SecureRedis;
  const users = [
    `user default off`,
    `user cxr on >${PASS} ${aclRules(PREFIX)}`,
    `user nobody on >nobody-pass-77 resetkeys -@all`,
  ];

  beforeAll(async () => {
    pki = makePki(dir);
    tls = await startSecureRedis(dir, 'tls', users, { pki, clientCerts: false });
    mtls = await startSecureRedis(dir, 'mtls', users, { pki, clientCerts: true });
  });
  afterAll(async () => {
    await Promise.all([tls?.stop(), mtls?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const url = (server: SecureRedis, user = 'cxr', pass = PASS) => `rediss://${user}:${pass}@127.0.0.1:${server.port}`;
  const cxr = (args: string[], env: Record<string, string | undefined>) =>
    execCli(args, {
      ...process.env,
      CXR_QUEUE_PREFIX: PREFIX,
      LOG_LEVEL: undefined,
      NODE_EXTRA_CA_CERTS: undefined,
      CXR_ENGINE: 'null',
      CXR_REDIS_CONNECT_TIMEOUT_MS: String(TIMEOUT_MS),
      ...env,
    });
  /** Exit 1 with one line matching `line`, soon, without the password. */
  const oneLine = (r: CliResult, line: RegExp) => {
    expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(line);
    expect(r.stderr + r.stdout).not.toContain(PASS);
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(TIMEOUT_MS / 2); // failed fast, not at the connect timeout
  };

  it('docs/security.md gives the ACL rules these tests run under', () => {
    expect(readFileSync(path.join(repoRoot(), 'docs', 'security.md'), 'utf8')).toContain(aclRules('cxr'));
  });

  it('a good CA (CXR_REDIS_TLS_CA) connects: schedule list answers', async () => {
    const r = await cxr(['schedule', 'list'], { REDIS_URL: url(tls), CXR_REDIS_TLS_CA: pki.ca });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/name.*cron/);
  });

  it('no CA: fails fast, naming CXR_REDIS_TLS_CA', async () => {
    const r = await cxr(['status', 'run-x'], { REDIS_URL: url(tls) });
    oneLine(
      r,
      new RegExp(
        `^cxr: TLS certificate of Redis at 127\\.0\\.0\\.1:${tls.port} is not trusted \\(self-signed certificate in certificate chain\\): set CXR_REDIS_TLS_CA to the file of the CA that signed it$`,
      ),
    );
  });

  it('a wrong CA: fails fast, naming the setting and its file', async () => {
    const r = await cxr(['status', 'run-x'], { REDIS_URL: url(tls), CXR_REDIS_TLS_CA: pki.otherCa });
    oneLine(
      r,
      /^cxr: TLS certificate of Redis at .* is not trusted \(.*\): CXR_REDIS_TLS_CA \(.*other-ca\.pem\) is not the CA that signed it$/,
    );
  });

  it('a worker with a wrong CA exits with the same line instead of retrying', async () => {
    const r = await cxr(['worker', '--concurrency', '1'], { REDIS_URL: url(tls), CXR_REDIS_TLS_CA: pki.otherCa });
    const lines = r.stderr
      .trimEnd()
      .split('\n')
      .filter((l) => !l.startsWith('{')); // the model check logs before
    expect(lines).toEqual([
      expect.stringMatching(/^cxr: TLS certificate of Redis at .* is not trusted .*CXR_REDIS_TLS_CA/),
    ]);
    expect(r.code).toBe(1);
  });

  it('a wrong password: one line naming user and host, not the password', async () => {
    const r = await cxr(['status', 'run-x'], {
      REDIS_URL: url(tls, 'cxr', 'wrong-pass-31337'),
      CXR_REDIS_TLS_CA: pki.ca,
    });
    oneLine(r, new RegExp(`^cxr: authentication failed for user cxr at 127\\.0\\.0\\.1:${tls.port}$`));
    expect(r.stderr).not.toContain('wrong-pass-31337');
  });

  it('a user without rights: one line saying which permission is missing', async () => {
    const r = await cxr(['schedule', 'list'], {
      REDIS_URL: url(tls, 'nobody', 'nobody-pass-77'),
      CXR_REDIS_TLS_CA: pki.ca,
    });
    oneLine(
      r,
      /^cxr: Redis user nobody at 127\.0\.0\.1:\d+ lacks a permission \(this user has no permissions to run the 'info' command\); docs\/security\.md lists the ACL rules cxr needs$/,
    );
  });

  it('the ACL user is confined to its prefix: another prefix is refused at once, by a command and by a worker', async () => {
    const line = new RegExp(
      `^cxr: Redis user cxr at 127\\.0\\.0\\.1:${tls.port} lacks a permission \\(this user has no permissions to access one of the keys used as arguments\\); docs/security\\.md lists the ACL rules cxr needs$`,
    );
    const env = { REDIS_URL: url(tls), CXR_REDIS_TLS_CA: pki.ca, CXR_QUEUE_PREFIX: 'other' };
    oneLine(await cxr(['status', 'run-x'], env), line);
    const worker = await cxr(['worker', '--concurrency', '1'], env);
    expect(
      worker.stderr
        .trimEnd()
        .split('\n')
        .filter((l) => !l.startsWith('{')),
    ).toEqual([expect.stringMatching(line)]);
    expect(worker.code).toBe(1);
  });

  it('mutual TLS: without a client certificate it names CXR_REDIS_TLS_CERT and _KEY; with them it connects', async () => {
    const without = await cxr(['status', 'run-x'], { REDIS_URL: url(mtls), CXR_REDIS_TLS_CA: pki.ca });
    oneLine(
      without,
      /^cxr: Redis at 127\.0\.0\.1:\d+ requires a client certificate: set CXR_REDIS_TLS_CERT and CXR_REDIS_TLS_KEY$/,
    );
    const withCert = await cxr(['schedule', 'list'], {
      REDIS_URL: url(mtls),
      CXR_REDIS_TLS_CA: pki.ca,
      CXR_REDIS_TLS_CERT: pki.clientCert,
      CXR_REDIS_TLS_KEY: pki.clientKey,
    });
    expect(withCert.stderr).toBe('');
    expect(withCert.code).toBe(0);
  });

  it('bad TLS settings are usage errors naming the setting', async () => {
    const plain = await cxr(['status', 'run-x'], {
      REDIS_URL: `redis://cxr:${PASS}@127.0.0.1:${tls.port}`,
      CXR_REDIS_TLS_CA: pki.ca,
    });
    expect(plain.code).toBe(2);
    expect(plain.stderr.trimEnd()).toMatch(
      /^cxr: invalid configuration: CXR_REDIS_TLS_CA=".*": is for TLS: REDIS_URL must start with rediss:\/\/$/,
    );
    const missing = await cxr(['status', 'run-x'], {
      REDIS_URL: url(tls),
      CXR_REDIS_TLS_CA: path.join(dir, 'no-such.pem'),
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr.trimEnd()).toMatch(/^cxr: CXR_REDIS_TLS_CA=.*no-such\.pem: cannot read the file \(ENOENT\)$/);
    const halfPair = await cxr(['status', 'run-x'], {
      REDIS_URL: url(tls),
      CXR_REDIS_TLS_CA: pki.ca,
      CXR_REDIS_TLS_CERT: pki.clientCert,
    });
    expect(halfPair.code).toBe(2);
    expect(halfPair.stderr).toMatch(/CXR_REDIS_TLS_KEY="": must be set with CXR_REDIS_TLS_CERT/);
    for (const r of [plain, missing, halfPair]) expect(r.stderr).not.toContain(PASS);
  });
});
