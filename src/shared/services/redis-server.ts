import { startChildService, type LocalService } from './child-service.js';
import { freeLoopbackPort } from './free-port.js';

/**
 * A private redis-server on a free loopback port: without persistence, or with an append-only file in
 * `aofDir` (fsync on every write) so that a restart keeps its data.
 */
export async function startRedisServer(port?: number, opts: { aofDir?: string } = {}): Promise<LocalService> {
  const p = port ?? (await freeLoopbackPort());
  const persistence = opts.aofDir
    ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', opts.aofDir]
    : ['--appendonly', 'no'];
  const args = ['--port', String(p), '--bind', '127.0.0.1', '--save', '', ...persistence, '--daemonize', 'no'];
  try {
    return await startChildService(
      'redis-server',
      process.env.REDIS_SERVER_BIN ?? 'redis-server',
      args,
      p,
      `redis://127.0.0.1:${p}`,
    );
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\n(install redis-server, e.g. apt-get install redis-server, or set REDIS_URL)`,
      { cause: err },
    );
  }
}
