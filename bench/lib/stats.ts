/** Small statistics helpers; every input array may be empty (then the answer is NaN). */

export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function min(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length === 0 ? Number.NaN : Math.min(...finite);
}

export function max(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length === 0 ? Number.NaN : finite.reduce((a, b) => Math.max(a, b), -Infinity);
}

/** Nearest-rank percentile (p in 0–100) of unsorted values. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export { maxInSlidingWindow } from '@contact-linker/testkit';

/**
 * The mean number of timestamps in a window `[t, t + windowMs)` over every start `t` in
 * `[from, to - windowMs]`: the request rate of that interval measured in windows, which unlike a
 * plain count ÷ duration does not depend on where bursts fall relative to the interval's ends.
 */
export function meanInSlidingWindow(
  timestamps: number[],
  windowMs: number,
  from: number,
  to: number,
): number {
  const lastStart = to - windowMs;
  const span = lastStart - from;
  if (span <= 0) return Number.NaN;
  let covered = 0;
  for (const t of timestamps) {
    // Window starts s with s <= t < s + windowMs, i.e. s in (t - windowMs, t].
    covered += Math.max(0, Math.min(t, lastStart) - Math.max(t - windowMs, from));
  }
  return covered / span;
}
