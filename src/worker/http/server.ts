import { createServer, type Server } from 'node:http';
import { UserError } from '../../shared/errors.js';
import type { Readiness } from './readiness.js';

export interface HttpDeps {
  readiness: Readiness;
  /** The Prometheus text exposition and its content type. */
  metrics(): Promise<{ text: string; contentType: string }>;
}

/**
 * GET /healthz (the event loop answers), /readyz (200 or 503 with the reasons as JSON) and /metrics.
 * Resolves once listening; a port in use is one line naming the flag.
 */
export async function startHttpServer(deps: HttpDeps, port: number, host = '0.0.0.0'): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const route = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, JSON.stringify({ error: 'GET only' }));
    if (route === '/healthz') return send(200, JSON.stringify({ status: 'ok', uptimeS: Math.round(process.uptime()) }));
    if (route === '/readyz') {
      void deps.readiness.check().then((r) => send(r.ready ? 200 : 503, JSON.stringify(r)));
      return;
    }
    if (route === '/metrics') {
      deps.metrics().then(
        (m) => send(200, m.text, m.contentType),
        (err: Error) => send(500, `# metrics failed: ${err.message}\n`, 'text/plain'),
      );
      return;
    }
    send(404, JSON.stringify({ error: 'not found', routes: ['/healthz', '/readyz', '/metrics'] }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new UserError(
          `cannot serve --http-port ${port} on ${host}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`,
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}

export function closeHttpServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
