import getPort from 'get-port';

export function freeLoopbackPort(): Promise<number> {
  return getPort({ host: '127.0.0.1' });
}
