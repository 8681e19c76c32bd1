import { describe, expect, it } from 'vitest';
import { createIngressMetrics, createWorkerMetrics } from './metrics.ts';

const depths = async () => [{ queue: 'q', counts: { waiting: 3, failed: 1 } }];
/** The value of an unlabelled sample in Prometheus text, or undefined when it is absent. */
const sampleOf = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
};

describe('contact_linker_redis_ready', () => {
  it.each([
    ['answers', async () => true, 1],
    ['does not answer', async () => false, 0],
    ['fails', async () => Promise.reject(new Error('down')), 0],
  ])('is %s → %d in both processes', async (_what, redisReady, expected) => {
    const ingress = createIngressMetrics({ queues: { depths }, redisReady });
    const worker = createWorkerMetrics({ redisReady });
    expect(sampleOf(await ingress.registry.metrics(), 'contact_linker_redis_ready')).toBe(expected);
    expect(sampleOf(await worker.registry.metrics(), 'contact_linker_redis_ready')).toBe(expected);
  });

  it('is absent when the process gives no readiness check', async () => {
    const text = await createWorkerMetrics().registry.metrics();
    expect(text).not.toContain('contact_linker_redis_ready');
  });
});

describe('contact_linker_queue_jobs when Redis is down', () => {
  // A failed scrape would read as "ingress down" (up == 0) in Prometheus, hiding the real cause.
  it('a failed read leaves the scrape whole, without depth samples', async () => {
    let fail = false;
    const metrics = createIngressMetrics({
      queues: { depths: () => (fail ? Promise.reject(new Error('down')) : depths()) },
      redisReady: async () => !fail,
    });
    expect(await metrics.registry.metrics()).toContain(
      'contact_linker_queue_jobs{queue="q",state="waiting"} 3',
    );
    fail = true;
    const text = await metrics.registry.metrics();
    expect(text).not.toMatch(/^contact_linker_queue_jobs\{/m);
    expect(sampleOf(text, 'contact_linker_redis_ready')).toBe(0);
  });

  it('a read that hangs is given up after 2 s', async () => {
    const metrics = createIngressMetrics({
      queues: { depths: () => new Promise(() => {}) },
      redisReady: async () => false,
    });
    const started = performance.now();
    const text = await metrics.registry.metrics();
    expect(performance.now() - started).toBeLessThan(3000);
    expect(text).not.toMatch(/^contact_linker_queue_jobs\{/m);
  });
});
