import type { StartedTestContainer } from 'testcontainers';

export interface ContainerServices {
  /** REDIS_URL / S3_ENDPOINT (and MinIO's credentials) of the services started in containers. */
  env: Record<string, string>;
  /** What was started, and why a service was not (for the test log). */
  lines: string[];
  stop(): Promise<void>;
}

const REDIS_IMAGE = process.env.CXR_TEST_REDIS_IMAGE ?? 'redis:7-alpine';
const MINIO_IMAGE = process.env.CXR_TEST_MINIO_IMAGE ?? 'minio/minio:latest';
const MINIO_USER = 'cxrtest';
const MINIO_PASSWORD = 'cxrtest-secret';

/**
 * Redis and MinIO from testcontainers where a Docker engine answers and already has the image (nothing
 * is pulled: CI reaches no registry); each service without one is left to the embedded servers.
 * CXR_TEST_CONTAINERS=off skips this. Ryuk (the reaper) is off unless set: its image is pulled too, and
 * the global teardown stops the containers itself.
 */
export async function containerServices(env: NodeJS.ProcessEnv): Promise<ContainerServices> {
  const started: StartedTestContainer[] = [];
  const result: ContainerServices = {
    env: {},
    lines: [],
    stop: () => Promise.all(started.map((c) => c.stop())).then(() => undefined),
  };
  if (env.CXR_TEST_CONTAINERS === 'off') return (result.lines.push('containers off (CXR_TEST_CONTAINERS=off)'), result);
  env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  const tc = await import('testcontainers');
  let client: Awaited<ReturnType<typeof tc.getContainerRuntimeClient>>;
  try {
    client = await tc.getContainerRuntimeClient();
  } catch (err) {
    result.lines.push(`no container engine answers (${(err as Error).message.split('\n')[0]})`);
    return result;
  }
  const available = async (image: string) => {
    const ok = await client.image.exists(tc.ImageName.fromString(image));
    if (!ok) result.lines.push(`image ${image} is not on the Docker engine (nothing is pulled)`);
    return ok;
  };
  if (!env.REDIS_URL && (await available(REDIS_IMAGE))) {
    const c = await new tc.GenericContainer(REDIS_IMAGE)
      .withExposedPorts(6379)
      .withWaitStrategy(tc.Wait.forLogMessage(/Ready to accept connections/))
      .start();
    started.push(c);
    result.env.REDIS_URL = `redis://${c.getHost()}:${c.getMappedPort(6379)}`;
    result.lines.push(`redis container ${REDIS_IMAGE} at ${result.env.REDIS_URL}`);
  }
  if (!env.S3_ENDPOINT && (await available(MINIO_IMAGE))) {
    const c = await new tc.GenericContainer(MINIO_IMAGE)
      .withCommand(['server', '/data'])
      .withEnvironment({ MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD: MINIO_PASSWORD })
      .withExposedPorts(9000)
      .withWaitStrategy(tc.Wait.forHttp('/minio/health/live', 9000))
      .start();
    started.push(c);
    Object.assign(result.env, {
      S3_ENDPOINT: `http://${c.getHost()}:${c.getMappedPort(9000)}`,
      AWS_ACCESS_KEY_ID: MINIO_USER,
      AWS_SECRET_ACCESS_KEY: MINIO_PASSWORD,
    });
    result.lines.push(`minio container ${MINIO_IMAGE} at ${result.env.S3_ENDPOINT}`);
  }
  return result;
}
