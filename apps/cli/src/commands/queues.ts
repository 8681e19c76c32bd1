import { setTimeout as sleep } from 'node:timers/promises';
import { countLinkMemory } from '@contact-linker/link-memory';
import { QUEUE, queueDepths } from '@contact-linker/queues';
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

/** Clears a terminal and puts the cursor top-left, so `--watch` redraws in place. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/**
 * The stats table: one row per queue, one right-aligned column per state (a state missing from
 * `counts` shows 0). With `at`, a first line says when the counts were taken; with `memory`, a last
 * line counts the link memory.
 */
export function renderQueueStats(
  depths: QueueDepths,
  { at, memory }: { at?: Date; memory?: MemoryCounts } = {},
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
  ].join('\n');
}

/**
 * The JSON form: `{ at, queues: { <queue>: { <state>: count } }, memory?: { links, waiting } }`,
 * every state present.
 */
export function queueStatsJson(depths: QueueDepths, at: Date, memory?: MemoryCounts) {
  return {
    at: at.toISOString(),
    ...(memory ? { memory } : {}),
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
      'job counts per state (waiting, prioritized, active, delayed, completed, failed) per queue, remembered links and waiting DMS contacts',
    )
    .option('--watch', 'redraw every --interval seconds until Ctrl-C')
    .option('--interval <seconds>', 'seconds between redraws with --watch', parseInterval, 2)
    .option('--json', 'print JSON instead of a table (with --watch: one line per redraw)')
    .addHelpText(
      'after',
      `
Bulk and seeded contacts wait in "prioritized" (they run below live events), live ones in "waiting".
Dead letters are the "failed" jobs of the dead-letter queue. Remembered links and waiting DMS
contacts are counted with a SCAN of Redis, whose cost grows with the number of keys.

Examples:
  pnpm cli queues stats
  pnpm cli queues stats --watch --interval 5
  pnpm cli queues stats --json | jq '.queues["${QUEUE.linkContact}"]'`,
    )
    .action(async (opts: { watch?: boolean; interval: number; json?: boolean }) => {
      const ctx = await context();
      if (!(await requireRedis(ctx))) return;
      const fetch = async () => {
        const [depths, memory] = await Promise.all([
          queueDepths(ctx.queues),
          countLinkMemory(ctx.redis, ctx.config.queuePrefix),
        ]);
        return { depths, memory };
      };
      if (!opts.watch) {
        const { depths, memory } = await fetch();
        const at = new Date();
        ctx.out(
          opts.json
            ? JSON.stringify(queueStatsJson(depths, at, memory), null, 2)
            : renderQueueStats(depths, { memory }),
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
          show: ({ depths, memory }, at) => {
            if (opts.json) return ctx.out(JSON.stringify(queueStatsJson(depths, at, memory)));
            const table = renderQueueStats(depths, { at, memory });
            ctx.out(redraw ? `${CLEAR_SCREEN}${table}\n\nCtrl-C to stop` : `${table}\n`);
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
