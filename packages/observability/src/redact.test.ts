import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, maskDeep, maskPii } from './index.ts';
import { scrubText } from './redact.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, destination };
}

describe('maskPii', () => {
  it.each([
    ['{"email":"jane.doe@example.com"}', '{"email":"j***@example.com"}'],
    ['{"msg":"no match for jane@dealer.nl today"}', '{"msg":"no match for j***@dealer.nl today"}'],
    ['{"phone":"+31612345678"}', '{"phone":"+3********78"}'],
    ['{"phone":"06 1234 5678"}', '{"phone":"0*********78"}'],
    ['{"phone":"(020) 123-4567"}', '{"phone":"(***********67"}'],
  ])('masks %s', (input, expected) => {
    expect(maskPii(input)).toBe(expected);
  });

  it('leaves timestamps, ids and short numbers alone', () => {
    const line =
      '{"time":"2026-11-24T21:00:00.000Z","pid":12345,"jobId":"3f2a9c1e-0b7d-4e7a-9f00-1234abcd5678","attempt":"3"}';
    expect(maskPii(line)).toBe(line);
  });
});

describe('createLogger', () => {
  it('removes credentials and masks PII in every field', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ name: 'test', destination });
    logger.info(
      {
        req: {
          headers: { authorization: 'Bearer super-secret-key', 'x-hub-signature': 'sha1=abc' },
        },
        token: 'eyJhbGciOi.jwt.token',
        contact: { email: 'john@example.com', telephone: '+31201234567' },
      },
      'linked john@example.com',
    );
    const out = lines.join('');
    expect(out).not.toContain('super-secret-key');
    expect(out).not.toContain('sha1=abc');
    expect(out).not.toContain('eyJhbGciOi');
    expect(out).not.toContain('john@example.com');
    expect(out).not.toContain('+31201234567');
    expect(out).toContain('j***@example.com');
    expect(out).toContain('[redacted]');
  });
});

describe('maskDeep', () => {
  it('masks contact fields by name and PII-looking strings anywhere, without touching the input', () => {
    const input = {
      dmsContactId: 'D-1',
      email: 'jane.doe@example.com',
      phoneE164: '+31612345678',
      phoneRaw: '06 12345678',
      notification: {
        profile: { telephone: '+31201234567', name: 'Jane', note: 'mail jane@x.nl' },
      },
      list: ['+31612345678', 3, null],
    };
    const copy = structuredClone(input);
    expect(maskDeep(input)).toEqual({
      dmsContactId: 'D-1',
      email: 'j***@example.com',
      phoneE164: '+3********78',
      phoneRaw: '06*******78',
      notification: {
        profile: { telephone: '+3********67', name: 'Jane', note: 'mail j***@x.nl' },
      },
      list: ['+3********78', 3, null],
    });
    expect(input).toEqual(copy);
    expect(JSON.stringify(maskDeep(input))).not.toMatch(/jane\.doe|612345|201234/);
  });
});

describe('scrubText', () => {
  it('scrubText masks emails, phone numbers and tokens, and keeps ids and the rest', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJfaWQiOiJ4In0.c2lnbmF0dXJl';
    expect(
      scrubText(
        `Web1on1 GET /v2/contacts answered 500: no jane.doe@example.com (+31 6 12345678), token ${jwt}, Bearer abc.def, job 5e1dc0ffee00000000000003`,
      ),
    ).toBe(
      'Web1on1 GET /v2/contacts answered 500: no <email> (<number>), token <token>, Bearer <token>, job 5e1dc0ffee00000000000003',
    );
    expect(scrubText('job 3f2a9c1e-1b2c-4d5e-8f90-123456789abc failed')).toBe(
      'job 3f2a9c1e-1b2c-4d5e-8f90-123456789abc failed',
    );
  });
});
