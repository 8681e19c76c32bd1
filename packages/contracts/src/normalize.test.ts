import { describe, expect, it } from 'vitest';
import { buildDmsContactUrl, normalizeEmail, normalizePhone, parseRateLimit } from './normalize.ts';

describe('normalizeEmail', () => {
  it.each([
    ['Jan@Example.COM', 'jan@example.com'],
    ['  jan@example.com\t\n', 'jan@example.com'],
    [' JAN.JANSEN+DMS@EXAMPLE.NL ', 'jan.jansen+dms@example.nl'],
    ['jan@example.com', 'jan@example.com'],
  ])('normalises %j to %j', (input, expected) => {
    expect(normalizeEmail(input)).toBe(expected);
  });
});

describe('normalizePhone', () => {
  it.each([
    ['a Dutch mobile with a space', '06 12345678', '+31612345678'],
    ['a Dutch mobile without separators', '0612345678', '+31612345678'],
    ['an Amsterdam landline with a dash', '020-1234567', '+31201234567'],
    ['an Amsterdam landline with parentheses', '(020) 123 4567', '+31201234567'],
    ['a number surrounded by spaces', '  06 12345678  ', '+31612345678'],
    ['a Dutch number with the 00 international prefix', '0031 6 12345678', '+31612345678'],
  ])('turns %s into E.164 with NL as default country', (_, raw, expected) => {
    expect(normalizePhone(raw, 'NL')).toBe(expected);
  });

  it.each([
    ['a German number', '+49 30 12345678', '+493012345678'],
    ['a Belgian mobile', '+32 470 12 34 56', '+32470123456'],
    ['a Dutch number already in E.164', '+31612345678', '+31612345678'],
  ])('keeps the country of %s given in international form', (_, raw, expected) => {
    expect(normalizePhone(raw, 'NL')).toBe(expected);
  });

  it('reads national numbers in the default country it is given', () => {
    expect(normalizePhone('030 12345678', 'DE')).toBe('+493012345678');
    expect(normalizePhone('0151 23456789', 'DE')).toBe('+4915123456789');
    // The same national digits read as Dutch are not a valid Dutch number.
    expect(normalizePhone('030 12345678', 'NL')).not.toBe('+493012345678');
  });

  it.each([
    ['letters', 'garbage'],
    ['an empty string', ''],
    ['too few digits', '123'],
    ['too many digits', '06 1234567890123'],
    ['an unassigned country code', '+999 12345678'],
  ])('gives undefined for %s', (_, raw) => {
    expect(normalizePhone(raw, 'NL')).toBeUndefined();
  });
});

describe('buildDmsContactUrl', () => {
  const template = 'https://dms.example.com/customer/{id}/';

  it('replaces {id} with a plain id unchanged', () => {
    expect(buildDmsContactUrl(template, 'C-1001')).toBe('https://dms.example.com/customer/C-1001/');
  });

  it.each([
    ['a slash', 'a/b', 'a%2Fb'],
    ['a question mark', 'a?b', 'a%3Fb'],
    ['a hash', 'a#b', 'a%23b'],
    ['a space', 'a b', 'a%20b'],
    ['an ampersand', 'a&b=c', 'a%26b%3Dc'],
    ['a percent sign', '100%', '100%25'],
    ['a colon', 'a:b', 'a%3Ab'],
    ['an @', 'jan@dms', 'jan%40dms'],
    ['a non-ASCII letter', 'é', '%C3%A9'],
    ['an emoji', '😀', '%F0%9F%98%80'],
    ['a replacement pattern of String#replace', '$&$`', '%24%26%24%60'],
  ])('URL-encodes %s', (_, id, encoded) => {
    expect(buildDmsContactUrl(template, id)).toBe(`https://dms.example.com/customer/${encoded}/`);
  });

  it('keeps an encoded slash from adding a path segment', () => {
    const url = new URL(buildDmsContactUrl(template, '../../admin'));
    expect(url.pathname).toBe('/customer/..%2F..%2Fadmin/');
  });

  it('leaves dots inside a longer id alone', () => {
    expect(buildDmsContactUrl(template, 'a..b')).toBe('https://dms.example.com/customer/a..b/');
    expect(buildDmsContactUrl(template, '.a')).toBe('https://dms.example.com/customer/.a/');
  });

  // The WHATWG URL standard (browsers, Node's URL) reads `%2E%2E` in a path exactly like `..`, so
  // no encoding makes a dots-only id safe: it is refused.
  it.each(['.', '..', '...', ''])('refuses the id %j', (id) => {
    expect(() => buildDmsContactUrl(template, id)).toThrow(RangeError);
  });

  it('keeps ids with dots among other characters as their own path segment', () => {
    for (const id of ['a..b', '.a', 'a.', '..a']) {
      expect(new URL(buildDmsContactUrl(template, id)).pathname).toBe(`/customer/${id}/`);
    }
  });

  it('cannot produce a javascript: URL, because the colon is encoded', () => {
    const url = buildDmsContactUrl('{id}', 'javascript:alert(1)');
    expect(url).toBe('javascript%3Aalert(1)');
    expect(url).not.toMatch(/^javascript:/i);
    expect(() => new URL(url)).toThrow();
  });

  it('stringifies a numeric id', () => {
    expect(buildDmsContactUrl(template, 0)).toBe('https://dms.example.com/customer/0/');
    expect(buildDmsContactUrl(template, Number.MAX_SAFE_INTEGER)).toBe(
      'https://dms.example.com/customer/9007199254740991/',
    );
  });

  it('replaces every {id} in the template', () => {
    expect(buildDmsContactUrl('https://dms.example.com/c/{id}?back={id}#{id}', 'a/b')).toBe(
      'https://dms.example.com/c/a%2Fb?back=a%2Fb#a%2Fb',
    );
  });

  it('leaves a template without {id} as it is', () => {
    expect(buildDmsContactUrl('https://dms.example.com/customers', 'x')).toBe(
      'https://dms.example.com/customers',
    );
  });
});

describe('parseRateLimit', () => {
  it.each([
    ['10/1s', { max: 10, durationMs: 1000 }],
    ['5/500ms', { max: 5, durationMs: 500 }],
    ['600/1m', { max: 600, durationMs: 60_000 }],
    ['1000/1s', { max: 1000, durationMs: 1000 }],
    ['3/2m', { max: 3, durationMs: 120_000 }],
    [' 10 / 1s ', { max: 10, durationMs: 1000 }],
  ])('parses %j', (value, expected) => {
    expect(parseRateLimit(value)).toEqual(expected);
  });

  it.each([
    '0/1s',
    '10/0s',
    '10/0ms',
    'abc',
    '10/1h',
    '10',
    '/1s',
    '10/s',
    '-1/1s',
    '10/-1s',
    '1.5/1s',
    '10/1.5s',
    '10/1S',
    '',
  ])('rejects %j', (value) => {
    expect(parseRateLimit(value)).toBeUndefined();
  });
});
