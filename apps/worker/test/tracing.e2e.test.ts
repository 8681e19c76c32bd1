/**
 * Traces end to end (issue 12, point 1): the real ingress and worker processes export to the test
 * kit's OTLP receiver (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`), and each DMS event and each webhook
 * shows up as one trace, from the ingress's server span to the DMS delivery. The Web1on1 sandbox
 * sends no webhooks of its own here, so every trace in the receiver is one this file caused.
 *
 * The contract allows the job's trace to be the request's or linked to it; this system continues
 * the request's trace (each job carries its producer span's context), and only the group commit's
 * shared `send` span sits in a trace of its own, linked to every event it carried.
 *
 * Both describes load a module probe (`NODE_OPTIONS=--import`) that records every OpenTelemetry
 * SDK, exporter, instrumentation or adapter module the process resolves: traced, it must see them
 * (so the probe works); with no `OTEL_*` variable, it must see none (nothing loaded, nothing
 * patched, no SDK).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type AppProcess,
  type DmsSandbox,
  freePort,
  makeWebhookSecret,
  type OtlpReceiver,
  type PrivateRedis,
  type ReceivedSpan,
  type SandboxContact,
  signHubSignature,
  startDmsSandbox,
  startIngressProcess,
  startOtlpReceiver,
  startPrivateRedis,
  startWeb1on1Sandbox,
  startWorkerProcess,
  uniquePrefix,
  type Web1on1Sandbox,
  waitFor,
} from '@contact-linker/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ORG = 'org-trace';
const API_KEY = `trace-api-key-${randomBytes(8).toString('hex')}`;
const WEBHOOK_SECRET = `trace-webhook-${randomBytes(8).toString('hex')}`;
/**
 * The SDK, exporters, instrumentations and adapters. Not `@opentelemetry/api`: prom-client has
 * always loaded that no-op facade (for exemplars), traced or not.
 */
const OTEL_MODULE = /\/node_modules\/(@opentelemetry\/(?!api\/)|bullmq-otel\/|@fastify\/otel\/)/;

const probeDir = mkdtempSync(join(tmpdir(), 'cl-trace-probe-'));
const PROBE = join(probeDir, 'probe.mjs');
writeFileSync(
  PROBE,
  `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    if (${OTEL_MODULE}.test(resolved.url)) appendFileSync(process.env.MODULE_PROBE_OUT, resolved.url + '\\n');
    return resolved;
  },
});
`,
);
/** Env that makes a process record the OpenTelemetry modules it loads into `out`. */
const probeEnv = (out: string) => ({
  NODE_OPTIONS: `--import=${pathToFileURL(PROBE).href}`,
  MODULE_PROBE_OUT: out,
});
const probed = (out: string) =>
  existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : [];

afterAll(() => rmSync(probeDir, { recursive: true, force: true }));

interface System {
  web1on1: Web1on1Sandbox;
  dms: DmsSandbox;
  ingress: AppProcess;
  worker: AppProcess;
  token: string;
  dmsSecret: string;
}

/** Redis, both sandboxes and both processes, with `env` added to each process's environment. */
async function startSystem(redis: PrivateRedis, env: Record<string, string>): Promise<System> {
  const web1on1 = await startWeb1on1Sandbox({ organizationId: ORG });
  const dmsSecret = makeWebhookSecret();
  const dms = await startDmsSandbox({ secret: dmsSecret });
  const token = web1on1.issueToken();
  const shared = { REDIS_URL: redis.url, QUEUE_PREFIX: uniquePrefix(), LOG_LEVEL: 'warn', ...env };
  const [ingressPort, workerPort] = [await freePort(), await freePort()];
  const [ingress, worker] = await Promise.all([
    startIngressProcess({
      ...shared,
      ...probeEnv(join(probeDir, `ingress-${ingressPort}`)),
      PORT: String(ingressPort),
      HOST: '127.0.0.1',
      DMS_API_KEYS: API_KEY,
      WEB1ON1_WEBHOOK_SECRET: WEBHOOK_SECRET,
    }),
    startWorkerProcess({
      ...shared,
      ...probeEnv(join(probeDir, `worker-${workerPort}`)),
      WORKER_PORT: String(workerPort),
      WEB1ON1_API_URL: web1on1.url,
      WEB1ON1_TOKEN: token,
      WEB1ON1_REFRESH_TOKEN: web1on1.refreshToken,
      WEB1ON1_BOT_EMAIL: web1on1.botEmail,
      WEB1ON1_RATE_LIMIT: '200/1s',
      DMS_CONTACT_URL_TEMPLATE: `${dms.baseUrl}/customer/{id}/`,
      DMS_NOTIFY_URL: dms.url,
      DMS_NOTIFY_SECRET: dmsSecret,
      NOT_FOUND_ATTEMPTS: '1',
    }),
  ]);
  return { web1on1, dms, ingress, worker, token, dmsSecret };
}

async function stopSystem(system: System | undefined) {
  await Promise.all([system?.ingress.kill(), system?.worker.kill()]);
  await Promise.all([system?.web1on1.close(), system?.dms.close()]);
}

async function postContact(
  system: System,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await fetch(`${system.ingress.url}/updatecontact`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  const answer = (await res.json()) as { jobId: string };
  expect(res.status, JSON.stringify(answer)).toBe(202);
  return answer.jobId;
}

describe('traced: OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
  let redis: PrivateRedis | undefined;
  let receiver: OtlpReceiver | undefined;
  let system: System | undefined;
  /** Every secret and contact detail the processes were given or sent: none may be in a span. */
  const secrets: string[] = [API_KEY, WEBHOOK_SECRET];

  const sys = () => {
    if (!system || !receiver) throw new Error('system did not start (see beforeAll)');
    return { ...system, receiver };
  };

  beforeAll(async () => {
    redis = await startPrivateRedis();
    receiver = await startOtlpReceiver();
    system = await startSystem(redis, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // The batch span processor's standard setting; its 5 s default would only slow the test.
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    secrets.push(system.dmsSecret, system.token, system.web1on1.refreshToken);
  });

  afterAll(async () => {
    await stopSystem(system);
    await receiver?.close();
    await redis?.stop();
  });

  const byId = (spanId: string | undefined) =>
    spanId === undefined ? undefined : sys().receiver.spans.find((s) => s.spanId === spanId);

  /** `span`, its parent, its grandparent… up to the root, as `service: name (kind)`. */
  function lineage(span: ReceivedSpan): string[] {
    const out: string[] = [];
    for (let s: ReceivedSpan | undefined = span; s; s = byId(s.parentSpanId)) {
      out.push(`${s.serviceName.replace('contact-linker-', '')}: ${s.name} (${s.kind})`);
    }
    return out;
  }

  const findSpan = (what: string, match: (span: ReceivedSpan) => boolean) =>
    waitFor(() => sys().receiver.spans.find(match), { timeoutMs: 15_000, message: what });

  const processSpanOf = (jobId: string) =>
    findSpan(`process span of job ${jobId}`, (s) => {
      return s.name === 'process link-contact' && s.attributes['bullmq.job.id'] === jobId;
    });

  /** The DMS delivery's client span in `traceId` (undici's, to DMS_NOTIFY_URL). */
  const dmsPostIn = (traceId: string) =>
    findSpan(`DMS delivery span in trace ${traceId}`, (s) => {
      return (
        s.traceId === traceId && s.kind === 'client' && s.attributes['url.full'] === sys().dms.url
      );
    });

  let jane: SandboxContact;

  it('a DMS event is one trace: POST /updatecontact → create → process link-contact → Web1on1 GET, PATCH → notify-dms → the DMS POST', async () => {
    const { web1on1, receiver } = sys();
    const email = 'jane.trace@example.com';
    secrets.push(email, 'Jane.Trace@Example.com');
    jane = web1on1.addContact({ organization: ORG, profile: { email, name: 'Jane Trace' } });

    const jobId = await postContact(sys(), {
      id: 'DMS-T1',
      organization: ORG,
      email: 'Jane.Trace@Example.com',
    });
    const processSpan = await processSpanOf(jobId);
    const dmsPost = await dmsPostIn(processSpan.traceId);

    expect(lineage(dmsPost)).toEqual([
      'worker: POST (client)',
      'worker: process notify-dms (consumer)',
      'worker: add notify-dms.contact.linked (producer)',
      'worker: process link-contact (consumer)',
      'ingress: create link-contact (producer)',
      'ingress: request (internal)',
      'ingress: POST /updatecontact (server)',
    ]);
    expect(dmsPost.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.response.status_code': 200,
    });

    const trace = receiver.trace(processSpan.traceId);
    const server = trace.find((s) => s.parentSpanId === undefined);
    expect(server).toMatchObject({
      name: 'POST /updatecontact',
      kind: 'server',
      serviceName: 'contact-linker-ingress',
      attributes: { 'http.route': '/updatecontact', 'http.response.status_code': 202 },
    });
    const create = byId(processSpan.parentSpanId);
    expect(create?.attributes).toMatchObject({
      'messaging.operation.type': 'create',
      'messaging.destination.name': 'link-contact',
      'messaging.message.id': jobId,
    });

    // Each Web1on1 request is a client span of the job, path without the query.
    const web1on1Calls = trace
      .filter((s) => s.kind === 'client' && s.parentSpanId === processSpan.spanId)
      .map(
        (s) =>
          `${s.name} ${new URL(String(s.attributes['url.full'])).pathname} ${s.attributes['http.response.status_code']}`,
      );
    expect(web1on1Calls).toEqual([`GET /v2/contacts 200`, `PATCH /v2/contacts/${jane.id} 200`]);
    for (const span of trace.filter((s) => s.kind === 'client')) {
      expect(String(span.attributes['url.full'])).not.toContain('?');
    }

    // The batch that carried it: a `send` span in a trace of its own, linked to this event's create.
    const send = await findSpan('the send span linking to the create span', (s) =>
      s.links.some((l) => l.spanId === create?.spanId),
    );
    expect(send).toMatchObject({ name: 'send link-contact', kind: 'producer' });
    expect(send.parentSpanId).toBeUndefined();
    expect(send.traceId).not.toBe(processSpan.traceId);
    expect(send.links).toContainEqual(
      expect.objectContaining({ traceId: processSpan.traceId, spanId: create?.spanId }),
    );
    expect(
      lineage(await findSpan('addBulk under send', (s) => s.parentSpanId === send.spanId)),
    ).toEqual([
      'ingress: addBulk link-contact (producer)',
      'ingress: send link-contact (producer)',
    ]);
  });

  it('a webhook is one trace: POST /webhook → add notify-dms → process notify-dms → the DMS POST', async () => {
    const { dms } = sys();
    const eventId = randomBytes(12).toString('hex');
    const raw = JSON.stringify({
      id: eventId,
      event: 'contact.update',
      timestamp: Date.now(),
      organization: ORG,
      data: {
        contact: {
          id: jane.id,
          organization: ORG,
          conversation: jane.conversation,
          profile: {
            email: 'jane.trace@example.com',
            name: 'Jane Renamed',
            telephone: '+31201234567',
          },
          links: [],
        },
      },
    });
    secrets.push('+31201234567');
    const res = await fetch(`${sys().ingress.url}/webhook`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature': signHubSignature(raw, WEBHOOK_SECRET),
      },
      body: raw,
      signal: AbortSignal.timeout(5_000),
    });
    expect(res.status).toBe(200);
    await waitFor(() => dms.deliveries.find((d) => d.webhookId === eventId), { timeoutMs: 10_000 });

    const server = await findSpan('POST /webhook server span', (s) => s.name === 'POST /webhook');
    const dmsPost = await dmsPostIn(server.traceId);
    expect(lineage(dmsPost)).toEqual([
      'worker: POST (client)',
      'worker: process notify-dms (consumer)',
      'ingress: add notify-dms.contact.updated (producer)',
      'ingress: request (internal)',
      'ingress: POST /webhook (server)',
    ]);
    expect(server.attributes).toMatchObject({
      'http.route': '/webhook',
      'http.response.status_code': 200,
    });
  });

  it('concurrent events share batches, and each job continues its own request’s trace', async () => {
    const { web1on1, receiver } = sys();
    const count = 20;
    const events = Array.from({ length: count }, (_, i) => {
      const n = String(i).padStart(2, '0');
      // Half by email, half by phone (a national number, looked up as E.164).
      if (i % 2 === 0) {
        const email = `batch-${n}@example.com`;
        secrets.push(email);
        web1on1.addContact({ organization: ORG, profile: { email } });
        return { id: `DMS-B${n}`, organization: ORG, email };
      }
      const e164 = `+316123456${n}`;
      const national = `06-123456${n}`;
      secrets.push(e164, national, encodeURIComponent(e164));
      web1on1.addContact({ organization: ORG, profile: { telephone: e164 } });
      return { id: `DMS-B${n}`, organization: ORG, telephone: national };
    });
    // Each request comes with a trace of the caller's (W3C traceparent): a job's trace must be it.
    const callers = events.map(() => ({
      traceId: randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
    }));
    const jobIds = await Promise.all(
      events.map((event, i) =>
        postContact(sys(), event, {
          traceparent: `00-${callers[i]?.traceId}-${callers[i]?.spanId}-01`,
        }),
      ),
    );

    const creates: ReceivedSpan[] = [];
    for (const [i, jobId] of jobIds.entries()) {
      const processSpan = await processSpanOf(jobId);
      expect(processSpan.traceId, `job ${i}'s trace is its request's`).toBe(callers[i]?.traceId);
      const create = byId(processSpan.parentSpanId);
      expect(create?.attributes['messaging.message.id']).toBe(jobId);
      const root = lineage(processSpan).at(-1);
      expect(root).toBe('ingress: POST /updatecontact (server)');
      const server = receiver.trace(processSpan.traceId).find((s) => s.kind === 'server');
      expect(server?.parentSpanId, 'the server span continues the caller').toBe(callers[i]?.spanId);
      if (create) creates.push(create);
    }

    // Every create is linked from a send span, and at least one send carried several events.
    const sends = await waitFor(
      () => {
        const found = receiver.spans.filter(
          (s) =>
            s.name === 'send link-contact' &&
            s.links.some((l) => creates.some((c) => c.spanId === l.spanId)),
        );
        const linked = new Set(found.flatMap((s) => s.links.map((l) => l.spanId)));
        return creates.every((c) => linked.has(c.spanId)) ? found : undefined;
      },
      { timeoutMs: 10_000, message: 'a send span for every create' },
    );
    expect(Math.max(...sends.map((s) => s.links.length)), 'group commit batched').toBeGreaterThan(
      1,
    );
    for (const send of sends) {
      expect(send.attributes['messaging.batch.message_count']).toBe(send.links.length);
    }
    await waitFor(() => sys().dms.deliveries.length >= count + 2 || undefined, {
      timeoutMs: 15_000,
      message: 'every batch event delivered',
    });
  });

  it("a retried job stays in its event's trace: every attempt is a child of the span that queued it", async () => {
    const { web1on1, receiver } = sys();
    const email = 'retry.trace@example.com';
    secrets.push(email);
    web1on1.addContact({ organization: ORG, profile: { email } });
    web1on1.failNext(1, { status: 503 });
    const jobId = await postContact(sys(), { id: 'DMS-R1', organization: ORG, email });

    const attempts = await waitFor(
      () => {
        const found = receiver.spans.filter(
          (s) => s.name === 'process link-contact' && s.attributes['bullmq.job.id'] === jobId,
        );
        return found.length === 2 ? found.sort((a, b) => a.startMs - b.startMs) : undefined;
      },
      { timeoutMs: 15_000, message: 'two attempts of the job' },
    );
    const [first, second] = attempts;
    // BullMQ 5.81 stores the `delay` span's context in a job field it never reads back, so the
    // second attempt hangs off the `create` span too, not off the first attempt's `delay`.
    expect(second?.traceId).toBe(first?.traceId);
    expect(second?.parentSpanId).toBe(first?.parentSpanId);
    expect(byId(first?.parentSpanId)?.name).toBe('create link-contact');
    const delay = await findSpan("the first attempt's delay span", (s) => {
      return s.name === 'delay link-contact' && s.parentSpanId === first?.spanId;
    });
    expect(delay.attributes['bullmq.job.id']).toBe(jobId);
    expect(first?.events.map((e) => e.name)).toEqual(['job failed']);
    expect(first?.events[0]?.attributes['bullmq.job.failed.reason']).toMatch(/503/);
    expect(second?.events.map((e) => e.name)).toEqual(['job completed']);
  });

  it('no span, event, link or resource holds an email, a phone number, a token or a key', async () => {
    const { receiver, web1on1 } = sys();
    // Let the last exports land.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.spans.length).toBeGreaterThan(50);
    const texts: string[] = [];
    const collect = (value: unknown): void => {
      if (value === null || value === undefined) return;
      if (Array.isArray(value)) value.forEach(collect);
      else if (typeof value === 'object') Object.values(value).forEach(collect);
      else texts.push(String(value));
    };
    for (const span of receiver.spans) {
      collect([span.name, span.status.message, span.attributes, span.resource]);
      for (const event of span.events) collect([event.name, event.attributes]);
      for (const link of span.links) collect(link.attributes);
    }
    const forbidden = [...secrets, web1on1.botEmail, encodeURIComponent(web1on1.botEmail)];
    const leaks = texts.filter(
      (text) =>
        forbidden.some((secret) => text.toLowerCase().includes(secret.toLowerCase())) ||
        /[^\s@]+(@|%40)[^\s@]+\.[a-z]{2,}/i.test(text) ||
        /eyJ[\w-]+\.[\w-]+/.test(text) ||
        /(\+|%2B)31\d{9}/.test(text),
    );
    expect(leaks).toEqual([]);
    // The module probe saw the SDK, so its silence in the untraced run below means something.
    expect(probed(join(probeDir, `ingress-${new URL(sys().ingress.url).port}`))).not.toEqual([]);
    expect(probed(join(probeDir, `worker-${new URL(sys().worker.url).port}`))).not.toEqual([]);
  });
});

describe('traced, stopped with SIGTERM', () => {
  let redis: PrivateRedis | undefined;
  let receiver: OtlpReceiver | undefined;
  let system: System | undefined;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    receiver = await startOtlpReceiver();
    system = await startSystem(redis, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      // Nothing would be exported for ten minutes but for the shutdown.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
  });
  afterAll(async () => {
    await stopSystem(system);
    await receiver?.close();
    await redis?.stop();
  });

  it('exports the spans it still holds on the way out', async () => {
    if (!system || !receiver) throw new Error('system did not start (see beforeAll)');
    const { web1on1, dms, ingress, worker } = system;
    web1on1.addContact({ organization: ORG, profile: { email: 'flush@example.com' } });
    const jobId = await postContact(system, {
      id: 'DMS-F1',
      organization: ORG,
      email: 'flush@example.com',
    });
    await waitFor(() => dms.deliveries.length > 0 || undefined, { timeoutMs: 10_000 });
    expect(receiver.spans).toEqual([]);

    expect(await ingress.stop('SIGTERM')).toMatchObject({ code: 0 });
    expect(await worker.stop('SIGTERM')).toMatchObject({ code: 0 });
    const services = new Set(receiver.spans.map((s) => s.serviceName));
    expect([...services].sort()).toEqual(['contact-linker-ingress', 'contact-linker-worker']);
    expect(receiver.spans).toContainEqual(
      expect.objectContaining({
        name: 'process link-contact',
        attributes: expect.objectContaining({ 'bullmq.job.id': jobId }),
      }),
    );
  });
});

describe('untraced: no OTEL_* variable', () => {
  let redis: PrivateRedis | undefined;
  let system: System | undefined;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    system = await startSystem(redis, {});
  });
  afterAll(async () => {
    await stopSystem(system);
    await redis?.stop();
  });

  it('loads no OpenTelemetry module at all, while doing the same work', async () => {
    if (!system) throw new Error('system did not start (see beforeAll)');
    const { web1on1, dms } = system;
    web1on1.addContact({ organization: ORG, profile: { email: 'untraced@example.com' } });
    await postContact(system, { id: 'DMS-U1', organization: ORG, email: 'untraced@example.com' });
    await waitFor(() => dms.deliveries.length > 0 || undefined, { timeoutMs: 10_000 });

    expect(probed(join(probeDir, `ingress-${new URL(system.ingress.url).port}`))).toEqual([]);
    expect(probed(join(probeDir, `worker-${new URL(system.worker.url).port}`))).toEqual([]);
  });
});
