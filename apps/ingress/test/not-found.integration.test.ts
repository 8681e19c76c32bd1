// Routing decides before the body is looked at: a request for a route that does not exist is a 404
// whatever its content type, so an unknown path never answers as if it were a POST endpoint (415).
import { redisTest } from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { auth, startIngress } from './ingress-harness.ts';

const test = redisTest.extend('ingress', async ({ redisUrl, prefix }, { onCleanup }) => {
  // No admin credentials: the contract says `/admin/*` is then not mounted at all.
  const ingress = await startIngress({ redisUrl, prefix });
  onCleanup(() => ingress.close());
  return ingress;
});

describe('unknown routes', () => {
  test.for([
    ['POST /admin/dead-letters/x/replay, no content type', '/admin/dead-letters/x/replay', {}],
    ['POST /nope, text/plain', '/nope', { 'content-type': 'text/plain' }],
    ['POST /nope, no content type, with a body', '/nope', { 'content-length': '2' }],
    ['POST /jobs/:id, no content type', '/jobs/abc', auth],
    ['POST /nope, application/xml', '/nope', { 'content-type': 'application/xml' }],
  ] as const)('%s answers 404 not_found', async ([, url, headers], { ingress }) => {
    const res = await ingress.app.inject({
      method: 'POST',
      url,
      headers,
      ...('content-length' in headers || 'content-type' in headers ? { payload: '{}' } : {}),
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'not_found' });
  });
});
