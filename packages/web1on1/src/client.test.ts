import { describe, expect, it } from 'vitest';
import { hasNextPage } from './client.ts';

describe('hasNextPage: a Link header (RFC 8288) that names a next page', () => {
  it.each([
    ['<https://api.example/v2/contacts?offset=2>; rel="next"', true],
    ['<https://api.example/v2/contacts?offset=2>; rel=next', true],
    ['<https://api.example/a?x=1,2>; rel="prev", <https://api.example/b>; rel="next"', true],
    ['<https://api.example/b>; title="a page"; rel="last next"', true],
    ['<https://api.example/b>; REL="Next"', true],
    ['<https://api.example/a>; rel="prev", <https://api.example/z>; rel="last"', false],
    ['<https://api.example/next>; rel="nextish"', false],
    ['', false],
    [undefined, false],
  ])('%s → %s', (link, next) => {
    expect(hasNextPage(link)).toBe(next);
  });
});
