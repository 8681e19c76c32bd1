import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Webhook } from 'standardwebhooks';
import {
  buildSandboxApp,
  createFaults,
  type Failure,
  type Faults,
  httpError,
  listen,
  parseJson,
  registerControls,
} from './faults.ts';

/** One HTTP request the sandbox received (control requests under `/_sandbox/` are not recorded). */
export interface DmsDelivery {
  webhookId: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  contentType: string | undefined;
  rawBody: string;
  /** `rawBody` parsed as JSON, `undefined` when it is not JSON. */
  body: unknown;
  /** The Standard Webhooks signature and timestamp checked out (with the library's 5-minute tolerance). */
  verified: boolean;
  /** Status the sandbox answered with; `0` while it is still delaying or hanging the request. */
  status: number;
  receivedAt: number;
  path: string;
}

/** Answer the next requests with this instead of the normal outcome. */
export type DmsFailure = Failure;

/** Standing faults; each field applies to every webhook request until changed or cleared. */
export type DmsFaults = Faults;

export interface DmsSandbox {
  /** Full POST target, e.g. `http://127.0.0.1:<port>/webhooks/contact-linker`. */
  url: string;
  /** `http://host:port`, without a path. */
  baseUrl: string;
  /** Every request received, in order; entries are updated in place when they are answered. */
  deliveries: DmsDelivery[];
  /** Deliveries that were verified AND answered 2xx. */
  accepted(): DmsDelivery[];
  /** Answers the next `count` webhook requests with `f`. Queued failures run before standing faults. */
  failNext(count: number, f: DmsFailure): void;
  /** Never answers the next `count` webhook requests (until `close()`). */
  hangNext(count: number): void;
  /** Replaces the standing faults; `setFaults({})` removes them. */
  setFaults(f: DmsFaults): void;
  /** Forgets deliveries, queued failures and standing faults. */
  clear(): void;
  /** Stops listening and destroys open sockets, hanging ones included. */
  close(): Promise<void>;
}

export interface DmsSandboxOptions {
  /** Standard Webhooks secret (`whsec_` + base64) the deliveries must be signed with. */
  secret: string;
  /** @defaultValue 0 (a free port) */
  port?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** Path the DMS receives notifications on. @defaultValue '/webhooks/contact-linker' */
  path?: string;
}

/** A random Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function makeWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The DMS's error codes, by status. */
const ERROR_CODES: Record<number, string> = {
  400: 'invalid_body',
  401: 'invalid_signature',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
};

/**
 * Starts a stand-in for the dealer's DMS webhook receiver: a real HTTP server that verifies each POST on
 * `path` with the `standardwebhooks` library (401 when it fails), records it, and can be told to fail,
 * redirect or hang. Other processes reach the same controls over HTTP:
 * - `GET /_sandbox/deliveries` → the deliveries as JSON;
 * - `POST /_sandbox/faults` with a JSON `DmsFaults` body (without `random`), plus optional
 *   `failNext: { count, status, retryAfterSec?, location? }` and `hangNext: count`; a body with
 *   only queued faults keeps the standing ones, as the Web1on1 sandbox's does;
 * - `POST /_sandbox/clear` → `clear()`.
 */
export async function startDmsSandbox(opts: DmsSandboxOptions): Promise<DmsSandbox> {
  const webhook = new Webhook(opts.secret);
  const path = opts.path ?? '/webhooks/contact-linker';
  const deliveries: DmsDelivery[] = [];
  const recorded = new WeakMap<FastifyRequest, DmsDelivery>();
  const faults = createFaults({ errorBody: () => ({ error: 'sandbox_fault' }) });

  function clear(): void {
    deliveries.length = 0;
    faults.clear();
  }

  function verify(rawBody: string, request: FastifyRequest): boolean {
    try {
      // Node joins a repeated header into one string (set-cookie aside), so the cast holds.
      webhook.verify(rawBody, request.headers as Record<string, string>, { jsonParse: false });
      return true;
    } catch {
      return false;
    }
  }

  /** Every request outside `/_sandbox/` lands here, whatever its path and method, and is recorded. */
  async function receive(request: FastifyRequest, reply: FastifyReply) {
    const rawBody = typeof request.body === 'string' ? request.body : '';
    const delivery: DmsDelivery = {
      webhookId: header(request, 'webhook-id'),
      timestamp: header(request, 'webhook-timestamp'),
      signature: header(request, 'webhook-signature'),
      contentType: header(request, 'content-type'),
      rawBody,
      body: parseJson(rawBody).value,
      verified: verify(rawBody, request),
      status: 0,
      receivedAt: Date.now(),
      path: new URL(request.url, 'http://sandbox').pathname,
    };
    deliveries.push(delivery);
    recorded.set(request, delivery);
    if (delivery.path !== path) throw httpError(404, 'Not found');
    const isPost = request.method === 'POST';
    if (!(await faults.intercept(reply, isPost ? 'POST' : undefined))) return reply;
    if (!isPost) throw httpError(405, 'Method not allowed');
    if (!delivery.verified) throw httpError(401, 'Invalid signature');
    return { received: true };
  }

  const app = buildSandboxApp((status) => ({ error: ERROR_CODES[status] ?? 'sandbox_fault' }));
  await registerControls(app, faults, (control) => {
    control.get('/deliveries', () => deliveries);
    control.post('/clear', () => {
      clear();
      return { cleared: true };
    });
  });
  app.addHook('onSend', async (request, reply) => {
    const delivery = recorded.get(request);
    if (delivery) delivery.status = reply.statusCode;
  });
  app.post(path, receive);
  app.setNotFoundHandler(receive);
  const baseUrl = await listen(app, opts.host ?? '127.0.0.1', opts.port ?? 0);

  return {
    url: `${baseUrl}${path}`,
    baseUrl,
    deliveries,
    accepted: () => deliveries.filter((d) => d.verified && d.status >= 200 && d.status < 300),
    failNext: faults.failNext,
    hangNext: (count) => faults.hangNext(count),
    setFaults: faults.set,
    clear,
    close: async () => {
      faults.close();
      await app.close();
    },
  };
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
