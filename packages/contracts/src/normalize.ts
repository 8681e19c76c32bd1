import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js/max';

/** Emails are compared trimmed and lower-cased, the way Web1on1 stores them. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * E.164 form of a national or international number, or `undefined` when libphonenumber cannot make a
 * valid number of it (the raw form is still tried by the worker).
 */
export function normalizePhone(raw: string, defaultCountry: string): string | undefined {
  const parsed = parsePhoneNumberFromString(raw.trim(), defaultCountry as CountryCode);
  return parsed?.isValid() ? parsed.number : undefined;
}

/**
 * Builds the "View in DMS" URL with the id URL-encoded. Ids of dots only are refused: URL parsers
 * treat `..` and `%2E%2E` alike as "up one level", so no encoding makes them safe in a path.
 * @throws RangeError for such an id (the schemas reject it before it gets here).
 */
export function buildDmsContactUrl(template: string, id: string | number): string {
  const encoded = encodeURIComponent(String(id));
  if (/^\.*$/.test(encoded)) throw new RangeError('a DMS contact id of dots only cannot be linked');
  return template.replaceAll('{id}', encoded);
}

/** Parses `N/500ms`, `N/1s`, `N/1m` into a request count and a window length. */
export function parseRateLimit(value: string): { max: number; durationMs: number } | undefined {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*(ms|s|m)\s*$/.exec(value);
  if (!match) return undefined;
  const max = Number(match[1]);
  const amount = Number(match[2]);
  const unitMs = match[3] === 'ms' ? 1 : match[3] === 's' ? 1000 : 60_000;
  const durationMs = amount * unitMs;
  if (max < 1 || durationMs < 1) return undefined;
  return { max, durationMs };
}
