import { describe, expect, it } from 'vitest';
import { jobOptionsFor, QUEUE, TIER_BANDS } from './catalog.ts';
import { bulkJobs, contentKey, linkContactEntry, toLinkContactJob } from './entries.ts';

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
  it('is the same for a numeric id and its string form (a CSV cell is always a string)', () => {
    const numeric = toLinkContactJob({ id: 42, organization: 'o', email: 'a@b.nl' }, 'NL', now);
    const text = toLinkContactJob({ id: '42', organization: 'o', email: 'a@b.nl' }, 'NL', now);
    expect(contentKey(numeric)).toBe(contentKey(text));
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

describe('linkContactEntry', () => {
  const data = toLinkContactJob({ id: 'x', organization: 'o', email: 'a@b.nl' }, 'NL', now);

  it('puts live events in the live band, ahead of bulk ones', () => {
    const live = linkContactEntry(data, { attempts: 3, bulk: false, jobId: 'j-1' });
    expect(live).toEqual({
      name: 'dms.contact',
      data,
      opts: {
        ...jobOptionsFor(QUEUE.linkContact, 3),
        priority: TIER_BANDS.live.last,
        jobId: 'j-1',
        deduplication: { id: contentKey(data) },
      },
    });
    expect(linkContactEntry(data, { attempts: 3, bulk: true }).opts?.priority).toBe(
      TIER_BANDS.bulk.last,
    );
  });

  it('gives every entry its own id and a 128-bit content key as its deduplication id', () => {
    const [a, b] = [1, 2].map(() => linkContactEntry(data, { attempts: 3, bulk: false }));
    expect(a?.opts?.jobId).not.toBe(b?.opts?.jobId);
    expect(a?.opts?.deduplication?.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

describe('bulkJobs', () => {
  const events = [
    { id: 1, organization: 'o', email: 'a@b.nl' },
    { id: 2, organization: 'o', telephone: '020-1234567' },
  ];

  it('builds bulk-priority entries with the catalog options and the content dedup id', () => {
    const jobs = bulkJobs(events, {
      attempts: 4,
      defaultPhoneCountry: 'NL',
      now,
      jobId: (i) => `j-${i}`,
    });
    expect(jobs).toHaveLength(2);
    const [first, second] = jobs;
    expect(first).toEqual({
      name: 'dms.contact.bulk',
      data: toLinkContactJob(events[0]!, 'NL', now),
      opts: {
        ...jobOptionsFor(QUEUE.linkContact, 4),
        priority: TIER_BANDS.bulk.last,
        jobId: 'j-0',
        deduplication: { id: contentKey(toLinkContactJob(events[0]!, 'NL', now)) },
      },
    });
    expect(second?.data.phoneE164).toBe('+31201234567');
    expect(second?.opts?.jobId).toBe('j-1');
  });

  it('gives every job its own random id by default', () => {
    const jobs = bulkJobs(events, { attempts: 1, defaultPhoneCountry: 'NL' });
    const ids = jobs.map((j) => j.opts?.jobId);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
