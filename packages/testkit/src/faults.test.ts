/**
 * The fault module on its own, through `inject`: the precedence between kinds of faults and the
 * `/_sandbox/faults` body, which both sandboxes share. What each sandbox answers with them is in
 * their integration tests.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildSandboxApp, createFaults, registerControls } from './faults.ts';

const errorBody = (status: number, message: string) => ({ status, message });
let faults: ReturnType<typeof createFaults>;
let app: ReturnType<typeof buildSandboxApp>;

beforeEach(async () => {
  faults = createFaults({ errorBody });
  app = buildSandboxApp(errorBody);
  await registerControls(app, faults, () => undefined);
  app.route({
    method: ['GET', 'POST'],
    url: '/probe',
    handler: async (request, reply) => {
      if (await faults.intercept(reply, request.method)) {
        return faults.heldAfterApply(reply) ? 'held' : 'passed';
      }
      // A hang hijacks the reply and never answers; the probe answers for it so the test can see it.
      if (!reply.raw.headersSent) reply.raw.end('hang');
      return reply;
    },
  });
});

const probe = async (method: 'GET' | 'POST' = 'GET') => {
  const res = await app.inject({ method, url: '/probe' });
  return ['passed', 'hang', 'held'].includes(res.body) ? res.body : res.statusCode;
};
const control = (payload: unknown) =>
  app.inject({ method: 'POST', url: '/_sandbox/faults', payload: JSON.stringify(payload) });

afterEach(async () => {
  faults.close();
  await app.close();
});

describe('precedence', () => {
  it('rate limit, then queued failures, then queued hangs, then standing faults', async () => {
    faults.set({ status: 418 });
    faults.hangNext(1);
    faults.failNext(1, { status: 503 });
    faults.rateLimitFor(60_000, 1);
    expect(await probe()).toBe(429);
    faults.rateLimitFor(0, 0);
    expect([await probe(), await probe(), await probe()]).toEqual([503, 'hang', 418]);
  });

  it('queued faults go to the first request whose method fits, in any letter case', async () => {
    faults.failNext(1, { status: 502, method: 'post' });
    faults.hangNext(1, { method: 'Post' });
    expect([await probe('GET'), await probe('POST'), await probe('POST')]).toEqual([
      'passed',
      502,
      'hang',
    ]);
  });

  it('an afterApply hang lets its request through to be applied, its answer marked held', async () => {
    faults.hangNext(1, { method: 'POST', afterApply: true });
    faults.hangNext(1);
    expect([await probe('GET'), await probe('POST'), await probe('POST')]).toEqual([
      'hang',
      'held',
      'passed',
    ]);
  });

  it('hangRate draws before errorRate, from the injected random source', async () => {
    const draws = [0.9, 0.1, 0.1];
    faults.set({
      hangRate: 0.5,
      errorRate: 0.5,
      errorStatus: 504,
      random: () => draws.shift() ?? 1,
    });
    expect([await probe(), await probe(), await probe()]).toEqual([504, 'hang', 'passed']);
  });

  it('a failure answers its own body, Retry-After and Location', async () => {
    faults.failNext(1, { status: 302, retryAfterSec: 3, location: 'http://x.invalid/', body: [1] });
    faults.failNext(1, { status: 500 });
    const redirect = await app.inject({ url: '/probe' });
    expect(redirect.headers).toMatchObject({ 'retry-after': '3', location: 'http://x.invalid/' });
    expect(redirect.json()).toEqual([1]);
    expect((await app.inject({ url: '/probe' })).json()).toEqual({
      status: 500,
      message: 'Sandbox fault',
    });
  });
});

describe('POST /_sandbox/faults', () => {
  it('a body with only queued faults keeps the standing ones; an empty one clears them', async () => {
    expect((await control({ status: 418 })).json()).toMatchObject({ faults: { status: 418 } });
    const queued = await control({ failNext: { status: 500 }, hangNext: 2 });
    expect(queued.json()).toMatchObject({
      faults: { status: 418 },
      queuedFailures: 1,
      queuedHangs: 2,
    });
    expect((await control({ hangNext: { count: 1, method: 'get' } })).json()).toMatchObject({
      queuedHangs: 3,
    });
    const afterApply = { hangNext: { count: 1, method: 'post', afterApply: true } };
    expect((await control(afterApply)).json()).toMatchObject({ queuedHangs: 4 });
    expect((await control({})).json()).toMatchObject({ faults: {}, queuedHangs: 4 });
  });

  it('answers 400 in the sandbox error shape for a body that is not a fault control', async () => {
    for (const payload of ['{"failNext":{"count":1}}', '{"errorStatus":42}', '[', '[]']) {
      const res = await app.inject({ method: 'POST', url: '/_sandbox/faults', payload });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ status: 400 });
    }
    expect((await app.inject({ url: '/_sandbox/unknown' })).json()).toEqual({
      status: 404,
      message: 'Not found',
    });
  });
});

it('close() ends latency waits: the delayed request is left unanswered at once', async () => {
  faults.set({ latencyMs: 60_000 });
  const started = performance.now();
  const pending = probe();
  await new Promise((resolve) => setTimeout(resolve, 20));
  faults.close();
  expect(await pending).toBe('hang');
  expect(performance.now() - started).toBeLessThan(1_000);
});
