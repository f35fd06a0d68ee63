import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serve } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import { UserError } from '../shared/errors.js';

export interface DashboardOptions {
  queues: readonly Queue[];
  port: number;
  host: string;
  /** Basic auth on every page and API route; required off loopback (see checkExposure). */
  auth?: { username: string; password: string };
  readOnly?: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Binding off loopback needs credentials: bull-board can retry, promote and delete jobs. Returns the auth
 * to use (from CXR_DASHBOARD_USER / CXR_DASHBOARD_PASSWORD), or throws a message naming --host.
 */
export function dashboardAuth(host: string, env: NodeJS.ProcessEnv): DashboardOptions['auth'] {
  const username = env.CXR_DASHBOARD_USER ?? '';
  const password = env.CXR_DASHBOARD_PASSWORD ?? '';
  if (username && password) return { username, password };
  if (username || password) throw new Error('set both CXR_DASHBOARD_USER and CXR_DASHBOARD_PASSWORD, or neither');
  if (!LOOPBACK.has(host))
    throw new Error(
      `--host ${host} is not loopback: set CXR_DASHBOARD_USER and CXR_DASHBOARD_PASSWORD (basic auth) to serve the dashboard there`,
    );
  return undefined;
}

/**
 * bull-board's page asks the browser for its fonts (IBM Plex Sans and Mono) from fonts.googleapis.com: a
 * clinical dashboard must not call out to a third party, and offline the request only fails. The same fonts
 * come from the @fontsource packages, served by the dashboard under fonts/, and the page's link is rewritten
 * to them. The Chromium test checks that the page requests nothing off its own origin.
 */
const FONT_PACKAGES = { 'ibm-plex-sans': ['400', '500', '600'], 'ibm-plex-mono': ['400', '500'] } as const;
const GOOGLE_FONTS_LINK = /<link[^>]+href="https:\/\/fonts\.googleapis\.com\/[^"]*"[^>]*>/g;

/** The page's HTML with the Google Fonts link replaced by the locally served stylesheets. Pure. */
export function localFontLinks(html: string): string {
  const links = Object.entries(FONT_PACKAGES)
    .flatMap(([pkg, weights]) => weights.map((w) => `<link href="fonts/${pkg}/${w}.css" rel="stylesheet">`))
    .join('');
  return html.replace(GOOGLE_FONTS_LINK, links);
}

function fontRoutes(app: Hono): void {
  const require = createRequire(import.meta.url);
  for (const pkg of Object.keys(FONT_PACKAGES)) {
    const root = path.dirname(require.resolve(`@fontsource/${pkg}`));
    const prefix = `/fonts/${pkg}`;
    app.use(`${prefix}/*`, serveStatic({ root, rewriteRequestPath: (p) => p.slice(prefix.length) }));
  }
}

/** bull-board over the given queues, served by Hono on node:http. */
export async function startDashboard(opts: DashboardOptions): Promise<Server> {
  const board = new HonoAdapter(serveStatic).setBasePath('/');
  createBullBoard({
    queues: opts.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: opts.readOnly ?? false })),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'cxr queues' } },
  });
  const app = new Hono();
  if (opts.auth) app.use('*', basicAuth({ ...opts.auth, realm: 'cxr dashboard' }));
  fontRoutes(app);
  app.use('*', async (c, next) => {
    await next();
    if (!c.res.headers.get('content-type')?.includes('text/html')) return;
    const headers = new Headers(c.res.headers);
    headers.delete('content-length');
    c.res = new Response(localFontLinks(await c.res.text()), { status: c.res.status, headers });
  });
  app.route('/', board.registerPlugin());
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host }, () =>
      resolve(server as Server),
    ) as Server;
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new UserError(
          `cannot serve --port ${opts.port} on ${opts.host}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`,
        ),
      ),
    );
  });
}
