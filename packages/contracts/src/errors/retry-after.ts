/**
 * Parses an HTTP `Retry-After` value (delta-seconds or an HTTP date) into milliseconds from `now`.
 * Missing or unparsable values give `fallbackMs`; the result is clamped to [0, maxMs] so a hostile or
 * broken server cannot park a queue for days.
 */
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /;

export function parseRetryAfter(
  value: string | null | undefined,
  { now = Date.now(), fallbackMs = 1000, maxMs = 10 * 60_000 } = {},
): number {
  if (value == null || value.trim() === '') return fallbackMs;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    ms = Number(trimmed) * 1000;
  } else {
    // Only the HTTP-date forms (RFC 9110: IMF-fixdate, RFC 850, asctime) all start with a day name;
    // Date.parse alone would read garbage such as "x 1" as a date in the past and retry at once.
    if (!HTTP_DATE.test(trimmed)) return fallbackMs;
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return fallbackMs;
    ms = at - now;
  }
  return Math.min(Math.max(Math.ceil(ms), 0), maxMs);
}
