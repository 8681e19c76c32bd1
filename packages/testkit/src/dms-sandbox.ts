import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { readBody, sendJson } from './http-util.ts';

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
export interface DmsFailure {
  status: number;
  /** Sent as `Retry-After` (seconds). */
  retryAfterSec?: number;
  /** Sent as `Location`, e.g. to check that a client does not follow a 3xx. */
  location?: string;
}

/** Standing faults; each field applies to every webhook request until changed or cleared. */
export interface DmsFaults {
  /** Delay before answering. */
  latencyMs?: number;
  /** Share of requests (0–1) answered with `errorStatus`. */
  errorRate?: number;
  /** @defaultValue 500 */
  errorStatus?: number;
  /** Share of requests (0–1) that are never answered. */
  hangRate?: number;
  /** Source of randomness for the rates, injectable for deterministic tests. @defaultValue Math.random */
  random?: () => number;
  /** Answer every request with this status until cleared. */
  status?: number;
}

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

type Outcome =
  | { kind: 'hang' }
  | { kind: 'answer'; status: number; headers?: Record<string, string>; body: unknown };

/**
 * Starts a stand-in for the dealer's DMS webhook receiver: a real HTTP server that verifies each POST on
 * `path` with the `standardwebhooks` library (401 when it fails), records it, and can be told to fail,
 * redirect or hang. Other processes reach the same controls over HTTP:
 * - `GET /_sandbox/deliveries` → the deliveries as JSON;
 * - `POST /_sandbox/faults` with a JSON `DmsFaults` body (without `random`), plus optional
 *   `failNext: { count, status, retryAfterSec?, location? }` and `hangNext: count`;
 * - `POST /_sandbox/clear` → `clear()`.
 */
export async function startDmsSandbox(opts: DmsSandboxOptions): Promise<DmsSandbox> {
  const webhook = new Webhook(opts.secret);
  const host = opts.host ?? '127.0.0.1';
  const path = opts.path ?? '/webhooks/contact-linker';
  const deliveries: DmsDelivery[] = [];
  let failures: DmsFailure[] = [];
  let hangs = 0;
  let faults: DmsFaults = {};
  const timers = new Set<NodeJS.Timeout>();

  function failNext(count: number, f: DmsFailure): void {
    for (let i = 0; i < count; i += 1) failures.push({ ...f });
  }
  function hangNext(count: number): void {
    hangs += count;
  }
  function setFaults(f: DmsFaults): void {
    faults = { ...f };
  }
  function clear(): void {
    deliveries.length = 0;
    failures = [];
    hangs = 0;
    faults = {};
  }

  function decide(verified: boolean): Outcome {
    if (hangs > 0) {
      hangs -= 1;
      return { kind: 'hang' };
    }
    const failure = failures.shift();
    if (failure) {
      const headers: Record<string, string> = {};
      if (failure.retryAfterSec !== undefined)
        headers['retry-after'] = String(failure.retryAfterSec);
      if (failure.location !== undefined) headers.location = failure.location;
      return { kind: 'answer', status: failure.status, headers, body: { error: 'sandbox_fault' } };
    }
    if (faults.status !== undefined) {
      return { kind: 'answer', status: faults.status, body: { error: 'sandbox_fault' } };
    }
    const random = faults.random ?? Math.random;
    if (faults.hangRate && random() < faults.hangRate) return { kind: 'hang' };
    if (faults.errorRate && random() < faults.errorRate) {
      return {
        kind: 'answer',
        status: faults.errorStatus ?? 500,
        body: { error: 'sandbox_fault' },
      };
    }
    if (!verified) return { kind: 'answer', status: 401, body: { error: 'invalid_signature' } };
    return { kind: 'answer', status: 200, body: { received: true } };
  }

  function verify(rawBody: string, req: IncomingMessage): boolean {
    const headers: Record<string, string> = {};
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    try {
      webhook.verify(rawBody, headers, { jsonParse: false });
      return true;
    } catch {
      return false;
    }
  }

  function handleControl(req: IncomingMessage, res: ServerResponse, pathname: string, raw: string) {
    if (req.method === 'GET' && pathname === '/_sandbox/deliveries')
      return sendJson(res, 200, deliveries);
    if (req.method === 'POST' && pathname === '/_sandbox/clear') {
      clear();
      return sendJson(res, 200, { cleared: true });
    }
    if (req.method === 'POST' && pathname === '/_sandbox/faults') {
      const body = parseJson(raw);
      if (!isRecord(body)) return sendJson(res, 400, { error: 'invalid_body' });
      const { failNext: next, hangNext: hang, ...standing } = body;
      setFaults(pickFaults(standing));
      if (isRecord(next) && typeof next.count === 'number' && typeof next.status === 'number') {
        failNext(next.count, pickFailure(next));
      }
      if (typeof hang === 'number') hangNext(hang);
      return sendJson(res, 200, { faults, queuedFailures: failures.length, queuedHangs: hangs });
    }
    return sendJson(res, 404, { error: 'not_found' });
  }

  const server = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://sandbox').pathname;
    readBody(req).then(
      (raw) => {
        if (raw === undefined) return sendJson(res, 413, { error: 'payload_too_large' });
        if (pathname.startsWith('/_sandbox/')) return handleControl(req, res, pathname, raw);
        const delivery: DmsDelivery = {
          webhookId: header(req, 'webhook-id'),
          timestamp: header(req, 'webhook-timestamp'),
          signature: header(req, 'webhook-signature'),
          contentType: header(req, 'content-type'),
          rawBody: raw,
          body: parseJson(raw),
          verified: verify(raw, req),
          status: 0,
          receivedAt: Date.now(),
          path: pathname,
        };
        deliveries.push(delivery);
        let outcome: Outcome;
        if (pathname !== path) {
          outcome = { kind: 'answer', status: 404, body: { error: 'not_found' } };
        } else if (req.method !== 'POST') {
          outcome = { kind: 'answer', status: 405, body: { error: 'method_not_allowed' } };
        } else {
          outcome = decide(delivery.verified);
        }
        if (outcome.kind === 'hang') return;
        const answer = outcome;
        const respond = () => {
          delivery.status = answer.status;
          sendJson(res, answer.status, answer.body, answer.headers);
        };
        const latency = pathname === path ? (faults.latencyMs ?? 0) : 0;
        if (latency <= 0) return respond();
        const timer = setTimeout(() => {
          timers.delete(timer);
          respond();
        }, latency);
        timers.add(timer);
      },
      () => res.destroy(),
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url: `${baseUrl}${path}`,
    baseUrl,
    deliveries,
    accepted: () => deliveries.filter((d) => d.verified && d.status >= 200 && d.status < 300),
    failNext,
    hangNext,
    setFaults,
    clear,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pickFaults(body: Record<string, unknown>): DmsFaults {
  const faults: DmsFaults = {};
  for (const key of ['latencyMs', 'errorRate', 'errorStatus', 'hangRate', 'status'] as const) {
    const value = body[key];
    if (typeof value === 'number') faults[key] = value;
  }
  return faults;
}

function pickFailure(body: Record<string, unknown>): DmsFailure {
  const failure: DmsFailure = { status: Number(body.status) };
  if (typeof body.retryAfterSec === 'number') failure.retryAfterSec = body.retryAfterSec;
  if (typeof body.location === 'string') failure.location = body.location;
  return failure;
}
