/**
 * Parses an HTTP `Retry-After` value (delta-seconds or an HTTP date) into milliseconds from `now`.
 * Missing or unparsable values give `fallbackMs`; the result is clamped to [0, maxMs] so a hostile or
 * broken server cannot park a queue for days.
 */
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
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return fallbackMs;
    ms = at - now;
  }
  return Math.min(Math.max(Math.ceil(ms), 0), maxMs);
}
