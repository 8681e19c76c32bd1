import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OpsServerOptions {
  port: number;
  /** @defaultValue '0.0.0.0' */
  host?: string;
  /** Resolves true when the process can do its work (e.g. Redis answers). */
  ready: () => Promise<boolean>;
  /** Prometheus exposition, when metrics are enabled. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * The worker's small HTTP listener for `GET /healthz`, `GET /readyz` and `GET /metrics`. Plain
 * node:http because it serves three fixed routes and must stay up while the worker is busy.
 */
export async function startOpsServer({
  port,
  host = '0.0.0.0',
  ready,
  metrics,
}: OpsServerOptions): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return send(405, JSON.stringify({ error: 'method_not_allowed' }));
    if (path === '/healthz') return send(200, JSON.stringify({ status: 'ok' }));
    if (path === '/readyz') {
      ready().then(
        (ok) => send(ok ? 200 : 503, JSON.stringify({ status: ok ? 'ready' : 'unavailable' })),
        () => send(503, JSON.stringify({ status: 'unavailable' })),
      );
      return;
    }
    if (path === '/metrics' && metrics) {
      metrics().then(
        ({ contentType, body }) => send(200, body, contentType),
        () => send(500, JSON.stringify({ error: 'metrics_unavailable' })),
      );
      return;
    }
    send(404, JSON.stringify({ error: 'not_found' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
