import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startChildService, type LocalService } from './child-service.js';
import { freeLoopbackPort } from './free-port.js';

/** s3rver's built-in credentials; clients of the local server must sign with these. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * An S3-protocol server (s3rver) on a free loopback port, storing objects under dataDir.
 * OpenSSL 3 (Node 24: 3.5) needs the legacy provider for s3rver's paginated listings (DES continuation tokens).
 */
export async function startS3Server(dataDir: string, port?: number): Promise<LocalService> {
  const p = port ?? (await freeLoopbackPort());
  mkdirSync(dataDir, { recursive: true });
  const bin = path.join(
    path.dirname(createRequire(import.meta.url).resolve('s3rver/package.json')),
    'bin',
    's3rver.js',
  );
  const args = [
    '--openssl-legacy-provider',
    bin,
    '-d',
    dataDir,
    '-a',
    '127.0.0.1',
    '-p',
    String(p),
    '--silent',
    '--no-vhost-buckets',
  ];
  return startChildService('s3rver', process.execPath, args, p, `http://127.0.0.1:${p}`);
}

/** Points the AWS SDK's default credential chain at the local server, unless credentials are set. */
export function useLocalS3Credentials(env: NodeJS.ProcessEnv = process.env): void {
  env.AWS_ACCESS_KEY_ID ??= LOCAL_S3_CREDENTIALS.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY ??= LOCAL_S3_CREDENTIALS.secretAccessKey;
}
