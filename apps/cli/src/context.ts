import type { CliConfig } from '@contact-linker/config';
import {
  closeQueues,
  createQueues,
  createRedisConnection,
  type QueueSet,
} from '@contact-linker/queues';
import type { Redis } from 'ioredis';
import { redisHost } from './redis-check.ts';

/** What a command needs; opened lazily so `--help` works without Redis or configuration. */
export interface CliContext {
  config: CliConfig;
  redis: Redis;
  queues: QueueSet;
  out: (line: string) => void;
  /** Prints to stderr and sets a non-zero exit code. */
  fail: (message: string) => void;
  /**
   * `redis <host:port>, QUEUE_PREFIX <prefix>`: which system the command looks at (no credentials).
   * Commands that read print it on stderr first, so a wrong prefix (`pnpm dev` uses its own) is
   * seen at once instead of showing as empty queues; stdout stays the data, for `--json | jq`.
   */
  source: string;
  /** Prints to stderr, exit code unchanged. */
  note: (line: string) => void;
}

export function openContext(
  config: CliConfig,
  io: { out: (line: string) => void; err: (line: string) => void },
): CliContext & { close(): Promise<void> } {
  const redis = createRedisConnection(config.redisUrl, {
    role: 'worker',
    name: 'contact-linker:cli',
  });
  // The CLI never owns a queue's settings, so opening the queues writes nothing: a read-only
  // command against a fresh prefix leaves no key behind.
  const queues = createQueues(redis, config.queuePrefix, { readOnlyMeta: true });
  return {
    config,
    redis,
    queues,
    out: io.out,
    source: `redis ${redisHost(config.redisUrl)}, QUEUE_PREFIX ${config.queuePrefix}`,
    note: io.err,
    fail: (message) => {
      io.err(message);
      process.exitCode = 1;
    },
    async close() {
      // quit() waits for a reconnect when commands are queued; with Redis away, just drop the line.
      if (redis.status !== 'ready') {
        redis.disconnect();
        return;
      }
      await closeQueues(queues);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
