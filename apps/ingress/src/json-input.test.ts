import { describe, expect, it } from 'vitest';
import { mediaType, parseJsonStrict } from './json-input.ts';

describe('parseJsonStrict', () => {
  it('throws catalog errors', () => {
    expect(() => parseJsonStrict('{')).toThrow(expect.objectContaining({ code: 'invalid_json' }));
    expect(() => parseJsonStrict('{"__proto__":1}')).toThrow(
      expect.objectContaining({ code: 'forbidden_key' }),
    );
    expect(parseJsonStrict('{"a":1}')).toEqual({ a: 1 });
  });
});

describe('mediaType', () => {
  it.each([
    ['application/json', 'application/json'],
    ['Application/JSON; charset=UTF-8', 'application/json'],
    ['', undefined],
    [undefined, undefined],
  ])('%s → %s', (header, expected) => {
    expect(mediaType(header)).toBe(expected);
  });
});
