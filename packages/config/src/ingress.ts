import { z } from 'zod';
import {
  boolean,
  clusterNodes,
  logLevel,
  optionalString,
  phoneCountry,
  port,
  positiveInt,
  queuePrefix,
  rateLimit,
  redisUrl,
} from './fields.ts';
import { type Env, pairedVariables, parseEnv } from './load.ts';

const requiredSecret = (name: string) =>
  z
    .string({ error: `is required (${name})` })
    .trim()
    .min(1, `is required (${name})`);

/** Settings the ingress reads; the worker's are separate so each process only fails on its own. */
export const IngressConfig = z
  .object({
    REDIS_URL: redisUrl,
    REDIS_CLUSTER_NODES: clusterNodes,
    QUEUE_PREFIX: queuePrefix,
    PORT: port(4002),
    HOST: z.preprocess((v) => (v === '' ? undefined : v), z.string().default('0.0.0.0')),
    DMS_API_KEYS: requiredSecret('comma-separated API keys').transform((v, ctx) => {
      const keys = v
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k.length > 0);
      if (keys.some((k) => k.length < 16)) {
        ctx.addIssue({ code: 'custom', message: 'every key must be at least 16 characters' });
      }
      return keys;
    }),
    WEB1ON1_WEBHOOK_SECRET: requiredSecret('the Web1on1 bot webhook secret'),
    SYNC_USERS: boolean,
    DEFAULT_PHONE_COUNTRY: phoneCountry,
    ADMIN_USERNAME: optionalString,
    ADMIN_PASSWORD: optionalString,
    INGRESS_RATE_LIMIT: rateLimit('1000/1s'),
    LOG_LEVEL: logLevel,
    JOB_ATTEMPTS: positiveInt(10, 100),
  })
  .superRefine((c, ctx) => {
    if (c.ADMIN_PASSWORD !== undefined && c.ADMIN_PASSWORD.length < 12) {
      ctx.addIssue({
        code: 'custom',
        path: ['ADMIN_PASSWORD'],
        message: 'must be at least 12 characters',
      });
    }
  })
  .transform((c) => ({
    redisUrl: c.REDIS_URL,
    redisClusterNodes: c.REDIS_CLUSTER_NODES,
    queuePrefix: c.QUEUE_PREFIX,
    port: c.PORT,
    host: c.HOST,
    dmsApiKeys: c.DMS_API_KEYS,
    webhookSecret: c.WEB1ON1_WEBHOOK_SECRET,
    syncUsers: c.SYNC_USERS,
    defaultPhoneCountry: c.DEFAULT_PHONE_COUNTRY,
    admin:
      c.ADMIN_USERNAME !== undefined && c.ADMIN_PASSWORD !== undefined
        ? { username: c.ADMIN_USERNAME, password: c.ADMIN_PASSWORD }
        : undefined,
    ingressRateLimit: c.INGRESS_RATE_LIMIT,
    logLevel: c.LOG_LEVEL,
    jobAttempts: c.JOB_ATTEMPTS,
  }));
export type IngressConfig = z.output<typeof IngressConfig>;

/** @throws ConfigError with one line per problem. */
export function loadIngressConfig(env: Env): IngressConfig {
  return parseEnv(IngressConfig, env, (raw) =>
    pairedVariables(
      raw,
      'ADMIN_USERNAME',
      'ADMIN_PASSWORD',
      'is required when the other admin credential is set',
    ),
  );
}
