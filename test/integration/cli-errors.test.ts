import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS } from '../../src/shared/services/s3-server.js';
import { freeLoopbackPort } from '../../src/shared/services/free-port.js';
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
  beforeAll(async () => {
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
    await rm(home, { recursive: true, force: true });
  });

  const cases: { name: string; args: () => string[]; env?: () => NodeJS.ProcessEnv; exit: number; line: () => RegExp }[] = [
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
      name: '--cron "not a cron"',
      args: () => ['schedule', 'eval', '--data', `s3://${bucket}/l/`, '--out', `s3://${bucket}/e`, '--cron', 'not a cron'],
      exit: 2,
      line: () => /^cxr: option '--cron <pattern>' argument 'not a cron' is invalid\. not a cron pattern \(.+\); e\.g\. "0 2 \* \* \*"/,
    },
    {
      name: '--tz Mars/Olympus',
      args: () => ['schedule', 'eval', '--data', `s3://${bucket}/l/`, '--out', `s3://${bucket}/e`, '--cron', '0 2 * * *', '--tz', 'Mars/Olympus'],
      exit: 2,
      line: () => /^cxr: option '--tz <zone>' argument 'Mars\/Olympus' is invalid\. unknown time zone/,
    },
    {
      name: '--out /tmp/x',
      args: () => ['score', `s3://${bucket}/in/`, '--out', '/tmp/x'],
      exit: 2,
      line: () => /^cxr: option '--out <uri>' argument '\/tmp\/x' is invalid\. expected s3:\/\/BUCKET\/PREFIX$/,
    },
    {
      name: 'no credentials',
      args: () => ['score', `s3://${bucket}/in/`, '--out', `s3://${bucket}/out`],
      // No keys, no profile files; the instance-metadata lookup is switched off so nothing leaves loopback.
      env: () => ({
        ...env, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined,
        HOME: home, AWS_CONFIG_FILE: join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'), AWS_EC2_METADATA_DISABLED: 'true',
      }),
      exit: 1,
      line: () => /^cxr: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    },
    {
      name: 'a prefix with objects but no images',
      args: () => ['score', `s3://${bucket}/docs/`, '--out', `s3://${bucket}/out`],
      exit: 1,
      line: () => new RegExp(`^cxr: no images under s3://${bucket}/docs/: 2 objects seen, none with a supported extension \\(\\.jpg .*\\)$`),
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
      args: () => ['score', '--manifest', `s3://${bucket}/lists/bad.jsonl`, '--out', `s3://${bucket}/out`, '--list-depth', '2'],
      exit: 2,
      line: () => /^cxr: score: --shard-prefixes and --list-depth split a listing; --manifest lists nothing$/,
    },
  ];

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
      [`s3://${bucket}/no-model/`, new RegExp(`^cxr: cannot load the model s3://${bucket}/no-model/ \\(engine auto\\): model s3://${bucket}/no-model/ not found: no s3://${bucket}/no-model/model\\.json$`)],
      ['/no/such/model', /^cxr: cannot load the model \/no\/such\/model \(engine auto\): model \/no\/such\/model not found: no folder \/no\/such\/model \(a model is a folder, a shipped model's id or name@version, or s3:\/\/bucket\/prefix\/\)$/],
    ];
    for (const [model, line] of missing) {
      const r = await execCli(['worker', '--model', model], env);
      // The worker's info log (the engine it chose) may come first; the reason is the last line.
      expect(r.stderr.trimEnd().split('\n').filter((l) => l.startsWith('cxr: ')), r.stderr).toEqual([expect.stringMatching(line)]);
      expect(r.code).toBe(1);
    }
  });

  it('LOG_LEVEL=debug adds the stack after the line', async () => {
    const r = await execCli(['score', 's3://no-such-source/in/', '--out', `s3://${bucket}/out`], { ...env, LOG_LEVEL: 'debug' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cxr: source s3:\/\/no-such-source\/in\/: bucket "no-such-source" does not exist\nError: .*\n\s+at /);
  });

  it('s3-server runs the bundled S3 server with the buckets asked for, prints how to point the CLI at it, and stops on SIGTERM', async () => {
    const port = await freeLoopbackPort();
    const dir = join(home, 's3');
    const child = spawn(process.execPath, [CLI, 's3-server', '--port', String(port), '--dir', dir, '--bucket', 'xrays', '--bucket', 'xrays-results'], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: child.stdout! });
      const printed: string[] = [];
      for await (const line of lines) if (printed.push(line) === 2) break;
      expect(printed[0]).toBe(`S3 server at http://127.0.0.1:${port}, objects in ${dir}, buckets xrays xrays-results; Ctrl-C stops it`);
      expect(printed[1]).toBe(`export S3_ENDPOINT=http://127.0.0.1:${port} AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER`);
      const client = createS3Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true }, LOCAL_S3_CREDENTIALS);
      try {
        for (const b of ['xrays', 'xrays-results']) expect((await client.send(new HeadBucketCommand({ Bucket: b }))).$metadata.httpStatusCode).toBe(200);
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
