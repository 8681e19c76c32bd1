/**
 * The Web1on1 request budget shared by every worker process, and the order in which one process hands
 * out its part of it.
 *
 * Exactness across processes comes from GCRA: a schedule in Redis (timed by the Redis server's clock,
 * so processes on different hosts agree) that hands out one send slot every
 * `(durationMs + marginMs) / max`, plus a pause key set when the API answers 429. Evenly spaced
 * slots mean that any window of `durationMs` holds at most `max` of them, and that requests never
 * leave in bursts: a burst queues up in the sending process and its last requests reach the API
 * late, bunched with the next ones, which is how a sliding-window log of grants still let the API
 * see 25 requests in a 1 s window with a 20/1s budget. Counting requests rather than jobs is the
 * point: one job makes one to five requests, and BullMQ's own limiter counts jobs.
 *
 * Fairness inside a process comes from binding slots late. A process used to reserve a slot for
 * every caller at the moment it called, first come first served, so 16 jobs of one organization in
 * each of two processes put a newcomer ~32 slots back (3 s at 10/s). Now callers wait in a local
 * queue per (tier, key), and the process holds at most `lookahead` reservations in Redis while
 * anyone waits. A reservation names nobody: when its slot time comes (and the pause key is still
 * clear) it goes to the next waiter in fair order: every `live` waiter before any `bulk` one, keys
 * of a tier in turn, one request per turn, and each key's own waiters first in, first out. That is
 * deficit round-robin (Shreedhar & Varghese, "Efficient fair queueing using deficit round robin",
 * SIGCOMM 1995) with every request costing one quantum, which makes it plain round-robin over the
 * keys that have waiters, and, as FQ-CoDel does (RFC 8290), a key that becomes active goes first
 * for one request before joining the end of the turn order: a dealer far below its share waits for
 * the next slot, not for a turn of every busy dealer. The next
 * reservation is made as soon as one is used or lost, so a backlogged process leaves no gaps.
 *
 * The limit: between processes slots go by reservation rate, equal for every backlogged process
 * whatever organizations it serves, so one process whose jobs all belong to A gets as many slots as
 * one that mixes A and B. Fairness across processes therefore rests on the job dispatch giving each
 * process a mix of organizations; the short lookahead only keeps a newcomer at most a few slots
 * (`lookahead` per process) from the head of the shared schedule.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { RateLimitedError } from '@contact-linker/contracts';
import type { ClientContext, Cluster, Redis, Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /** The budget's reservation; see RESERVE. */
    contactLinkerBudgetReserve(
      schedule: string,
      pause: string,
      intervalMicros: number,
      maxWaitMicros: number,
    ): Result<[number, number], Context>;
  }
}

/** Whose request is waiting for a slot, for the order in which one process hands out its slots. */
export interface BudgetShare {
  /** Keys (organizations, dealers) of one tier take turns, one request each per turn. */
  key: string;
  /** Any `live` request (someone is waiting for its outcome) goes before any `bulk` one. */
  tier: 'live' | 'bulk';
}

export interface Web1on1BudgetOptions {
  /** Shared Redis (any role); every process using the same `prefix` shares one budget. */
  redis: Redis | Cluster;
  /** Key prefix (QUEUE_PREFIX), hash-tagged so the keys live in one Cluster slot. */
  prefix: string;
  /** Most requests in any window of `durationMs`. */
  max: number;
  durationMs: number;
  /**
   * Longest a caller waits in this process for a slot; then `acquire` throws RateLimitedError so the
   * job goes back to the queue (without spending an attempt) and the worker slot is freed. A caller
   * that provably cannot get a slot in time (the schedule is further ahead than that and this process
   * holds no reservation) is told at once. @defaultValue 5_000
   */
  maxWaitMs?: number;
  /**
   * Added to the window the limiter enforces, because a slot is not an arrival: the request reaches
   * the API a few milliseconds after its slot, and those milliseconds differ per request. Any
   * `max + 1` slots span at least `durationMs + marginMs`.
   * The floor is what a busy two-core host showed: grant-to-arrival delays of two requests differed
   * by up to 32 ms (fault suite), so 25 ms let the API see 21 of 20 once.
   * @defaultValue max(40 ms, 2.5 % of `durationMs`), at most 250 ms
   */
  marginMs?: number;
  /**
   * Most reservations this process holds in the shared schedule at once (never more than it has
   * waiters). Two keep a backlogged process from leaving gaps (the next one is reserved while the
   * one after the due slot is still ahead), and few keep the schedule short: a caller that arrives
   * anywhere is at most `lookahead` reservations per busy process from the schedule's head. At least 1.
   * @defaultValue 2
   */
  lookahead?: number;
  /** Reports how long each granted caller waited, when it waited at least 1 ms, for metrics. */
  onWait?: (ms: number) => void;
}

export interface Web1on1Budget {
  /**
   * Resolves when one request may be sent now, in fair order among this process's callers by the
   * current {@link BudgetShare} (see {@link withBudgetShare}); throws RateLimitedError when Web1on1
   * asked to pause or the wait would be long.
   */
  acquire(): Promise<void>;
  /** No request may be sent for `ms` (Web1on1 answered 429). Never shortens a longer pause. */
  pause(ms: number): Promise<void>;
}

/** Callers outside any share (token renewals, tests) count as one live key of their own. */
const NO_SHARE: BudgetShare = { key: '', tier: 'live' };

// One module-level store rather than one per budget: the share belongs to the caller's work (a job of
// one organization), not to a budget. The processor that sets it does not hold the budget, whose
// `acquire` runs deep inside got's hooks in the caller's async context, and any budget that request
// passes must see the same share. Constructing it opens no handle and starts no timer.
const shares = new AsyncLocalStorage<BudgetShare>();

/**
 * Runs `fn` with `share` as the budget share of every Web1on1 request it makes (the client's got
 * hooks run in the caller's async context, so `acquire` sees it).
 */
export function withBudgetShare<T>(share: BudgetShare, fn: () => Promise<T>): Promise<T> {
  return shares.run(share, async () => fn());
}

/** Runs `fn` outside any share: for work that serves every share, such as a token renewal. */
export function outsideBudgetShare<T>(fn: () => Promise<T>): Promise<T> {
  return shares.exit(async () => fn());
}

/**
 * GCRA with no burst tolerance, in one script so that every process draws from one schedule.
 * KEYS[1] the theoretical arrival time (TAT, Redis-clock microseconds), KEYS[2] the 429 pause.
 * ARGV[1] emission interval (µs), ARGV[2] longest wait a caller accepts (µs).
 * Returns { -1, pause ms } while paused, { 0, wait µs } when the caller's slot would be further away
 * than it accepts (nothing reserved), else { 1, wait µs }: the slot `wait` from now is the caller's.
 */
const RESERVE = `
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return { -1, paused } end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local wait = slot - now
if wait > tonumber(ARGV[2]) then return { 0, wait } end
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX', math.ceil((wait + interval) / 1000) + 1000)
return { 1, wait }
`;

interface Waiter {
  share: BudgetShare;
  /** `performance.now()` when it called `acquire`. */
  since: number;
  expiry: NodeJS.Timeout;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Exactness never depends on this process: every slot it uses comes from RESERVE (unchanged, so the
 * schedule is the one every process shares), goes to at most one caller, and never before its time
 * (one less than 1 ms away is granted at once, as it always was). A slot used late or not at all (its
 * caller gave up, a pause arrived) only leaves the schedule sparser than allowed.
 */
export function createWeb1on1Budget({
  redis,
  prefix,
  max,
  durationMs,
  maxWaitMs = 5_000,
  marginMs = Math.min(250, Math.max(40, Math.round(durationMs * 0.025))),
  lookahead = 2,
  onWait,
}: Web1on1BudgetOptions): Web1on1Budget {
  const intervalMs = (durationMs + marginMs) / max;
  const intervalMicros = intervalMs * 1000;
  const scheduleKey = `${prefix}:web1on1:budget`;
  const pauseKey = `${prefix}:web1on1:paused`;
  const ahead = Math.max(1, Math.floor(lookahead));
  // ioredis runs it by SHA and sends the text only when Redis does not know it (after a restart, or
  // on a new Cluster node): sending the text on every request cost ~10 % of the worker's CPU.
  redis.defineCommand('contactLinkerBudgetReserve', { numberOfKeys: 2, lua: RESERVE });

  const waiters = createFairQueue<Waiter>();
  let reserving = 0; // RESERVE calls in flight
  let held = 0; // reservations whose slot is still ahead
  let binding = 0; // slots that have come and await the pause check before going to a waiter
  // Set while the schedule was further ahead than maxWaitMs: nothing can be reserved before it fires.
  let retry: NodeJS.Timeout | undefined;
  // Earliest local time any slot can be, as the last "too far" answer showed: the schedule only moves
  // forward (its key expires only once its time has passed).
  let blockedUntil = 0;
  // Where the schedule's head was at the last answer: the first slot a new reservation would get.
  let nextSlotAt = 0;

  function pump(): void {
    if (retry) {
      if (reserving + held + binding === 0) rejectHopeless();
      return;
    }
    // Slots being checked are already spoken for by one waiter each.
    while (reserving + held < Math.min(ahead, waiters.size - binding)) void reserve();
  }

  async function reserve(): Promise<void> {
    reserving += 1;
    const sentAt = performance.now();
    let kind: number;
    let value: number;
    try {
      [kind, value] = await redis.contactLinkerBudgetReserve(
        scheduleKey,
        pauseKey,
        intervalMicros,
        maxWaitMs * 1000,
      );
    } catch (error) {
      // Redis is away: every waiter would meet the same error, as each caller did before.
      reserving -= 1;
      rejectAll(error);
      return;
    }
    reserving -= 1;
    if (kind === -1) {
      rejectAll(pausedError(value));
      return;
    }
    const waitMs = value / 1000;
    if (kind === 0) {
      // Redis's "now" was no earlier than sentAt, so no slot can come before this.
      blockedUntil = sentAt + waitMs;
      nextSlotAt = blockedUntil;
      // After the excess, the same slot would be just within reach.
      retry ??= setTimeout(
        () => {
          retry = undefined;
          pump();
        },
        Math.max(1, Math.ceil(waitMs - maxWaitMs)),
      ).unref();
      pump();
      return;
    }
    nextSlotAt = sentAt + waitMs + intervalMs;
    if (waitMs < 1) {
      // The script checked the pause key a moment ago, as the single-caller budget relied on too.
      grant();
      pump();
      return;
    }
    held += 1;
    // Rounded up: a timer may fire a fraction of a millisecond early, a slot must not.
    setTimeout(() => {
      held -= 1;
      void slotArrived();
    }, Math.ceil(waitMs)).unref();
  }

  async function slotArrived(): Promise<void> {
    if (waiters.size === 0) return; // unused, which only thins the schedule
    binding += 1;
    // Reserve the next one alongside the pause check, so a backlog never waits for a round trip.
    pump();
    let paused: number;
    try {
      paused = await redis.pttl(pauseKey);
    } catch (error) {
      binding -= 1;
      rejectAll(error);
      return;
    }
    binding -= 1;
    // A 429 may have arrived since the slot was reserved; the slot then goes unused.
    if (paused > 0) rejectAll(pausedError(paused));
    else grant();
    pump();
  }

  /** The slot that is due now goes to whoever is next in fair order at this moment. */
  function grant(): void {
    const waiter = waiters.shift();
    if (!waiter) return;
    clearTimeout(waiter.expiry);
    waiter.resolve();
    const waited = performance.now() - waiter.since;
    if (waited < 1) return;
    try {
      onWait?.(waited);
    } catch {
      // Metrics must never change who gets a slot.
    }
  }

  function drop(waiter: Waiter, error: unknown): void {
    clearTimeout(waiter.expiry);
    waiters.remove(waiter.share, waiter);
    waiter.reject(error);
  }

  function rejectAll(error: unknown): void {
    for (const waiter of waiters.all()) drop(waiter, error);
  }

  /**
   * The schedule is beyond reach and this process holds no slot: whoever would give up before the
   * earliest possible slot hears so now instead of after maxWaitMs, as callers did before there was a
   * local queue.
   */
  function rejectHopeless(): void {
    const now = performance.now();
    for (const waiter of waiters.all()) {
      if (waiter.since + maxWaitMs < blockedUntil) drop(waiter, exhaustedError(blockedUntil - now));
    }
  }

  /**
   * Gave up after maxWaitMs. Come back once this process could reach the schedule's head and serve
   * those still queued here: an estimate, since other processes draw from the same schedule.
   */
  function expire(waiter: Waiter): void {
    const now = performance.now();
    waiters.remove(waiter.share, waiter);
    const remaining = Math.max(0, nextSlotAt - now) + waiters.size * intervalMs;
    waiter.reject(exhaustedError(remaining));
  }

  return {
    acquire() {
      const share = shares.getStore() ?? NO_SHARE;
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          share,
          since: performance.now(),
          expiry: setTimeout(() => expire(waiter), maxWaitMs).unref(),
          resolve,
          reject,
        };
        waiters.push(share, waiter);
        pump();
      });
    },

    async pause(ms) {
      // Keep the later of two pauses; a race between two 429s can only pick one of two near-equal values.
      const current = await redis.pttl(pauseKey);
      if (current < ms) await redis.set(pauseKey, '1', 'PX', Math.max(1, Math.ceil(ms)));
    },
  };
}

function pausedError(retryAfterMs: number): RateLimitedError {
  return new RateLimitedError('Web1on1 asked to pause (429)', { retryAfterMs });
}

function exhaustedError(waitMs: number): RateLimitedError {
  return new RateLimitedError('Web1on1 request budget exhausted', {
    retryAfterMs: Math.max(1, Math.ceil(waitMs)),
  });
}

/**
 * Waiting items by (tier, key): `shift` takes from the live tier while it has any, and within a tier
 * from its keys in turn, one item per turn. As in FQ-CoDel's new and old flow lists (RFC 8290,
 * §4.1), a key that gets its first item is *new* and goes before every key already taking turns;
 * after its one item it joins the back of the others. So a dealer who sends now and then, far
 * below its share, is served at the next slot instead of after one turn of every busy dealer, and
 * a busy dealer can be new at most once per time it runs dry. Maps iterate in insertion order:
 * deleting a key and setting it again sends it to the back.
 */
function createFairQueue<T>() {
  type Tier = { fresh: Map<string, T[]>; taking: Map<string, T[]> };
  const tier = (): Tier => ({ fresh: new Map(), taking: new Map() });
  const tiers: Record<BudgetShare['tier'], Tier> = { live: tier(), bulk: tier() };
  const order = [tiers.live, tiers.bulk];
  let size = 0;

  return {
    get size() {
      return size;
    },

    push(share: BudgetShare, item: T): void {
      const { fresh, taking } = tiers[share.tier];
      const queue = fresh.get(share.key) ?? taking.get(share.key);
      if (queue) queue.push(item);
      else fresh.set(share.key, [item]);
      size += 1;
    },

    shift(): T | undefined {
      for (const { fresh, taking } of order) {
        for (const keys of [fresh, taking]) {
          const head = keys.entries().next();
          if (head.done) continue;
          const [key, queue] = head.value;
          const item = queue.shift();
          keys.delete(key);
          if (queue.length > 0) taking.set(key, queue);
          size -= 1;
          return item;
        }
      }
      return undefined;
    },

    /** Takes `item` out wherever it is, leaving its key's place in the turn order as it was. */
    remove(share: BudgetShare, item: T): void {
      const { fresh, taking } = tiers[share.tier];
      for (const keys of [fresh, taking]) {
        const queue = keys.get(share.key);
        const index = queue?.indexOf(item) ?? -1;
        if (!queue || index < 0) continue;
        queue.splice(index, 1);
        if (queue.length === 0) keys.delete(share.key);
        size -= 1;
        return;
      }
    },

    /** A copy, so callers may remove while they go through it. */
    all(): T[] {
      return order.flatMap(({ fresh, taking }) => [...fresh.values(), ...taking.values()].flat());
    },
  };
}
