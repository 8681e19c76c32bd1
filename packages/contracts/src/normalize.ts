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
 * Builds the "View in DMS" URL. The id is URL-encoded; `.` and `..` alone are encoded too, because
 * `encodeURIComponent` leaves dots alone and a bare `..` segment would walk up the DMS's path.
 */
export function buildDmsContactUrl(template: string, id: string | number): string {
  const encoded = encodeURIComponent(String(id));
  const safe = /^\.+$/.test(encoded) ? encoded.replaceAll('.', '%2E') : encoded;
  return template.replaceAll('{id}', safe);
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
