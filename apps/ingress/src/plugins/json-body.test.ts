import { describe, expect, it } from 'vitest';
import { findForbiddenKey, mediaType, parseJsonStrict } from './json-body.ts';

describe('findForbiddenKey', () => {
  it.each([
    ['{"__proto__":{"polluted":true}}', '__proto__'],
    ['{"a":{"b":[{"constructor":{}}]}}', 'constructor'],
    ['{"a":[[[{"prototype":1}]]]}', 'prototype'],
    ['{"\\u0063onstructor":1}', 'constructor'],
  ])('finds it in %s', (text, key) => {
    expect(findForbiddenKey(JSON.parse(text))).toBe(key);
  });

  it('passes clean bodies, including the words as values', () => {
    expect(findForbiddenKey({ a: ['constructor', { b: '__proto__' }], c: null })).toBeUndefined();
  });

  it('survives very deep nesting without recursion', () => {
    const deep = `${'['.repeat(100_000)}{"prototype":1}${']'.repeat(100_000)}`;
    expect(findForbiddenKey(JSON.parse(deep))).toBe('prototype');
  });
});

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
