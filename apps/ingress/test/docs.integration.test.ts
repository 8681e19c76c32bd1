import { redisTest } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { startIngress } from './ingress-harness.ts';

const test = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({
    redisUrl,
    prefix,
    admin: { username: 'ops', password: 'correct-horse-battery' },
  });
  onCleanup(() => ingress.close());
  return ingress;
});

interface OpenApi {
  openapi: string;
  paths: Record<
    string,
    Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>
  >;
}

describe('GET /docs', () => {
  test('serves the UI with security headers', async ({ ingress }) => {
    const res = await ingress.app.inject('/docs');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toContain('swagger');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
  });

  test('describes every public route from the zod schemas', async ({ ingress }) => {
    const res = await ingress.app.inject('/docs/json');
    expect(res.statusCode).toBe(200);
    const doc = res.json() as OpenApi;
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/admin/dead-letters',
      '/admin/dead-letters/{id}/replay',
      '/jobs/{jobId}',
      '/updatecontact',
      '/updatecontacts',
      '/webhook',
    ]);
    const body =
      doc.paths['/updatecontact']?.post?.requestBody?.content['application/json']?.schema;
    // Generated from DmsContactEvent: the id pattern and the organization rules are the validator's.
    expect(JSON.stringify(body)).toContain('^[A-Za-z0-9._~:@-]+$');
    expect(JSON.stringify(body)).toContain('^[A-Za-z0-9_-]+$');
    expect(body).toMatchObject({ required: expect.arrayContaining(['id', 'organization']) });
  });
});
