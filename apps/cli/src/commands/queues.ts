import { setTimeout as sleep } from 'node:timers/promises';
import { countLinkMemory } from '@contact-linker/link-memory';
import {
  createFairOrder,
  type OrganizationBacklog,
  QUEUE,
  queueDepths,
} from '@contact-linker/queues';
import { type Command, InvalidArgumentError } from 'commander';
import type { CliContext } from '../context.ts';
import { interruptible } from '../interrupt.ts';
import { letGoIfDown, requireRedis } from '../redis-check.ts';

/** The job states `queues stats` shows, in the order a job usually passes through them. */
export const STATS_STATES = [
  'waiting',
  'prioritized',
  'active',
  'delayed',
  'completed',
  'failed',
] as const;

export type QueueDepths = Array<{ queue: string; counts: Record<string, number> }>;
/** Remembered links and DMS contacts waiting for their Web1on1 contact. */
export type MemoryCounts = { links: number; waiting: number };

/** Seconds since the oldest waiting job of a backlog was accepted, to one decimal. */
const oldestWaitSeconds = (backlog: OrganizationBacklog, at: Date) =>
  backlog.oldestAcceptedAt === undefined
    ? undefined
    : Math.round(Math.max(0, at.getTime() - backlog.oldestAcceptedAt.getTime()) / 100) / 10;

/** The backlog table: the organizations with the most waiting link-contact jobs. */
function renderBacklogs(backlogs: readonly OrganizationBacklog[], at: Date): string[] {
  if (backlogs.length === 0) return ['', 'no organization has link-contact jobs waiting'];
  const header = ['ORGANIZATION', 'TIER', 'WAITING', 'OLDEST WAIT'];
  const rows = backlogs.map((b) => {
    const wait = oldestWaitSeconds(b, at);
    return [b.organization, b.tier, String(b.waiting), wait === undefined ? '?' : `${wait} s`];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [
    '',
    `largest link-contact backlogs (top ${backlogs.length})`,
    ...[header, ...rows].map((row) =>
      row
        .map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
        .join('  '),
    ),
  ];
}

/** Clears a terminal and puts the cursor top-left, so `--watch` redraws in place. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/**
 * The stats table: one row per queue, one right-aligned column per state (a state missing from
 * `counts` shows 0). With `at`, a first line says when the counts were taken; with `memory`, a line
 * counts the link memory; with `backlogs`, a table lists the organizations with the most waiting
 * link-contact jobs and how long their oldest has waited (at `at`, or now).
 */
export function renderQueueStats(
  depths: QueueDepths,
  {
    at,
    memory,
    backlogs,
  }: { at?: Date; memory?: MemoryCounts; backlogs?: readonly OrganizationBacklog[] } = {},
): string {
  const header = ['QUEUE', ...STATS_STATES.map((state) => state.toUpperCase())];
  const rows = depths.map(({ queue, counts }) => [
    queue,
    ...STATS_STATES.map((state) => String(counts[state] ?? 0)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const table = [header, ...rows].map((row) =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  '),
  );
  return [
    ...(at ? [`queue depths at ${at.toISOString()}`] : []),
    ...table,
    ...(memory
      ? ['', `remembered links: ${memory.links}  waiting DMS contacts: ${memory.waiting}`]
      : []),
    ...(backlogs ? renderBacklogs(backlogs, at ?? new Date()) : []),
  ].join('\n');
}

/**
 * The JSON form: `{ at, queues: { <queue>: { <state>: count } }, memory?: { links, waiting },
 * backlogs?: [{ organization, tier, waiting, oldestWaitSeconds? }] }`, every state present.
 */
export function queueStatsJson(
  depths: QueueDepths,
  at: Date,
  memory?: MemoryCounts,
  backlogs?: readonly OrganizationBacklog[],
) {
  return {
    at: at.toISOString(),
    ...(memory ? { memory } : {}),
    ...(backlogs
      ? {
          backlogs: backlogs.map((b) => {
            const wait = oldestWaitSeconds(b, at);
            return {
              organization: b.organization,
              tier: b.tier,
              waiting: b.waiting,
              ...(wait === undefined ? {} : { oldestWaitSeconds: wait }),
            };
          }),
        }
      : {}),
    queues: Object.fromEntries(
      depths.map(({ queue, counts }) => [
        queue,
        Object.fromEntries(STATS_STATES.map((state) => [state, counts[state] ?? 0])),
      ]),
    ),
  };
}

export interface WatchOptions<T> {
  fetch: () => Promise<T>;
  show: (stats: T, at: Date) => void;
  intervalMs: number;
  /** Ends the loop, also while a fetch or the pause between two is under way. */
  signal: AbortSignal;
  /** @defaultValue `() => new Date()` */
  now?: () => Date;
}

/** Shows the stats, then again every `intervalMs`, until `signal` aborts. */
export async function watchQueueStats<T>({
  fetch,
  show,
  intervalMs,
  signal,
  now = () => new Date(),
}: WatchOptions<T>): Promise<void> {
  const aborted = new Promise<undefined>((resolve) => {
    if (signal.aborted) resolve(undefined);
    signal.addEventListener('abort', () => resolve(undefined), { once: true });
  });
  while (!signal.aborted) {
    // A fetch against a Redis that went away waits for it to come back; Ctrl-C must not.
    const stats = await Promise.race([fetch(), aborted]);
    if (stats === undefined) return;
    show(stats, now());
    await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
  }
}

/** `queues stats`: job counts per state of every queue, once or continuously. */
export function registerQueuesCommands(program: Command, context: () => Promise<CliContext>): void {
  const queues = program.command('queues').description('look at the queues');

  queues
    .command('stats')
    .description(
      'job counts per state (waiting, prioritized, active, delayed, completed, failed) per queue, remembered links and waiting DMS contacts, and the 10 organizations with the most waiting link-contact jobs',
    )
    .option('--watch', 'redraw every --interval seconds until Ctrl-C')
    .option('--interval <seconds>', 'seconds between redraws with --watch', parseInterval, 2)
    .option('--json', 'print JSON instead of a table (with --watch: one line per redraw)')
    .addHelpText(
      'after',
      `
Link-contact jobs wait in "prioritized": their priority is their turn (live events before bulk and
seeded contacts, organizations taking turns within each). The backlog table counts each
organization's waiting jobs (its lead in the fair order) and the wait of its oldest one, found among
the first 5,000 waiting jobs of its tier ("?" when it is further back).
Dead letters are the "failed" jobs of the dead-letter queue. Remembered links and waiting DMS
contacts are counted with a SCAN of Redis, whose cost grows with the number of keys.

Examples:
  pnpm cli queues stats
  pnpm cli queues stats --watch --interval 5
  pnpm cli queues stats --json | jq '.queues["${QUEUE.linkContact}"]'`,
    )
    .action(async (opts: { watch?: boolean; interval: number; json?: boolean }) => {
      const ctx = await context();
      ctx.note(ctx.source);
      if (!(await requireRedis(ctx))) return;
      const fairOrder = createFairOrder({ queue: ctx.queues[QUEUE.linkContact], redis: ctx.redis });
      const fetch = async () => {
        const [depths, memory, backlogs] = await Promise.all([
          queueDepths(ctx.queues),
          countLinkMemory(ctx.redis, ctx.config.queuePrefix),
          fairOrder.backlogs({ limit: 10 }),
        ]);
        return { depths, memory, backlogs };
      };
      if (!opts.watch) {
        const { depths, memory, backlogs } = await fetch();
        const at = new Date();
        ctx.out(
          opts.json
            ? JSON.stringify(queueStatsJson(depths, at, memory, backlogs), null, 2)
            : renderQueueStats(depths, { memory, backlogs }),
        );
        return;
      }
      const redraw = process.stdout.isTTY === true && !opts.json;
      const interrupt = interruptible();
      try {
        await watchQueueStats({
          fetch,
          intervalMs: opts.interval * 1000,
          signal: interrupt.signal,
          show: ({ depths, memory, backlogs }, at) => {
            if (opts.json) {
              return ctx.out(JSON.stringify(queueStatsJson(depths, at, memory, backlogs)));
            }
            const table = renderQueueStats(depths, { at, memory, backlogs });
            ctx.out(
              redraw ? `${CLEAR_SCREEN}${table}\n\n${ctx.source}; Ctrl-C to stop` : `${table}\n`,
            );
          },
        });
      } finally {
        interrupt.dispose();
        letGoIfDown(ctx);
      }
    });
}

function parseInterval(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 3600) {
    throw new InvalidArgumentError('must be a number of seconds from 0.1 to 3600');
  }
  return seconds;
}
