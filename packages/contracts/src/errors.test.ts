import { describe, expect, it } from 'vitest';
import {
  errorForStatus,
  PermanentError,
  parseRetryAfter,
  RateLimitedError,
  TransientError,
} from './errors/index.ts';

const NOW = Date.parse('2025-01-01T00:00:00Z');

describe('parseRetryAfter', () => {
  it.each([
    ['0', 0],
    ['5', 5000],
    ['120', 120_000],
    ['1.5', 1500],
    ['0.0001', 1],
    [' 7 ', 7000],
  ])('reads delta-seconds %j as %i ms', (value, ms) => {
    expect(parseRetryAfter(value, { now: NOW })).toBe(ms);
  });

  it('reads an HTTP date relative to the injected now', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', { now: NOW })).toBe(30_000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', { now: NOW + 10_000 })).toBe(20_000);
  });

  it('gives 0 for an HTTP date in the past', () => {
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:59:00 GMT', { now: NOW })).toBe(0);
  });

  it.each([
    ['missing', undefined],
    ['null', null],
    ['empty', ''],
    ['blank', '   '],
    ['a word', 'soon'],
    ['a weekday alone', 'Monday'],
    ['a sentence', 'in 5 seconds'],
    ['scientific notation', '1e3'],
    ['NaN', 'NaN'],
  ])('falls back when the value is %s', (_, value) => {
    expect(parseRetryAfter(value, { now: NOW })).toBe(1000);
    expect(parseRetryAfter(value, { now: NOW, fallbackMs: 250 })).toBe(250);
  });

  // V8's Date.parse reads "x 1" as 2001 and "-1" as the year -1; only real HTTP dates count.
  it.each(['x 1', 'abc 12', '-1', '1 Jan'])(
    'falls back for %j, which Date.parse would accept',
    (value) => {
      expect(parseRetryAfter(value, { now: NOW })).toBe(1000);
    },
  );

  it('reads the obsolete RFC 850 and asctime date forms too', () => {
    expect(
      parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', { now: Date.UTC(1994, 10, 6, 8, 49, 30) }),
    ).toBe(7000);
    expect(
      parseRetryAfter('Sun Nov  6 08:49:37 1994', { now: Date.parse('Sun Nov  6 08:49:30 1994') }),
    ).toBe(7000);
  });

  it('clamps to maxMs (10 minutes by default)', () => {
    expect(parseRetryAfter('3600', { now: NOW })).toBe(600_000);
    expect(parseRetryAfter('600', { now: NOW })).toBe(600_000);
    expect(parseRetryAfter('3600', { now: NOW, maxMs: 5000 })).toBe(5000);
    expect(parseRetryAfter('Fri, 01 Jan 2027 00:00:00 GMT', { now: NOW })).toBe(600_000);
  });
});

describe('error classes', () => {
  it.each([
    ['PermanentError', new PermanentError('boom')],
    ['TransientError', new TransientError('boom')],
    ['RateLimitedError', new RateLimitedError('boom', { retryAfterMs: 10 })],
  ])('%s sets its name and is an Error', (name, error) => {
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(name);
    expect(error.message).toBe('boom');
    expect(String(error)).toBe(`${name}: boom`);
    expect(error.status).toBeUndefined();
  });

  it('keeps cause and status', () => {
    const cause = new TypeError('fetch failed');
    for (const error of [
      new PermanentError('x', { cause, status: 404 }),
      new TransientError('x', { cause, status: 503 }),
      new RateLimitedError('x', { cause, status: 429, retryAfterMs: 1 }),
    ]) {
      expect(error.cause).toBe(cause);
      expect(error.status).not.toBeUndefined();
    }
  });

  it('RateLimitedError carries retryAfterMs', () => {
    expect(new RateLimitedError('slow down', { retryAfterMs: 1234 }).retryAfterMs).toBe(1234);
  });

  it('the classes are distinct, so retry decisions by instanceof cannot mix them up', () => {
    const permanent = new PermanentError('x');
    expect(permanent).not.toBeInstanceOf(TransientError);
    expect(permanent).not.toBeInstanceOf(RateLimitedError);
    expect(new TransientError('x')).not.toBeInstanceOf(PermanentError);
    expect(new RateLimitedError('x', { retryAfterMs: 1 })).not.toBeInstanceOf(TransientError);
  });
});

describe('errorForStatus', () => {
  const table = [
    [301, PermanentError],
    [302, PermanentError],
    [304, PermanentError],
    [307, PermanentError],
    [400, PermanentError],
    [401, PermanentError],
    [403, PermanentError],
    [404, PermanentError],
    [409, PermanentError],
    [410, PermanentError],
    [422, PermanentError],
    [408, TransientError],
    [429, RateLimitedError],
    [500, TransientError],
    [502, TransientError],
    [503, TransientError],
    [504, TransientError],
    [599, TransientError],
  ] as const;

  it.each(table.map(([status, cls]) => [status, cls.name, cls] as const))(
    'maps %i to %s',
    (status, _, cls) => {
      const cause = { body: 'upstream said no' };
      const error = errorForStatus(status, { message: `HTTP ${status}`, cause, retryAfter: '2' });
      expect(error).toBeInstanceOf(cls);
      expect(error.name).toBe(cls.name);
      expect(error.status).toBe(status);
      expect(error.cause).toBe(cause);
      expect(error.message).toBe(`HTTP ${status}`);
    },
  );

  it('follows the contract for every status from 300 to 599', () => {
    const wrong: string[] = [];
    for (let status = 300; status <= 599; status++) {
      const expected =
        status === 429
          ? 'RateLimitedError'
          : status === 408 || status >= 500
            ? 'TransientError'
            : 'PermanentError';
      const actual = errorForStatus(status, { message: 'x' });
      if (actual.name !== expected || actual.status !== status) {
        wrong.push(`${status}: ${actual.name} (status ${actual.status}), expected ${expected}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('429 takes retryAfterMs from the Retry-After header', () => {
    const seconds = errorForStatus(429, { message: 'x', retryAfter: '7' });
    expect(seconds).toBeInstanceOf(RateLimitedError);
    expect((seconds as RateLimitedError).retryAfterMs).toBe(7000);

    const date = errorForStatus(429, {
      message: 'x',
      retryAfter: 'Wed, 01 Jan 2025 00:00:03 GMT',
      now: NOW,
    });
    expect((date as RateLimitedError).retryAfterMs).toBe(3000);
  });

  it('429 without a usable Retry-After still waits the fallback', () => {
    for (const retryAfter of [undefined, null, 'soon']) {
      const error = errorForStatus(429, { message: 'x', retryAfter });
      expect((error as RateLimitedError).retryAfterMs, String(retryAfter)).toBe(1000);
    }
  });
});
