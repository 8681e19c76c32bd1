// Scoped to a private redis-server: these tests stop Redis, which must never happen to a shared one.
import { startPrivateRedis, uniquePrefix } from '@contact-linker/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, json, startIngress } from './ingress-harness.ts';

describe('ingress with Redis down', () => {
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  let ingress: Awaited<ReturnType<typeof startIngress>>;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    ingress = await startIngress({ redisUrl: redis.url, prefix: uniquePrefix() });
  });
  afterAll(async () => {
    await ingress.close();
    await redis.stop();
  });

  it('answers 503 with Retry-After within a second, and readyz 503, then recovers', async () => {
    const post = () =>
      ingress.app.inject({
        method: 'POST',
        url: '/updatecontact',
        headers: { ...auth, ...json },
        payload: JSON.stringify({ id: 'x', organization: 'o', email: 'x@y.nl' }),
      });
    expect((await post()).statusCode).toBe(202);

    await redis.stop();
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const res = await post();
      expect(performance.now() - started).toBeLessThan(1000);
      expect(res.statusCode).toBe(503);
      expect(res.json().error).toBe('queue_unavailable');
      expect(res.headers['retry-after']).toBe('1');
    }
    const ready = await ingress.app.inject('/readyz');
    expect(ready.statusCode).toBe(503);

    await redis.start();
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline && status !== 202) {
      status = (await post()).statusCode;
      if (status !== 202) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(202);
  });
});
