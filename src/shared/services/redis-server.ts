import { startChildService, type LocalService } from './child-service.js';
import { freeLoopbackPort } from './free-port.js';

/** A private, non-persistent redis-server on a free loopback port. */
export async function startRedisServer(port?: number): Promise<LocalService> {
  const p = port ?? (await freeLoopbackPort());
  const args = ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  try {
    return await startChildService('redis-server', process.env.REDIS_SERVER_BIN ?? 'redis-server', args, p, `redis://127.0.0.1:${p}`);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n(install redis-server, e.g. apt-get install redis-server, or set REDIS_URL)`);
  }
}
