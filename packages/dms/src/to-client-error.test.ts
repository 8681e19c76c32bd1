import { PermanentError, RateLimitedError, TransientError } from '@contact-linker/contracts';
import { describe, expect, it } from 'vitest';
import { toClientError } from './to-client-error.ts';

const NOW = Date.parse('2025-06-01T12:00:00Z');

function answer(status: number, headers: Record<string, string> = {}) {
  return { status, headers: new Headers(headers) };
}

describe('toClientError: HTTP answers', () => {
  // Every status the contract names, plus the neighbours that must not slip into another class.
  it.each([
    [0, PermanentError], // an opaque redirect, should a fetch implementation report one
    [301, PermanentError],
    [302, PermanentError],
    [303, PermanentError],
    [307, PermanentError],
    [308, PermanentError],
    [304, PermanentError],
    [400, PermanentError],
    [401, PermanentError],
    [403, PermanentError],
    [404, PermanentError],
    [405, PermanentError],
    [409, PermanentError],
    [410, PermanentError],
    [413, PermanentError],
    [422, PermanentError],
    [408, TransientError],
    [429, RateLimitedError],
    [500, TransientError],
    [502, TransientError],
    [503, TransientError],
    [504, TransientError],
    [599, TransientError],
  ])('%i → %o', (status, errorClass) => {
    const error = toClientError(answer(status));
    expect(error).toBeInstanceOf(errorClass);
    expect(error.status).toBe(status);
    expect(error.message).toContain(`DMS answered ${status || 'a redirect'}`);
  });

  it.each([
    ['delta seconds', '7', 7_000],
    ['an HTTP date', new Date(NOW + 30_000).toUTCString(), 30_000],
    ['nothing (fallback)', undefined, 1_000],
    ['garbage (fallback)', 'soon', 1_000],
  ])('429 with Retry-After %s → retryAfterMs', (_name, retryAfter, expected) => {
    const headers: Record<string, string> =
      retryAfter === undefined ? {} : { 'retry-after': retryAfter };
    const error = toClientError(answer(429, headers), { now: NOW });
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(expected);
  });

  it('names the redirect target, since a moved endpoint needs an operator', () => {
    const error = toClientError(answer(302, { location: 'https://dms.example/new' }));
    expect(error.message).toBe(
      'DMS answered 302; redirects are not followed (Location: https://dms.example/new)',
    );
  });
});

describe('toClientError: transport failures', () => {
  it('a timeout → TransientError naming the timeout, original as cause', () => {
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    const error = toClientError(timeout, { timeoutMs: 300 });
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe('DMS did not answer within 300 ms');
    expect(error.cause).toBe(timeout);
  });

  it('an abort → TransientError', () => {
    const error = toClientError(new DOMException('aborted', 'AbortError'));
    expect(error).toBeInstanceOf(TransientError);
  });

  it("undici's 'fetch failed' → TransientError with the socket error code", () => {
    const failed = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    });
    const error = toClientError(failed);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe('DMS request failed: ECONNREFUSED');
    expect(error.cause).toBe(failed);
  });

  it('anything else thrown → TransientError (retrying is safe, attempts are bounded)', () => {
    expect(toClientError('boom')).toBeInstanceOf(TransientError);
    expect(toClientError(new Error('odd'))).toBeInstanceOf(TransientError);
  });

  it.each([
    new PermanentError('p'),
    new TransientError('t'),
    new RateLimitedError('r', { retryAfterMs: 5 }),
  ])('an existing %o passes through unchanged', (original) => {
    expect(toClientError(original)).toBe(original);
  });
});
