/**
 * Masks emails and phone numbers in a serialized log line. It runs on the final JSON text, so it
 * also catches PII that reached a log through a free-text message or an error string, where
 * path-based redaction cannot see it.
 */
// Also in URL-encoded form (`%40`), as found in query strings.
const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(?:@|%40)([A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;
// A JSON string value that is entirely a phone number: `+` and 7-15 digits, or a national number
// with separators. Requiring the whole quoted value keeps timestamps and ids out of it.
const PHONE = /"(\+?)([\d(])([\d ().-]{5,18})(\d{2})"/g;

export function maskPii(line: string): string {
  return line
    .replace(EMAIL, '$1***@$2')
    .replace(PHONE, (match, plus: string, first: string, middle: string, last: string) => {
      const digits = middle.replace(/\D/g, '');
      if (digits.length + 2 < 6) return match;
      return `"${plus}${first}${'*'.repeat(middle.length)}${last}"`;
    });
}

// Free text of any kind (an exception message, a failure reason in a span): the whole match goes.
const EMAIL_IN_TEXT = /[^\s@"'<>(),;:/?=&]+(?:@|%40)[^\s@"'<>(),;:/?=&]+\.[A-Za-z]{2,}/g;
const JWT_IN_TEXT = /eyJ[\w-]*\.[\w-]*\.?[\w-]*/g;
const BEARER_IN_TEXT = /Bearer\s+[^\s,;]+/gi;
const PHONE_IN_TEXT = /(?<![\w-])\+?\d[\d\s().-]{5,}\d(?![\w-])/g;

/** Masks emails, phone numbers and tokens in free text (a failure reason, an exception message). */
export function scrubText(text: string): string {
  return text
    .replace(JWT_IN_TEXT, '<token>')
    .replace(BEARER_IN_TEXT, 'Bearer <token>')
    .replace(EMAIL_IN_TEXT, '<email>')
    .replace(PHONE_IN_TEXT, '<number>');
}

/** Paths whose values never reach a log: credentials and signatures. */
export const REDACT_PATHS = [
  'authorization',
  'token',
  'refreshToken',
  'secret',
  'password',
  'apiKey',
  '*.authorization',
  '*.token',
  '*.refreshToken',
  '*.secret',
  '*.password',
  '*.apiKey',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-hub-signature"]',
  'req.headers["webhook-signature"]',
  'headers.authorization',
  'headers["x-hub-signature"]',
  'headers["webhook-signature"]',
];

const PII_KEYS = /^(email|telephone|phone|phoneE164|phoneRaw|mobile)$/i;

/** Keeps the first character and the domain, or the first and last two digits. */
function maskScalar(key: string | undefined, value: string): string {
  if (key !== undefined && PII_KEYS.test(key)) {
    const at = value.indexOf('@');
    if (at > 0) return `${value[0]}***${value.slice(at)}`;
    return value.length > 4
      ? `${value.slice(0, 2)}${'*'.repeat(value.length - 4)}${value.slice(-2)}`
      : '***';
  }
  return maskPii(JSON.stringify(value)).slice(1, -1);
}

/**
 * A copy of `value` with emails and phone numbers masked: fields named like contact details
 * entirely, and anything else that looks like one in any string. For showing job data to people
 * (Bull Board); the stored data is never changed.
 */
export function maskDeep(value: unknown, key?: string): unknown {
  if (typeof value === 'string') return maskScalar(key, value);
  if (Array.isArray(value)) return value.map((item) => maskDeep(item));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskDeep(v, k)]));
  }
  return value;
}
