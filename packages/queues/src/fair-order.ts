/**
 * Which link-contact job starts next: organizations take turns, within each tier.
 *
 * The scheme is start-time fair queueing (Goyal, Vin & Cheng, 1996) with BullMQ priorities as the
 * virtual time. Each tier (live, bulk) is a band of BullMQ priorities, and a job's priority within
 * its band is its *tag*: one more than its organization's last tag while the organization has jobs
 * waiting, else the tier's virtual time itself (the smallest tag still waiting, minus one). So the
 * n-th waiting job of every organization carries about the same tag, and BullMQ (lowest priority
 * first, first-in-first-out among equal ones) starts them in rounds: one job per organization per
 * round. A dealer alone gets consecutive tags and every slot; a dealer with nothing waiting who
 * posts behind a backlog of 2,000 starts next, before the round under way (as FQ-CoDel serves a
 * new flow first, RFC 8290), and its following jobs take their turns.
 *
 * Why this and not lanes with a dispatcher: BullMQ keeps doing everything it does well — the atomic
 * move to active, locks, stalled-job recovery, retries, content dedup, `GET /jobs/:id` — so a
 * worker killed at any point of the dispatch is BullMQ's well-trodden case, with nothing of ours in
 * between. Our part is one script per `addBulk` (one more round trip per batch, O(log n) in the
 * queue and O(1) per job in the organizations), and no state per job. Anchors: SFQ's tags and
 * virtual time; Trigger.dev's Redis fair queue and Temporal's fairness keys for the problem; BullMQ
 * Pro's group round-robin for what the open-source BullMQ leaves out.
 *
 * Consequences worth knowing:
 * - The virtual time is read from BullMQ's `prioritized` set, whose score is
 *   `priority × 2^32 + counter` (`getPriorityScore.lua`); an integration test pins that layout.
 * - When a tier has nothing waiting, its organizations' tags are forgotten (the virtual time starts
 *   again at 0), so tags stay as small as the largest backlog. In a busy tier each call forgets a
 *   few organizations whose every job has started; workers `sweep` every few seconds too, so an
 *   organization whose work drained soon costs nothing.
 * - A job that runs once re-enters at the front of its band (`toFront`, used by the retry policy):
 *   it has had its turn, and its old tag may mean nothing after the tier emptied in between.
 *   BullMQ itself sends a stalled job to the front of the queue.
 * - One organization with more than ~a million waiting jobs in a tier reaches the end of the band;
 *   its further jobs share the last priority and run first-in-first-out among themselves.
 * - A batch whose tags were computed just before its tier emptied (a race of milliseconds between
 *   two producers) carries tags from before; it waits behind the new backlog up to those tags.
 */
import type { Job } from 'bullmq';
import type { ClientContext, Result } from 'ioredis';
import { type QUEUE, TIER_BANDS, type Tier, tierOfPriority } from './catalog.ts';
import type { RedisClient } from './connection.ts';
import type { LinkContactBulkJob } from './entries.ts';
import type { TypedQueue } from './queues.ts';

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /** Tags a batch of link-contact jobs; see TAG. */
    contactLinkerFairTag(...keysAndArgs: Array<string | number>): Result<number[], Context>;
  }
}

const TIERS = ['live', 'bulk'] as const satisfies Tier[];

/** BullMQ's prioritized score: priority × 2^32 + an add counter. */
const SCALE = 2 ** 32;

/**
 * KEYS[1] BullMQ's prioritized set; then per tier i = 1, 2: KEYS[2i] the tier's last tag per
 * organization (hash), KEYS[2i+1] the cursor of its sweep.
 * ARGV[1..4] front and last priority of the live, then the bulk band; ARGV[5..] pairs of tier index
 * and organization, one per job. Returns the priority of each job. Without jobs, it only sweeps.
 */
const TAG = `
local SCALE = 4294967296
local function fmt(n) return string.format('%.0f', n) end
local tiers = {}
local function tier(i)
  if tiers[i] then return tiers[i] end
  local front, last = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local hash, cursorKey = KEYS[2 * i], KEYS[2 * i + 1]
  local head = redis.call('ZRANGEBYSCORE', KEYS[1], fmt((front + 1) * SCALE),
    '(' .. fmt((last + 1) * SCALE), 'WITHSCORES', 'LIMIT', 0, 1)
  local clock = 0
  if head[2] then
    clock = math.floor(tonumber(head[2]) / SCALE) - front - 1
    -- Forget a few organizations whose every tag has been started.
    local scan = redis.call('HSCAN', hash, redis.call('GET', cursorKey) or '0', 'COUNT', 16)
    for j = 1, #scan[2], 2 do
      if tonumber(scan[2][j + 1]) <= clock then redis.call('HDEL', hash, scan[2][j]) end
    end
    if scan[1] == '0' then redis.call('DEL', cursorKey) else redis.call('SET', cursorKey, scan[1]) end
  else
    redis.call('DEL', hash, cursorKey)
  end
  tiers[i] = { front = front, max = last - front, hash = hash, clock = clock, seen = {} }
  return tiers[i]
end
if #ARGV == 4 then tier(1) tier(2) end
local out = {}
for k = 5, #ARGV, 2 do
  local t = tier(tonumber(ARGV[k]))
  local org = ARGV[k + 1]
  local seen = t.seen[org]
  local prev = seen or tonumber(redis.call('HGET', t.hash, org) or '0')
  -- An organization with nothing waiting starts at the virtual time itself, before the next round.
  local tag = (seen or prev > t.clock) and prev + 1 or math.max(t.clock, 1)
  tag = math.min(tag, t.max)
  t.seen[org] = tag
  redis.call('HSET', t.hash, org, tag)
  out[#out + 1] = t.front + tag
end
return out
`;

/** An organization's waiting link-contact jobs, as `pnpm cli queues stats` shows them. */
export interface OrganizationBacklog {
  organization: string;
  tier: Tier;
  /** Jobs not yet started: the organization's lead over the tier's virtual time. */
  waiting: number;
  /** Since when its oldest waiting job was accepted; absent when not found near the head. */
  oldestAcceptedAt?: Date;
}

export interface FairOrder {
  /**
   * Adds link-contact entries (`linkContactEntry`), each with its organization's next tag in its
   * tier as its priority, and resolves with BullMQ's jobs (a deduplicated add answers the pending
   * job). Every producer adds link-contact jobs through here.
   */
  add(entries: readonly LinkContactBulkJob[]): Promise<Job[]>;
  /** Sends a job that ran to the front of its tier for its next run (a retry, a pause). */
  toFront(job: Job): Promise<void>;
  /**
   * The `limit` organizations with the most waiting jobs, with their oldest waiting job's accept
   * time, found among the first `scan` waiting jobs of their tier.
   */
  backlogs(options?: { limit?: number; scan?: number }): Promise<OrganizationBacklog[]>;
  /**
   * Forgets organizations whose every job has started: all of a tier's when it has nothing
   * waiting, else a few (each `add` does the same). Workers call it every few seconds, so an
   * organization whose work drained costs nothing even when nobody enqueues anything after it.
   */
  sweep(): Promise<void>;
}

export interface FairOrderOptions {
  queue: TypedQueue<typeof QUEUE.linkContact>;
  /** Any connection to the queue's Redis; the tagging script is defined on it. */
  redis: RedisClient;
}

export function createFairOrder({ queue, redis }: FairOrderOptions): FairOrder {
  const prioritizedKey = queue.toKey('prioritized');
  const keys = [
    prioritizedKey,
    ...TIERS.flatMap((tier) => [queue.toKey(`fair:${tier}`), queue.toKey(`fair:${tier}:sweep`)]),
  ];
  const bands = TIERS.flatMap((tier) => [TIER_BANDS[tier].front, TIER_BANDS[tier].last]);
  redis.defineCommand('contactLinkerFairTag', { numberOfKeys: keys.length, lua: TAG });

  /** The tier's smallest waiting tag minus one, or 0 when nothing waits (as in TAG). */
  async function clockOf(tier: Tier): Promise<number> {
    const { front, last } = TIER_BANDS[tier];
    const head = await redis.zrangebyscore(
      prioritizedKey,
      (front + 1) * SCALE,
      `(${(last + 1) * SCALE}`,
      'WITHSCORES',
      'LIMIT',
      0,
      1,
    );
    return head[1] === undefined ? 0 : Math.floor(Number(head[1]) / SCALE) - front - 1;
  }

  /** The accept time of each wanted organization's first job among the first `scan` of `tier`. */
  async function oldestOf(tier: Tier, wanted: Set<string>, scan: number) {
    const { front, last } = TIER_BANDS[tier];
    const found = new Map<string, Date>();
    const page = 200;
    for (let offset = 0; offset < scan && found.size < wanted.size; offset += page) {
      const ids = await redis.zrangebyscore(
        prioritizedKey,
        (front + 1) * SCALE,
        `(${(last + 1) * SCALE}`,
        'LIMIT',
        offset,
        page,
      );
      if (ids.length === 0) break;
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.hmget(queue.toKey(id), 'timestamp', 'data');
      for (const [, fields] of (await pipeline.exec()) ?? []) {
        const [timestamp, data] = (fields ?? []) as [string | null, string | null];
        if (timestamp === null || data === null) continue;
        const { organization } = JSON.parse(data) as { organization?: string };
        if (organization && wanted.has(organization) && !found.has(organization)) {
          found.set(organization, new Date(Number(timestamp)));
        }
      }
    }
    return found;
  }

  return {
    async add(entries) {
      if (entries.length === 0) return [];
      const args = entries.flatMap((entry) => [
        TIERS.indexOf(tierOfPriority(entry.opts?.priority)) + 1,
        entry.data.organization,
      ]);
      const priorities = await redis.contactLinkerFairTag(...keys, ...bands, ...args);
      return queue.addBulk(
        entries.map((entry, i) => ({ ...entry, opts: { ...entry.opts, priority: priorities[i] } })),
      );
    },

    async sweep() {
      await redis.contactLinkerFairTag(...keys, ...bands);
    },

    async toFront(job) {
      await job.changePriority({ priority: TIER_BANDS[tierOfPriority(job.opts.priority)].front });
    },

    async backlogs({ limit = 10, scan = 5_000 } = {}) {
      const all: OrganizationBacklog[] = [];
      for (const tier of TIERS) {
        const [clock, lastTags] = await Promise.all([
          clockOf(tier),
          redis.hgetall(queue.toKey(`fair:${tier}`)),
        ]);
        for (const [organization, tag] of Object.entries(lastTags)) {
          const waiting = Number(tag) - clock;
          if (waiting > 0) all.push({ organization, tier, waiting });
        }
      }
      const top = all.sort((a, b) => b.waiting - a.waiting).slice(0, limit);
      for (const tier of TIERS) {
        const wanted = new Set(top.filter((b) => b.tier === tier).map((b) => b.organization));
        if (wanted.size === 0) continue;
        const oldest = await oldestOf(tier, wanted, scan);
        for (const backlog of top) {
          const at = backlog.tier === tier ? oldest.get(backlog.organization) : undefined;
          if (at) backlog.oldestAcceptedAt = at;
        }
      }
      return top;
    },
  };
}
