import net from 'node:net';

export interface LatencyProxy {
  url: string;
  close(): Promise<void>;
}

/**
 * A TCP proxy on loopback that holds every byte a client sends for `delayMs` before passing it on to
 * `target` (host:port), in order: each request reaches the server `delayMs` late, however many chunks it
 * spans, and the reply comes straight back. A round trip so costs `delayMs` more, as on a network; the
 * bandwidth, the connection handshakes and the server's own cost are not changed.
 */
export async function startLatencyProxy(
  target: { host: string; port: number },
  delayMs: number,
): Promise<LatencyProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (client.destroy(), upstream.destroy()));
    }
    // Timers of one duration fire in the order they were set, so the chunks keep their order.
    client.on('data', (chunk) => setTimeout(() => upstream.writable && upstream.write(chunk), delayMs));
    client.on('end', () => setTimeout(() => upstream.end(), delayMs));
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
