import { describe, expect, it } from 'vitest';
import {
  type QueueDepths,
  queueStatsJson,
  renderQueueStats,
  watchQueueStats,
} from '../src/commands/queues.ts';

const depths: QueueDepths = [
  {
    queue: 'link-contact',
    counts: { waiting: 3, prioritized: 12_345, active: 16, delayed: 0, completed: 7, failed: 1 },
  },
  { queue: 'notify-dms', counts: { waiting: 0, active: 2 } },
  { queue: 'dead-letter', counts: { failed: 4, paused: 99 } },
];

describe('renderQueueStats', () => {
  it('draws one row per queue with right-aligned counts, 0 for a missing state', () => {
    expect(renderQueueStats(depths)).toBe(
      [
        'QUEUE         WAITING  PRIORITIZED  ACTIVE  DELAYED  COMPLETED  FAILED',
        'link-contact        3        12345      16        0          7       1',
        'notify-dms          0            0       2        0          0       0',
        'dead-letter         0            0       0        0          0       4',
      ].join('\n'),
    );
  });

  it('widens a column for a long count, and says when with `at`', () => {
    const wide = renderQueueStats([{ queue: 'q', counts: { waiting: 1_234_567_890 } }], {
      at: new Date('2026-01-02T03:04:05Z'),
    });
    expect(wide.split('\n')).toEqual([
      'queue depths at 2026-01-02T03:04:05.000Z',
      'QUEUE     WAITING  PRIORITIZED  ACTIVE  DELAYED  COMPLETED  FAILED',
      'q      1234567890            0       0        0          0       0',
    ]);
  });
});

describe('queueStatsJson', () => {
  it('keys by queue and lists exactly the six states', () => {
    const json = queueStatsJson(depths, new Date('2026-01-02T03:04:05Z'));
    expect(json).toEqual({
      at: '2026-01-02T03:04:05.000Z',
      queues: {
        'link-contact': {
          waiting: 3,
          prioritized: 12_345,
          active: 16,
          delayed: 0,
          completed: 7,
          failed: 1,
        },
        'notify-dms': {
          waiting: 0,
          prioritized: 0,
          active: 2,
          delayed: 0,
          completed: 0,
          failed: 0,
        },
        'dead-letter': {
          waiting: 0,
          prioritized: 0,
          active: 0,
          delayed: 0,
          completed: 0,
          failed: 4,
        },
      },
    });
  });
});

describe('the backlog table', () => {
  const at = new Date('2026-01-02T03:04:05Z');
  const backlogs = [
    {
      organization: 'dealer-big',
      tier: 'live' as const,
      waiting: 1968,
      oldestAcceptedAt: new Date(at.getTime() - 9_840),
    },
    { organization: 'b', tier: 'bulk' as const, waiting: 20 },
  ];

  it('lists the organizations as given, with the wait of their oldest job or ? when unknown', () => {
    expect(renderQueueStats([], { at, backlogs }).split('\n').slice(2)).toEqual([
      '',
      'largest link-contact backlogs (top 2)',
      'ORGANIZATION  TIER  WAITING  OLDEST WAIT',
      'dealer-big    live     1968        9.8 s',
      'b             bulk       20            ?',
    ]);
    expect(renderQueueStats([], { at, backlogs: [] }).split('\n').slice(2)).toEqual([
      '',
      'no organization has link-contact jobs waiting',
    ]);
  });

  it('puts them in the JSON with the wait in seconds', () => {
    expect(queueStatsJson([], at, undefined, backlogs).backlogs).toEqual([
      { organization: 'dealer-big', tier: 'live', waiting: 1968, oldestWaitSeconds: 9.8 },
      { organization: 'b', tier: 'bulk', waiting: 20 },
    ]);
  });
});

describe('watchQueueStats', () => {
  it('shows at once, then every interval, until the signal aborts', async () => {
    const controller = new AbortController();
    const shown: number[] = [];
    let fetches = 0;
    await watchQueueStats({
      fetch: async () => {
        fetches += 1;
        return depths;
      },
      show: () => {
        shown.push(performance.now());
        if (shown.length === 3) controller.abort();
      },
      intervalMs: 20,
      signal: controller.signal,
    });
    expect(fetches).toBe(3);
    expect(shown[1]! - shown[0]!).toBeGreaterThanOrEqual(15);
  });

  it('ends while a fetch hangs (a Redis that went away) once the signal aborts', async () => {
    const controller = new AbortController();
    let shown = 0;
    setTimeout(() => controller.abort(), 20);
    await watchQueueStats({
      fetch: () => new Promise<QueueDepths>(() => {}),
      show: () => {
        shown += 1;
      },
      intervalMs: 1000,
      signal: controller.signal,
    });
    expect(shown).toBe(0);
  });

  it('ends during the pause between two redraws', async () => {
    const controller = new AbortController();
    const started = performance.now();
    await watchQueueStats({
      fetch: async () => depths,
      show: () => setTimeout(() => controller.abort(), 10),
      intervalMs: 60_000,
      signal: controller.signal,
    });
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
