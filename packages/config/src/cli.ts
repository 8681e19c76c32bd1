import { z } from 'zod';
import { logLevel, phoneCountry, positiveInt, queuePrefix, redisUrl } from './fields.ts';
import { type Env, parseEnv } from './load.ts';

/** Settings the operator CLI reads: where the queues are, and how it enqueues seeds. */
export const CliConfig = z
  .object({
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: queuePrefix,
    DEFAULT_PHONE_COUNTRY: phoneCountry,
    JOB_ATTEMPTS: positiveInt(10, 100),
    LOG_LEVEL: logLevel,
  })
  .transform((c) => ({
    redisUrl: c.REDIS_URL,
    queuePrefix: c.QUEUE_PREFIX,
    defaultPhoneCountry: c.DEFAULT_PHONE_COUNTRY,
    jobAttempts: c.JOB_ATTEMPTS,
  }));
export type CliConfig = z.output<typeof CliConfig>;

/** @throws ConfigError with one line per problem. */
export function loadCliConfig(env: Env): CliConfig {
  return parseEnv(CliConfig, env);
}
