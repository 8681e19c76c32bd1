import type { CliConfig } from '@contact-linker/config';
import {
  closeQueues,
  createQueues,
  createRedisConnection,
  type QueueSet,
} from '@contact-linker/queues';
import type { Redis } from 'ioredis';

/** What a command needs; opened lazily so `--help` works without Redis or configuration. */
export interface CliContext {
  config: CliConfig;
  redis: Redis;
  queues: QueueSet;
  out: (line: string) => void;
  /** Prints to stderr and sets a non-zero exit code. */
  fail: (message: string) => void;
}

export function openContext(
  config: CliConfig,
  io: { out: (line: string) => void; err: (line: string) => void },
): CliContext & { close(): Promise<void> } {
  const redis = createRedisConnection(config.redisUrl, {
    role: 'worker',
    name: 'contact-linker:cli',
  });
  const queues = createQueues(redis, config.queuePrefix);
  return {
    config,
    redis,
    queues,
    out: io.out,
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
