/**
 * What the Web1on1 and DMS sandboxes share: fault injection (standing faults, queued failures and
 * hangs, a rate-limit window, latency) and the Fastify base they are built on, with the
 * `/_sandbox/faults` control both of them answer.
 */
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { z } from 'zod';

/** The sandboxes' request body limit; larger bodies are refused (413), like a real API would. */
const MAX_BODY_BYTES = 5 * 1024 * 1024;

const Status = z.number().int().min(100).max(599);
const Count = z.number().int().nonnegative();

/** Standing faults; they apply to every request the sandbox injects faults into, until replaced. */
const StandingFaults = z.object({
  /** Delay before every answer. @defaultValue the sandbox's own latency, usually 0 */
  latencyMs: z.number().optional(),
  /** Share of requests (0–1) answered with `errorStatus`. */
  errorRate: z.number().optional(),
  /** @defaultValue 500 */
  errorStatus: Status.optional(),
  /** Share of requests (0–1) that are never answered. */
  hangRate: z.number().optional(),
  /** Answer every request with this status until cleared. */
  status: Status.optional(),
});
export type Faults = z.infer<typeof StandingFaults> & {
  /** Source of randomness for the rates, injectable for deterministic tests. @defaultValue Math.random */
  random?: () => number;
};

/** One queued answer that replaces the normal one. */
const Failure = z.object({
  status: Status,
  /** Sent as `Retry-After` (seconds). */
  retryAfterSec: z.number().optional(),
  /** Sent as `Location`, e.g. to check that a client does not follow a 3xx. */
  location: z.string().optional(),
  /** Only a request with this method takes it. @defaultValue any method */
  method: z.string().optional(),
  /** The JSON body to answer with. @defaultValue the sandbox's error shape */
  body: z.unknown().optional(),
});
export type Failure = z.infer<typeof Failure>;

/** One queued hang. */
const Hang = z.object({
  /** Only a request with this method takes it. @defaultValue any method */
  method: z.string().optional(),
  /**
   * Let the request through first and hold only its answer: the sandbox applies it (a PATCH is
   * stored, its webhook sent) and then never answers, as when an API's answer is lost after the
   * write. Honoured by the sandboxes that ask `heldAfterApply` (the Web1on1 sandbox's API routes);
   * elsewhere the request is answered as usual. @defaultValue false: hang before applying
   */
  afterApply: z.boolean().optional(),
});
export type Hang = z.infer<typeof Hang>;

/** Body of `POST /_sandbox/faults`: standing faults, plus optional queued ones. */
const FaultControl = StandingFaults.extend({
  failNext: Failure.extend({ count: Count.default(1) }).optional(),
  /** A count, or `{ count, method?, afterApply? }`. */
  hangNext: z
    .union([
      Count.transform((count) => ({ count, method: undefined })),
      Hang.extend({ count: Count.default(1) }),
    ])
    .optional(),
  rateLimitFor: z.object({ ms: z.number(), retryAfterSec: z.number() }).optional(),
});
type FaultControl = z.infer<typeof FaultControl>;

export interface FaultsOptions {
  /** The body of an injected error answer, in the sandbox's own error shape. */
  errorBody(status: number, message: string): unknown;
  /** Latency while the standing faults set none. @defaultValue 0 */
  latencyMs?: number;
}

/** An injected answer that replaces the normal one. */
type Fault = { status: number; headers: Record<string, string>; body: unknown };

/**
 * The fault state of one sandbox and its effect on a request. Precedence: a rate-limit window, then
 * queued failures, then queued hangs (each the first one whose method fits; an `afterApply` one
 * lets the request through and holds its answer), then the standing faults' `status`, `hangRate`
 * and `errorRate`.
 */
export function createFaults({ errorBody, latencyMs = 0 }: FaultsOptions) {
  let standing: Faults = {};
  let failures: Failure[] = [];
  let hangs: Hang[] = [];
  // Requests let through by an `afterApply` hang, whose answer is to be held once applied.
  const held = new WeakSet<FastifyReply>();
  let rateLimit = { until: 0, retryAfterSec: 0 };
  // Aborts latency waits on close, so a delayed request neither answers nor holds the process.
  const closing = new AbortController();

  const fault = (status: number, headers: Record<string, string> = {}, body?: unknown): Fault => ({
    status,
    headers,
    body: body ?? errorBody(status, 'Sandbox fault'),
  });

  function take<T extends { method?: string }>(queue: T[], method: string): T | undefined {
    const at = queue.findIndex((q) => q.method === undefined || q.method === method);
    return at < 0 ? undefined : queue.splice(at, 1)[0];
  }

  function decide(method: string): Fault | 'hang' | 'hold' | undefined {
    if (Date.now() < rateLimit.until) {
      const headers = { 'retry-after': String(rateLimit.retryAfterSec) };
      return fault(429, headers, errorBody(429, 'Too many requests'));
    }
    const failure = take(failures, method);
    if (failure) {
      const { status, retryAfterSec, location, body } = failure;
      const headers: Record<string, string> = {};
      if (retryAfterSec !== undefined) headers['retry-after'] = String(retryAfterSec);
      if (location !== undefined) headers.location = location;
      return fault(status, headers, body);
    }
    const hang = take(hangs, method);
    if (hang) return hang.afterApply ? 'hold' : 'hang';
    if (standing.status !== undefined) return fault(standing.status);
    const random = standing.random ?? Math.random;
    if (standing.hangRate && random() < standing.hangRate) return 'hang';
    if (standing.errorRate && random() < standing.errorRate) {
      return fault(standing.errorStatus ?? 500);
    }
    return undefined;
  }

  const upper = <T extends { method?: string }>(f: T): T =>
    f.method === undefined ? { ...f } : { ...f, method: f.method.toUpperCase() };

  const faults = {
    /** Replaces the standing faults; `set({})` removes them. */
    set(f: Faults): void {
      standing = { ...f };
    },
    failNext(count: number, f: Failure): void {
      for (let i = 0; i < count; i += 1) failures.push(upper(f));
    },
    hangNext(count: number, f: Hang = {}): void {
      for (let i = 0; i < count; i += 1) hangs.push(upper(f));
    },
    /** For `ms` from now, every request answers 429 with `Retry-After: retryAfterSec`. */
    rateLimitFor(ms: number, retryAfterSec: number): void {
      rateLimit = { until: Date.now() + ms, retryAfterSec };
    },
    clear(): void {
      standing = {};
      failures = [];
      hangs = [];
      rateLimit = { until: 0, retryAfterSec: 0 };
    },
    /** Applies a `POST /_sandbox/faults` body. One with only queued faults keeps the standing ones. */
    control(body: FaultControl) {
      const { failNext, hangNext, rateLimitFor, ...rest } = body;
      if (failNext) faults.failNext(failNext.count, failNext);
      if (hangNext) faults.hangNext(hangNext.count, hangNext);
      if (rateLimitFor) faults.rateLimitFor(rateLimitFor.ms, rateLimitFor.retryAfterSec);
      if (Object.keys(rest).length > 0 || (!failNext && !hangNext && !rateLimitFor)) {
        faults.set(rest);
      }
      return {
        faults: standing,
        queuedFailures: failures.length,
        queuedHangs: hangs.length,
        rateLimitedUntil: rateLimit.until,
      };
    },
    /**
     * Runs one request through the faults: decides on arrival (so queued faults go to requests in
     * arrival order), waits the latency, then answers the fault or leaves the request hanging until
     * the sandbox closes. Resolves `true` when the caller should answer normally (or apply the
     * request and then hold its answer: see `heldAfterApply`). Without a `method` nothing is
     * injected but the latency.
     */
    async intercept(reply: FastifyReply, method: string | undefined): Promise<boolean> {
      const decided = method === undefined ? undefined : decide(method);
      if (decided === 'hold') held.add(reply);
      const outcome = decided === 'hold' ? undefined : decided;
      const delay = standing.latencyMs ?? latencyMs;
      const waited = (ms: number) => sleep(ms, true, { signal: closing.signal }).catch(() => false);
      if (outcome === 'hang' || (delay > 0 && !(await waited(delay)))) {
        reply.hijack();
        return false;
      }
      if (outcome) sendJson(reply, outcome.status, outcome.body, outcome.headers);
      return outcome === undefined;
    },
    /**
     * Whether `intercept` let this request through under an `afterApply` hang: the caller applies
     * it, then calls `reply.hijack()` instead of answering, and the socket stays open until the
     * client gives up or the sandbox closes.
     */
    heldAfterApply(reply: FastifyReply): boolean {
      return held.has(reply);
    },
    close(): void {
      closing.abort();
    },
  };
  return faults;
}

/** Answers `body` as JSON, whatever its type (Fastify would send a bare string as text). */
function sendJson(
  reply: FastifyReply,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply
    .code(status)
    .headers(headers)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(body));
}

/**
 * A Fastify app for a sandbox: every body arrives as text whatever its content type, because the
 * sandboxes record what was sent, malformed JSON included. Every error body comes from
 * `errorBody`: a thrown `httpError` with its status, a `ZodError` (a bad control body) as 400.
 * `close()` ends hanging sockets too.
 */
export function buildSandboxApp(errorBody: (status: number, message: string) => unknown) {
  const app = Fastify({
    bodyLimit: MAX_BODY_BYTES,
    exposeHeadRoutes: false,
    forceCloseConnections: true,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, raw, done) => done(null, raw));
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    if (error instanceof z.ZodError) {
      return sendJson(reply, 400, errorBody(400, z.prettifyError(error)));
    }
    const status = error.statusCode ?? 500;
    const message =
      error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'Payload too large' : error.message;
    return sendJson(reply, status, errorBody(status, message));
  });
  return app;
}

type FaultInjector = ReturnType<typeof createFaults>;

/**
 * Registers the `/_sandbox/*` control endpoints: `routes`, `POST /_sandbox/faults` (a
 * `FaultControl` body, answered with the resulting fault state) and a 404 for any other control.
 * Control requests are never recorded.
 */
export async function registerControls(
  app: FastifyInstance,
  faults: FaultInjector,
  routes: (control: FastifyInstance) => void,
): Promise<void> {
  await app.register(
    async (control) => {
      control.post('/faults', (request) => faults.control(controlBody(FaultControl, request.body)));
      routes(control);
      control.setNotFoundHandler(() => {
        throw httpError(404, 'Not found');
      });
    },
    { prefix: '/_sandbox' },
  );
}

/** An error that the sandbox app's error handler answers with `status`. */
export function httpError(status: number, message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode: status });
}

/** A control body: JSON matching `schema`; an empty body is `{}`. Throws a `ZodError` otherwise. */
export function controlBody<T extends z.ZodType>(schema: T, raw: unknown): z.output<T> {
  const text = typeof raw === 'string' ? raw.trim() : '';
  return schema.parse(text === '' ? {} : parseJson(text).value);
}

/** `ok: false` (and `value: undefined`) when `raw` is not JSON. */
export function parseJson(raw: string): { ok: boolean; value: unknown } {
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch {
    return { ok: false, value: undefined };
  }
}

/** Listens on `host:port` (0: a free port) and answers the base URL, `http://host:port`. */
export async function listen(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const bound = (app.server.address() as AddressInfo).port;
  return `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
}
