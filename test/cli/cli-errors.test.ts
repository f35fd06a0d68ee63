import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS } from '../../src/shared/services/s3-server.js';
import { freeLoopbackPort } from '../../src/shared/services/free-port.js';
import { startChildService, type LocalService } from '../../src/shared/services/child-service.js';
import { createS3Client } from '../../src/shared/s3/client.js';
import { putObject } from '../../src/shared/s3/objects.js';
import { CLI, execCli, stopProcess } from '../helpers/cli.js';
import { childEnv, freshBucket, testConfig, testS3 } from '../helpers/services.js';

/**
 * The errors a new user meets, through the real `cxr` binary against the test's Redis and S3 server:
 * one line on stderr naming the flag or resource, exit 2 for usage and 1 for failures, under 10 s each.
 */
describe('cxr errors a person can act on', () => {
  let s3: S3Client;
  let env: NodeJS.ProcessEnv;
  let bucket: string;
  let home: string;
  /** A port nothing listens on; a redis-server that wants a password; an HTTP server that is not S3. */
  let closedPort: number;
  let passworded: LocalService;
  let notS3: Server;
  let notS3Port: number;
  beforeAll(async () => {
    closedPort = await freeLoopbackPort();
    const redisPort = await freeLoopbackPort();
    passworded = await startChildService(
      'redis-server',
      process.env.REDIS_SERVER_BIN ?? 'redis-server',
      [
        '--port',
        String(redisPort),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--requirepass',
        'cli-errors-pass-9c41',
      ],
      redisPort,
      `redis://127.0.0.1:${redisPort}`,
    );
    notS3 = createServer((_req, res) => res.writeHead(500, { 'content-type': 'text/html' }).end('<html>not S3</html>'));
    notS3Port = await freeLoopbackPort();
    await new Promise<void>((resolve) => notS3.listen(notS3Port, '127.0.0.1', resolve));
    const config = testConfig();
    s3 = testS3(config);
    // The default log level, as a user has it.
    env = { ...childEnv(config), LOG_LEVEL: undefined };
    bucket = await freshBucket(s3);
    await putObject(s3, bucket, 'docs/readme.txt', 'not an image', 'text/plain');
    await putObject(s3, bucket, 'docs/NORMAL/labels.csv', 'key,label\n', 'text/csv');
    await putObject(s3, bucket, 'lists/bad.jsonl', '{"key":"NORMAL/1.png"}\n{"key":\n', 'application/x-ndjson');
    home = await mkdtemp(join(tmpdir(), 'cxr-home-'));
  });
  afterAll(async () => {
    s3?.destroy();
    await passworded?.stop();
    notS3?.close();
    await rm(home, { recursive: true, force: true });
  });

  const cases: {
    name: string;
    args: () => string[];
    env?: () => NodeJS.ProcessEnv;
    exit: number;
    line: () => RegExp;
  }[] = [
    {
      name: 'a source bucket that does not exist',
      args: () => ['score', 's3://no-such-source/in/', '--out', `s3://${bucket}/out`],
      exit: 1,
      line: () => /^cxr: source s3:\/\/no-such-source\/in\/: bucket "no-such-source" does not exist$/,
    },
    {
      name: 'an --out bucket that does not exist',
      args: () => ['score', `s3://${bucket}/in/`, '--out', 's3://no-such-out/results'],
      exit: 1,
      line: () => /^cxr: --out s3:\/\/no-such-out\/results: bucket "no-such-out" does not exist$/,
    },
    {
      name: '--cron "not a cron pattern"',
      args: () => [
        'schedule',
        'eval',
        '--data',
        `s3://${bucket}/l/`,
        '--out',
        `s3://${bucket}/e`,
        '--cron',
        'x y not a cron',
      ],
      exit: 2,
      line: () =>
        /^cxr: option '--cron <pattern>' argument 'x y not a cron' is invalid\. not a cron pattern \(.+\); e\.g\. "0 2 \* \* \*"/,
    },
    {
      // cron-parser would fill in the two missing fields: a "nightly" job firing every minute.
      name: '--cron "* * *" (3 fields)',
      args: () => ['schedule', 'eval', '--data', `s3://${bucket}/l/`, '--out', `s3://${bucket}/e`, '--cron', '* * *'],
      exit: 2,
      line: () =>
        /^cxr: option '--cron <pattern>' argument '\* \* \*' is invalid\. a cron pattern has 5 fields \(minute hour day-of-month month day-of-week\), or 6 with seconds first; got 3; e\.g\. "0 2 \* \* \*"/,
    },
    {
      name: '--tz Mars/Olympus',
      args: () => [
        'schedule',
        'eval',
        '--data',
        `s3://${bucket}/l/`,
        '--out',
        `s3://${bucket}/e`,
        '--cron',
        '0 2 * * *',
        '--tz',
        'Mars/Olympus',
      ],
      exit: 2,
      line: () => /^cxr: option '--tz <zone>' argument 'Mars\/Olympus' is invalid\. unknown time zone/,
    },
    {
      name: '--out /tmp/x',
      args: () => ['score', `s3://${bucket}/in/`, '--out', '/tmp/x'],
      exit: 2,
      // The S3 URI parser's own reason (src/shared/s3/uri.ts), not a generic one.
      line: () =>
        /^cxr: option '--out <uri>' argument '\/tmp\/x' is invalid\. \/tmp\/x is not an S3 URI: expected s3:\/\/bucket\/prefix$/,
    },
    {
      name: 'no credentials',
      args: () => ['score', `s3://${bucket}/in/`, '--out', `s3://${bucket}/out`],
      // No keys, no profile files; the instance-metadata lookup is switched off so nothing leaves loopback.
      env: () => ({
        ...env,
        AWS_ACCESS_KEY_ID: undefined,
        AWS_SECRET_ACCESS_KEY: undefined,
        AWS_SESSION_TOKEN: undefined,
        AWS_PROFILE: undefined,
        HOME: home,
        AWS_CONFIG_FILE: join(home, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
        AWS_EC2_METADATA_DISABLED: 'true',
      }),
      exit: 1,
      line: () => /^cxr: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    },
    {
      name: 'a prefix with objects but no images',
      args: () => ['score', `s3://${bucket}/docs/`, '--out', `s3://${bucket}/out`],
      exit: 1,
      line: () =>
        new RegExp(
          `^cxr: no images under s3://${bucket}/docs/: 2 objects seen, none with a supported extension \\(\\.jpg .*\\)$`,
        ),
    },
    {
      name: 'an input manifest that does not exist',
      args: () => ['score', '--manifest', `s3://${bucket}/lists/none.jsonl`, '--out', `s3://${bucket}/out`],
      exit: 1,
      line: () => new RegExp(`^cxr: --manifest s3://${bucket}/lists/none.jsonl: no such object$`),
    },
    {
      name: 'an input manifest with a line that is not JSON',
      args: () => ['score', '--manifest', `s3://${bucket}/lists/bad.jsonl`, '--out', `s3://${bucket}/out`],
      exit: 1,
      line: () => new RegExp(`^cxr: --manifest s3://${bucket}/lists/bad.jsonl line 2: not JSON$`),
    },
    {
      name: '--manifest with --list-depth',
      args: () => [
        'score',
        '--manifest',
        `s3://${bucket}/lists/bad.jsonl`,
        '--out',
        `s3://${bucket}/out`,
        '--list-depth',
        '2',
      ],
      exit: 2,
      line: () => /^cxr: score: --shard-prefixes and --list-depth split a listing; --manifest lists nothing$/,
    },
  ];

  /** The bad-input table of a newcomer: each names the setting to change, and none waits out a retry. */
  const settingCases: typeof cases = [
    {
      name: 'S3_ENDPOINT at a closed port',
      args: () => ['score', `s3://${bucket}/in/`, '--out', `s3://${bucket}/out`],
      env: () => ({ ...env, S3_ENDPOINT: `http://127.0.0.1:${closedPort}` }),
      exit: 1,
      line: () =>
        new RegExp(
          `^cxr: cannot reach S3 at http://127\\.0\\.0\\.1:${closedPort} \\(connection refused\\): check S3_ENDPOINT$`,
        ),
    },
    {
      name: 'S3_ENDPOINT at a host that does not exist',
      args: () => ['score', `s3://${bucket}/in/`, '--out', `s3://${bucket}/out`],
      env: () => ({ ...env, S3_ENDPOINT: 'http://no-such-host.invalid:9000' }),
      exit: 1,
      line: () => /^cxr: cannot reach S3 at http:\/\/no-such-host\.invalid:9000 \(host not found\): check S3_ENDPOINT$/,
    },
    {
      name: "S3_ENDPOINT at a server that is not S3 (the SDK's UnknownError)",
      args: () => ['score', `s3://${bucket}/in/`, '--out', `s3://${bucket}/out`],
      env: () => ({ ...env, S3_ENDPOINT: `http://127.0.0.1:${notS3Port}` }),
      exit: 1,
      line: () =>
        new RegExp(
          `^cxr: S3 at http://127\\.0\\.0\\.1:${notS3Port} answered HTTP 500 without an S3 error \\(UnknownError\\): check S3_ENDPOINT`,
        ),
    },
    {
      name: 'REDIS_URL at a closed port (refused: not retried)',
      args: () => ['status', 'run-x'],
      env: () => ({ ...env, REDIS_URL: `redis://127.0.0.1:${closedPort}`, CXR_REDIS_CONNECT_TIMEOUT_MS: '30000' }),
      exit: 1,
      line: () =>
        new RegExp(
          `^cxr: cannot reach Redis at redis://127\\.0\\.0\\.1:${closedPort} \\(connection refused\\): check REDIS_URL$`,
        ),
    },
    {
      name: 'REDIS_URL without the password the server wants (the hint is not scrubbed)',
      args: () => ['status', 'run-x'],
      env: () => ({ ...env, REDIS_URL: passworded.url }),
      exit: 1,
      line: () =>
        new RegExp(
          `^cxr: Redis at 127\\.0\\.0\\.1:${passworded.port} requires a password: give it in REDIS_URL as redis://USER:PASSWORD@127\\.0\\.0\\.1:${passworded.port}$`,
        ),
    },
  ];

  it.each(settingCases)('$name: one line naming the setting, exit $exit, before any connect timeout', async (c) => {
    const r = await execCli(c.args(), c.env!());
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(c.line());
    expect(r.code).toBe(c.exit);
    expect(r.stdout).toBe('');
    // The Redis cases run with a 30 s connect timeout: a line within 10 s was not waiting it out.
    expect(r.ms).toBeLessThan(10_000);
  });

  it.each(cases)('$name: one line naming it, exit $exit', async (c) => {
    const r = await execCli(c.args(), c.env?.() ?? env);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(c.line());
    expect(r.code).toBe(c.exit);
    expect(r.stdout).toBe('');
    expect(r.ms).toBeLessThan(10_000);
  });

  it('a worker whose model does not exist (an S3 prefix, a folder) exits 1 with a line naming the URI and "not found"', async () => {
    const missing: [string, RegExp][] = [
      [
        `s3://${bucket}/no-model/`,
        new RegExp(
          `^cxr: cannot load the model s3://${bucket}/no-model/ \\(engine auto\\): model s3://${bucket}/no-model/ not found: no s3://${bucket}/no-model/model\\.json$`,
        ),
      ],
      [
        '/no/such/model',
        /^cxr: cannot load the model \/no\/such\/model \(engine auto\): model \/no\/such\/model not found: no folder \/no\/such\/model \(a model is a folder, a shipped model's id or name@version, or s3:\/\/bucket\/prefix\/\)$/,
      ],
    ];
    for (const [model, line] of missing) {
      const r = await execCli(['worker', '--model', model], env);
      // The worker's info log (the engine it chose) may come first; the reason is the last line.
      expect(
        r.stderr
          .trimEnd()
          .split('\n')
          .filter((l) => l.startsWith('cxr: ')),
        r.stderr,
      ).toEqual([expect.stringMatching(line)]);
      expect(r.code).toBe(1);
    }
  });

  it('LOG_LEVEL=debug adds the stack after the line', async () => {
    const r = await execCli(['score', 's3://no-such-source/in/', '--out', `s3://${bucket}/out`], {
      ...env,
      LOG_LEVEL: 'debug',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^cxr: source s3:\/\/no-such-source\/in\/: bucket "no-such-source" does not exist\nError: .*\n\s+at /,
    );
  });

  it('s3-server runs the bundled S3 server with the buckets asked for, prints how to point the CLI at it, and stops on SIGTERM', async () => {
    const port = await freeLoopbackPort();
    const dir = join(home, 's3');
    const child = spawn(
      process.execPath,
      [CLI, 's3-server', '--port', String(port), '--dir', dir, '--bucket', 'xrays', '--bucket', 'xrays-results'],
      {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const lines = createInterface({ input: child.stdout! });
      const printed: string[] = [];
      for await (const line of lines) if (printed.push(line) === 2) break;
      expect(printed[0]).toBe(
        `S3 server at http://127.0.0.1:${port}, objects in ${dir}, buckets xrays xrays-results; Ctrl-C stops it`,
      );
      expect(printed[1]).toBe(
        `export S3_ENDPOINT=http://127.0.0.1:${port} AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER`,
      );
      const client = createS3Client(
        { endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true },
        LOCAL_S3_CREDENTIALS,
      );
      try {
        for (const b of ['xrays', 'xrays-results'])
          expect((await client.send(new HeadBucketCommand({ Bucket: b }))).$metadata.httpStatusCode).toBe(200);
      } finally {
        client.destroy();
      }
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      await stopProcess(child);
    }
  });
});
