import { describe, expect, it } from 'vitest';
import { DmsContactEvent } from './dms-contact.ts';
import { describeIssues, findForbiddenKey } from './json-input.ts';

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

describe('describeIssues', () => {
  it('names the path of each problem, one after another', () => {
    const parsed = DmsContactEvent.safeParse({ id: 'a b', organization: 'o', email: 'nope' });
    expect(parsed.success).toBe(false);
    const text = describeIssues(parsed.error!);
    expect(text).toMatch(/^id: must be 1-128 characters .*; email: Invalid email/);
  });

  it('leaves a problem without a path unprefixed', () => {
    const parsed = DmsContactEvent.safeParse('not an object');
    expect(describeIssues(parsed.error!)).not.toMatch(/^: /);
  });
});
