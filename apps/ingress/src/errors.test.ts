// Keeps the error catalog and the README's error table in step, both ways (fastify does the same
// for its Errors.md): a code added without documentation, or documented without existing, fails.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_ERRORS } from './errors.ts';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('### Error codes'));
const documented = new Map(
  [...section.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]),
);

describe('error catalog', () => {
  it('documents every code with its status', () => {
    for (const [code, { status }] of Object.entries(API_ERRORS)) {
      expect(documented.get(code), `README is missing ${code}`).toBe(status);
    }
  });

  it('documents nothing that does not exist', () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(API_ERRORS).sort());
  });

  it('keeps client mistakes below 500', () => {
    for (const [code, { status }] of Object.entries(API_ERRORS)) {
      if (code !== 'internal_error' && code !== 'queue_unavailable')
        expect(status).toBeLessThan(500);
    }
  });
});
