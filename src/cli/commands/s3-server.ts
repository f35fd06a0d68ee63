import path from 'node:path';
import type { Command } from 'commander';
import { repoRoot } from '../../shared/paths.js';
import { ensureBucket } from '../../shared/s3/bucket.js';
import { createS3Client } from '../../shared/s3/client.js';
import { LOCAL_S3_CREDENTIALS, startS3Server } from '../../shared/services/s3-server.js';
import { positiveInt } from '../parse.js';

interface S3ServerFlags {
  port: number;
  dir: string;
  bucket: string[];
}

/** `cxr s3-server`: the bundled S3-compatible server (s3rver) on loopback until Ctrl-C, e.g. to try `score` on it. */
export function registerS3Server(program: Command): void {
  program
    .command('s3-server')
    .description(
      'run the bundled S3-compatible server (s3rver) on 127.0.0.1 until stopped; prints the settings that point the CLI at it',
    )
    .option('--port <n>', 'port', positiveInt('--port'), 4568)
    .option(
      '--dir <dir>',
      'where it keeps its objects (its own format; read them through S3)',
      path.join(repoRoot(), '.cxr', 's3'),
    )
    .option(
      '--bucket <name>',
      'create this bucket at start (repeatable)',
      (name: string, all: string[]) => [...all, name],
      [] as string[],
    )
    .action(async (flags: S3ServerFlags) => {
      const server = await startS3Server(path.resolve(flags.dir), flags.port);
      const s3 = createS3Client(
        { endpoint: server.url, region: 'us-east-1', forcePathStyle: true },
        LOCAL_S3_CREDENTIALS,
      );
      try {
        for (const bucket of flags.bucket) await ensureBucket(s3, bucket);
      } catch (err) {
        await server.stop();
        throw err;
      } finally {
        s3.destroy();
      }
      const { accessKeyId, secretAccessKey } = LOCAL_S3_CREDENTIALS;
      process.stdout.write(
        `S3 server at ${server.url}, objects in ${path.resolve(flags.dir)}${flags.bucket.length ? `, buckets ${flags.bucket.join(' ')}` : ''}; Ctrl-C stops it\n` +
          `export S3_ENDPOINT=${server.url} AWS_ACCESS_KEY_ID=${accessKeyId} AWS_SECRET_ACCESS_KEY=${secretAccessKey}\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await server.stop();
    });
}
