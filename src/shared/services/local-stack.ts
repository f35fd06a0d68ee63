import type { LocalService } from './child-service.js';
import { startRedisServer } from './redis-server.js';
import { startS3Server, useLocalS3Credentials } from './s3-server.js';

export interface LocalStack {
  redisUrl: string;
  s3Endpoint: string;
  /** Which services this stack started itself (the others came from the environment). */
  started: string[];
  stop(): Promise<void>;
}

/** Uses REDIS_URL / S3_ENDPOINT when set; otherwise starts a private redis-server and S3 server on loopback. */
export async function ensureLocalStack(env: NodeJS.ProcessEnv, s3DataDir: string): Promise<LocalStack> {
  const services: LocalService[] = [];
  const started: string[] = [];
  try {
    let redisUrl = env.REDIS_URL;
    if (!redisUrl) {
      const redis = await startRedisServer();
      services.push(redis);
      started.push(`redis-server ${redis.url}`);
      redisUrl = redis.url;
    }
    let s3Endpoint = env.S3_ENDPOINT;
    if (!s3Endpoint) {
      const s3 = await startS3Server(s3DataDir);
      services.push(s3);
      started.push(`s3rver ${s3.url} (data in ${s3DataDir})`);
      s3Endpoint = s3.url;
      useLocalS3Credentials(env);
    }
    return { redisUrl, s3Endpoint, started, stop: () => stopAll(services) };
  } catch (err) {
    await stopAll(services);
    throw err;
  }
}

async function stopAll(services: LocalService[]): Promise<void> {
  await Promise.all(services.map((s) => s.stop()));
}
