import { QUEUE } from '@contact-linker/queues';
import { parsePrometheusText, redisTest, sampleValue } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { auth, json, startIngress } from './ingress-harness.ts';

const test = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({ redisUrl, prefix });
  onCleanup(() => ingress.close());
  return ingress;
});

describe('GET /metrics (ingress)', () => {
  test('moves with a known workload, by route template, with no PII in labels', async ({
    ingress,
  }) => {
    const post = (email: string, headers: Record<string, string> = { ...auth, ...json }) =>
      ingress.app.inject({
        method: 'POST',
        url: '/updatecontact',
        headers,
        payload: JSON.stringify({ id: `id-${email}`, organization: 'o', email }),
      });
    await post('jane@example.com');
    await post('john@example.com');
    await post('eve@example.com', json);
    await ingress.app.inject({ url: '/jobs/00000000-0000-0000-0000-000000000000', headers: auth });

    const res = await ingress.app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const samples = parsePrometheusText(res.body);
    const requests = 'contact_linker_http_requests_total';
    expect(
      sampleValue(samples, requests, { route: '/updatecontact', method: 'POST', status: '202' }),
    ).toBe(2);
    expect(sampleValue(samples, requests, { route: '/updatecontact', status: '401' })).toBe(1);
    expect(sampleValue(samples, requests, { route: '/jobs/:jobId', status: '404' })).toBe(1);
    expect(
      sampleValue(samples, 'contact_linker_http_request_duration_seconds_count', {
        route: '/updatecontact',
        status: '202',
      }),
    ).toBe(2);
    expect(
      sampleValue(samples, 'contact_linker_queue_jobs', {
        queue: 'link-contact',
        // Link-contact jobs wait in BullMQ's prioritized set: their priority is their fair turn.
        state: 'prioritized',
      }),
    ).toBe(2);
    expect(
      sampleValue(samples, 'contact_linker_queue_jobs', { queue: 'dead-letter', state: 'waiting' }),
    ).toBe(0);
    // A paused queue's jobs wait in `paused`: they stay on the gauge.
    await ingress.queues[QUEUE.linkContact].pause();
    await ingress.queues[QUEUE.linkContact].add('dms.contact', {
      dmsContactId: 'P-1',
      organization: 'org',
      receivedAt: new Date().toISOString(),
    });
    const paused = parsePrometheusText((await ingress.app.inject('/metrics')).body);
    expect(
      sampleValue(paused, 'contact_linker_queue_jobs', { queue: 'link-contact', state: 'paused' }),
    ).toBe(1);
    for (const sample of samples) {
      for (const value of Object.values(sample.labels)) {
        expect(value).not.toMatch(/@|\+?\d{6,}/);
      }
    }
  });
});
