import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * How long a seed's checkpoint outlives its last batch. Long enough to resume after a weekend, short
 * enough that seeds leave nothing behind in Redis for good.
 */
const CHECKPOINT_TTL_S = 30 * 24 * 3600;

/** Identifies one seed: this file, as it is now, into this organization. */
export interface SeedIdentity {
  /** Absolute path of the file. */
  path: string;
  size: number;
  mtimeMs: number;
  organization: string;
}

export interface SeedCheckpoint {
  /** The last file line (1-based) processed: every accepted record up to it is on the queue. */
  line: number;
  /** Whether the whole file was processed. */
  done: boolean;
  updatedAt: string;
}

/**
 * sha256 of the seed's identity, hex. A changed file (size or mtime) is a new seed with a fresh
 * checkpoint and fresh job ids, so edited lines are never mistaken for ones already enqueued.
 */
export function seedId({ path, size, mtimeMs, organization }: SeedIdentity): string {
  return createHash('sha256')
    .update(JSON.stringify([path, size, mtimeMs, organization]))
    .digest('hex');
}

/**
 * The BullMQ job id of the record starting on `line`: the same on every run of the same seed, so a
 * replayed batch adds nothing for lines already added (BullMQ ignores an add whose id exists). Custom
 * ids must not be integers nor contain `:`; 64 bits of the seed id keep them short.
 */
export function seedJobId(id: string, line: number): string {
  return `seed-${id.slice(0, 16)}-${line}`;
}

/** The checkpoint's key, under the queue prefix (hash-tagged, so Redis Cluster keeps it with the queues). */
export function checkpointKey(prefix: string, id: string): string {
  return `${prefix}:seed-checkpoint:${id}`;
}

export async function readCheckpoint(
  redis: Redis,
  key: string,
): Promise<SeedCheckpoint | undefined> {
  const stored = await redis.hgetall(key);
  const line = Number(stored.line);
  if (!Number.isSafeInteger(line) || line < 0) return undefined;
  return { line, done: stored.done === '1', updatedAt: stored.updatedAt ?? '' };
}

/** Stores the checkpoint (and what it is for, for an operator looking at Redis) with a fresh TTL. */
export async function writeCheckpoint(
  redis: Redis,
  key: string,
  identity: SeedIdentity,
  checkpoint: SeedCheckpoint,
): Promise<void> {
  const results = await redis
    .multi()
    .hset(key, {
      line: String(checkpoint.line),
      done: checkpoint.done ? '1' : '0',
      updatedAt: checkpoint.updatedAt,
      file: identity.path,
      organization: identity.organization,
    })
    .expire(key, CHECKPOINT_TTL_S)
    .exec();
  const failed = results?.find(([error]) => error)?.[0];
  if (failed) throw failed;
}
