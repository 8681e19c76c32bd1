import { describe, expect, it } from 'vitest';
import { DmsContactBulk, DmsContactEvent, MAX_BULK_CONTACTS } from './dms-contact.ts';

const valid = { id: 'C-1001', organization: 'org_1', email: 'jan@example.com' };

/** Paths of the issues zod reports, so a rejection is pinned to the field the contract names. */
function issuePaths(input: unknown): string[] {
  const result = DmsContactEvent.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((issue) => issue.path.join('.'));
}

describe('DmsContactEvent id', () => {
  it.each([
    ['a single character', 'x'],
    ['128 characters', 'a'.repeat(128)],
    ['every allowed punctuation mark', 'A-z_0.9~:@'],
    ['an email-like id', 'jan@dms:42'],
    ['dots among other characters', 'a..b'],
  ])('accepts a string id of %s', (_, id) => {
    expect(DmsContactEvent.safeParse({ ...valid, id }).success).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['129 characters', 'a'.repeat(129)],
    ['a slash', 'a/b'],
    ['a question mark', 'a?b'],
    ['a hash', 'a#b'],
    ['a space', 'a b'],
    ['a percent sign', 'a%2F'],
    ['non-ASCII', 'é'],
    ['a newline', 'a\nb'],
    ['a lone dot (a path step in any URL)', '.'],
    ['two dots (up one level in any URL)', '..'],
  ])('rejects a string id that is %s', (_, id) => {
    expect(issuePaths({ ...valid, id })).toContain('id');
  });

  it.each([
    ['zero', 0],
    ['a small integer', 42],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER],
  ])('accepts a numeric id of %s', (_, id) => {
    const result = DmsContactEvent.safeParse({ ...valid, id });
    expect(result.success).toBe(true);
    expect(result.data?.id).toBe(id);
  });

  it.each([
    ['2**53 (not a safe integer)', 2 ** 53],
    ['a float', 1.5],
    ['a negative integer', -1],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('rejects a numeric id of %s', (_, id) => {
    expect(issuePaths({ ...valid, id })).toContain('id');
  });

  it.each([
    ['missing', undefined],
    ['null', null],
    ['a boolean', true],
    ['an object', { id: 1 }],
  ])('rejects an id that is %s', (_, id) => {
    expect(issuePaths({ ...valid, id })).toContain('id');
  });
});

describe('DmsContactEvent organization', () => {
  it.each([
    ['one character', 'o'],
    ['64 characters', 'o'.repeat(64)],
    ['letters, digits, _ and -', 'Org_9-x'],
  ])('accepts %s', (_, organization) => {
    expect(DmsContactEvent.safeParse({ ...valid, organization }).success).toBe(true);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['65 characters', 'o'.repeat(65)],
    ['a dot', 'org.1'],
    ['a slash', 'org/1'],
    ['a space', 'org 1'],
    ['a number', 42],
  ])('rejects an organization that is %s', (_, organization) => {
    expect(issuePaths({ ...valid, organization })).toContain('organization');
  });
});

describe('DmsContactEvent email', () => {
  it('trims the email and keeps its case (lower-casing is normalizeEmail’s job)', () => {
    const result = DmsContactEvent.parse({ ...valid, email: '  Jan.Jansen@Example.COM \n' });
    expect(result.email).toBe('Jan.Jansen@Example.COM');
  });

  it('accepts an email of exactly 254 characters', () => {
    const email = `${'a'.repeat(64)}@${'b'.repeat(185)}.com`;
    expect(email).toHaveLength(254);
    expect(DmsContactEvent.safeParse({ ...valid, email }).success).toBe(true);
  });

  it.each([
    ['no @', 'jan.example.com'],
    ['no domain', 'jan@'],
    ['no top-level domain', 'jan@example'],
    ['two @', 'jan@@example.com'],
    ['an inner space', 'jan jansen@example.com'],
    ['only spaces', '   '],
    ['empty', ''],
    ['longer than 254 characters', `${'a'.repeat(64)}@${'b'.repeat(190)}.com`],
    ['a number', 42],
  ])('rejects an email with %s', (_, email) => {
    expect(issuePaths({ ...valid, email })).toContain('email');
  });
});

describe('DmsContactEvent phone', () => {
  const noEmail = { id: 7, organization: 'org_1' };

  it.each([
    ['national with a space', '06 12345678'],
    ['international with +', '+31 6 1234 5678'],
    ['with parentheses and dash', '(020) 123-4567'],
    ['with dots and slashes', '020.123/4567'],
    ['surrounded by spaces (trimmed)', '  0612345678  '],
  ])('accepts a telephone %s', (_, telephone) => {
    expect(DmsContactEvent.safeParse({ ...noEmail, telephone }).success).toBe(true);
  });

  it('trims the phone number', () => {
    expect(DmsContactEvent.parse({ ...noEmail, phone: '  0612345678 ' }).phone).toBe('0612345678');
  });

  it.each([
    ['letters', '06-CALL-ME'],
    ['a + in the middle', '06+12345678'],
    ['fewer than 3 digits', '(1)-2'],
    ['fewer than 3 characters', '12'],
    ['more than 40 characters', '1'.repeat(41)],
    ['only spaces', '    '],
    ['a number instead of a string', 612345678],
  ])('rejects a telephone with %s', (_, telephone) => {
    expect(issuePaths({ ...noEmail, telephone })).toContain('telephone');
  });

  it('checks `phone` with the same rules as `telephone`', () => {
    expect(issuePaths({ ...noEmail, phone: '06-CALL-ME' })).toContain('phone');
  });

  it('keeps both telephone and phone (the ingress decides that telephone wins)', () => {
    const parsed = DmsContactEvent.parse({
      ...noEmail,
      telephone: '0612345678',
      phone: '0201234567',
    });
    expect(parsed).toMatchObject({ telephone: '0612345678', phone: '0201234567' });
  });
});

describe('DmsContactEvent contact methods', () => {
  it.each([
    ['email', { email: 'jan@example.com' }],
    ['telephone', { telephone: '0612345678' }],
    ['phone', { phone: '0612345678' }],
  ])('accepts %s as the only contact method', (_, method) => {
    expect(DmsContactEvent.safeParse({ id: 1, organization: 'o', ...method }).success).toBe(true);
  });

  it('rejects an event without email, telephone or phone, reporting it on `email`', () => {
    const result = DmsContactEvent.safeParse({ id: 1, organization: 'o' });
    expect(result.success).toBe(false);
    expect(result.error?.issues).toEqual([
      expect.objectContaining({
        path: ['email'],
        message: 'email, telephone or phone is required',
      }),
    ]);
  });

  it('does not count explicitly undefined methods as given', () => {
    const event = { id: 1, organization: 'o', email: undefined, telephone: undefined };
    expect(DmsContactEvent.safeParse(event).success).toBe(false);
  });
});

describe('DmsContactEvent unknown fields', () => {
  it('strips fields the contract does not name', () => {
    const parsed = DmsContactEvent.parse({
      ...valid,
      firstName: 'Jan',
      nested: { deep: true },
      links: ['x'],
    });
    expect(parsed).toEqual(valid);
  });

  it('rejects a body that is not an object', () => {
    for (const body of [null, 'jan@example.com', [valid], 42]) {
      expect(DmsContactEvent.safeParse(body).success, JSON.stringify(body)).toBe(false);
    }
  });
});

describe('DmsContactBulk', () => {
  it('accepts 1 to MAX_BULK_CONTACTS items of any shape (each is validated on its own later)', () => {
    expect(DmsContactBulk.safeParse({ contacts: [valid, 'junk', null] }).success).toBe(true);
    const full = Array.from({ length: MAX_BULK_CONTACTS }, () => valid);
    expect(DmsContactBulk.safeParse({ contacts: full }).success).toBe(true);
  });

  it('rejects an empty list, more than MAX_BULK_CONTACTS items, or a missing list', () => {
    expect(MAX_BULK_CONTACTS).toBe(1000);
    expect(DmsContactBulk.safeParse({ contacts: [] }).success).toBe(false);
    const tooMany = Array.from({ length: MAX_BULK_CONTACTS + 1 }, () => valid);
    expect(DmsContactBulk.safeParse({ contacts: tooMany }).success).toBe(false);
    expect(DmsContactBulk.safeParse({}).success).toBe(false);
    expect(DmsContactBulk.safeParse({ contacts: valid }).success).toBe(false);
  });
});
