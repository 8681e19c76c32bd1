import { describe, expect, it } from 'vitest';
import {
  checkEventTime,
  EVENT_DEDUP_MS,
  EVENT_MAX_AGE_MS,
  EVENT_MAX_AHEAD_MS,
} from './event-window.ts';

const now = Date.parse('2026-12-07T12:00:00.000Z');
const HOUR = 3600_000;
const MINUTE = 60_000;
const refused = expect.objectContaining({ code: 'timestamp_out_of_window', statusCode: 400 });

describe('checkEventTime', () => {
  it.each([
    ['now, as epoch ms', now],
    ['now, as ISO-8601', new Date(now).toISOString()],
    ['exactly 24 h old', now - 24 * HOUR],
    ['exactly 5 min ahead', now + 5 * MINUTE],
    ['23 h old, with an offset', '2026-12-06T14:00:00+01:00'],
  ])('accepts an event stamped %s', (_, timestamp) => {
    expect(() => checkEventTime(timestamp, now)).not.toThrow();
  });

  it.each([
    ['1 ms more than 24 h old', now - 24 * HOUR - 1],
    ['1 ms more than 5 min ahead', now + 5 * MINUTE + 1],
    ['25 h old, as ISO-8601', new Date(now - 25 * HOUR).toISOString()],
    ['in 1970 (epoch seconds sent as ms)', Math.floor(now / 1000)],
    ['past the last date JavaScript holds', 9e15],
  ])('refuses an event stamped %s', (_, timestamp) => {
    expect(() => checkEventTime(timestamp, now)).toThrow(refused);
  });

  it('names the accepted window in the details', () => {
    expect(() => checkEventTime(0, now)).toThrow(
      expect.objectContaining({
        details: [
          {
            path: '/timestamp',
            message: 'must lie between 2026-12-06T12:00:00.000Z and 2026-12-07T12:05:00.000Z',
          },
        ],
      }),
    );
  });

  it('remembers event ids for as long as an event can be accepted', () => {
    expect(EVENT_DEDUP_MS).toBeGreaterThanOrEqual(EVENT_MAX_AGE_MS + EVENT_MAX_AHEAD_MS);
  });
});
