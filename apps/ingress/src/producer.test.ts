import { describe, expect, it } from 'vitest';
import { contentKey, toLinkContactJob } from './producer.ts';

const now = new Date('2026-01-01T00:00:00Z');

describe('toLinkContactJob', () => {
  it('normalises email and phone and keeps the raw phone only when it differs', () => {
    expect(
      toLinkContactJob(
        { id: 7, organization: 'o', email: ' A@B.NL ', phone: '020-1234567' },
        'NL',
        now,
      ),
    ).toEqual({
      dmsContactId: '7',
      organization: 'o',
      email: 'a@b.nl',
      phoneE164: '+31201234567',
      phoneRaw: '020-1234567',
      receivedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(
      toLinkContactJob({ id: 'x', organization: 'o', telephone: '+31201234567' }, 'NL', now),
    ).toEqual({
      dmsContactId: 'x',
      organization: 'o',
      phoneE164: '+31201234567',
      receivedAt: '2026-01-01T00:00:00.000Z',
    });
  });

  it('uses the default country for national numbers', () => {
    expect(
      toLinkContactJob({ id: 'x', organization: 'o', phone: '030 901 1234' }, 'DE', now).phoneE164,
    ).toBe('+49309011234');
  });

  it('keeps an unparseable number only in raw form', () => {
    const job = toLinkContactJob({ id: 'x', organization: 'o', phone: '123' }, 'NL', now);
    expect(job.phoneE164).toBeUndefined();
    expect(job.phoneRaw).toBe('123');
  });
});

describe('contentKey', () => {
  const base = toLinkContactJob({ id: 'x', organization: 'o', email: 'a@b.nl' }, 'NL', now);
  it('ignores the receive time and equal normalisations', () => {
    const later = toLinkContactJob(
      { id: 'x', organization: 'o', email: ' A@b.NL' },
      'NL',
      new Date(),
    );
    expect(contentKey(later)).toBe(contentKey(base));
  });
  it.each([
    ['organization', { organization: 'p' }],
    ['id', { dmsContactId: 'y' }],
    ['email', { email: 'c@b.nl' }],
    ['phone', { phoneE164: '+31201234567' }],
  ])('changes with the %s', (_name, change) => {
    expect(contentKey({ ...base, ...change })).not.toBe(contentKey(base));
  });
});
