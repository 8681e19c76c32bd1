import { z } from 'zod';
import {
  clusterNodes,
  duration,
  httpUrl,
  logLevel,
  optionalHttpUrl,
  optionalString,
  phoneCountry,
  port,
  positiveInt,
  queuePrefix,
  rateLimit,
  redisUrl,
} from './fields.ts';
import { type Env, isSet, pairedVariables, parseEnv } from './load.ts';

// chipchat decodes the token to learn its user and scope, and fails every call on anything else.
const jwt = z
  .string({ error: 'is required (the Web1on1 bot access token)' })
  .trim()
  .regex(
    /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/,
    'must be a JWT (header.payload.signature)',
  );

/** Settings the worker reads. */
export const WorkerConfig = z
  .object({
    REDIS_URL: redisUrl,
    REDIS_CLUSTER_NODES: clusterNodes,
    QUEUE_PREFIX: queuePrefix,
    WEB1ON1_API_URL: httpUrl('https://api.web1on1.chat'),
    WEB1ON1_TOKEN: jwt,
    WEB1ON1_REFRESH_TOKEN: optionalString,
    WEB1ON1_BOT_EMAIL: optionalString,
    WEB1ON1_APP_URL: httpUrl('https://app.web1on1.chat'),
    WEB1ON1_RATE_LIMIT: rateLimit('10/1s'),
    DMS_CONTACT_URL_TEMPLATE: httpUrl('https://example.com/customer/{id}/').refine(
      (v) => v.includes('{id}'),
      'must contain {id}',
    ),
    DMS_LINK_LABEL: z.preprocess(
      (v) => (v === '' ? undefined : v),
      z.string().max(100).default('View in DMS'),
    ),
    DMS_LINK_ICON: optionalHttpUrl,
    DMS_NOTIFY_URL: optionalHttpUrl,
    DMS_NOTIFY_SECRET: optionalString.refine(
      (v) => v === undefined || /^whsec_[A-Za-z0-9+/]+={0,2}$/.test(v),
      'must be whsec_ followed by base64',
    ),
    DEFAULT_PHONE_COUNTRY: phoneCountry,
    WORKER_PORT: port(9464),
    LOG_LEVEL: logLevel,
    WORKER_CONCURRENCY: positiveInt(16, 1000),
    JOB_ATTEMPTS: positiveInt(10, 100),
    NOT_FOUND_ATTEMPTS: positiveInt(3, 100),
    LINK_MEMORY_TTL: duration('30d'),
  })
  .transform((c) => ({
    redisUrl: c.REDIS_URL,
    redisClusterNodes: c.REDIS_CLUSTER_NODES,
    queuePrefix: c.QUEUE_PREFIX,
    web1on1: {
      apiUrl: c.WEB1ON1_API_URL,
      token: c.WEB1ON1_TOKEN,
      refreshToken: c.WEB1ON1_REFRESH_TOKEN,
      botEmail: c.WEB1ON1_BOT_EMAIL,
      appUrl: c.WEB1ON1_APP_URL.replace(/\/+$/, ''),
      rateLimit: c.WEB1ON1_RATE_LIMIT,
    },
    link: {
      urlTemplate: c.DMS_CONTACT_URL_TEMPLATE,
      label: c.DMS_LINK_LABEL,
      // Without an explicit icon, the DMS's own favicon is the natural badge for its link.
      icon:
        c.DMS_LINK_ICON ??
        `${new URL(c.DMS_CONTACT_URL_TEMPLATE.replaceAll('{id}', 'x')).origin}/favicon.ico`,
    },
    notify:
      c.DMS_NOTIFY_URL !== undefined && c.DMS_NOTIFY_SECRET !== undefined
        ? { url: c.DMS_NOTIFY_URL, secret: c.DMS_NOTIFY_SECRET }
        : undefined,
    defaultPhoneCountry: c.DEFAULT_PHONE_COUNTRY,
    workerPort: c.WORKER_PORT,
    logLevel: c.LOG_LEVEL,
    concurrency: c.WORKER_CONCURRENCY,
    jobAttempts: c.JOB_ATTEMPTS,
    /** Lookups of a live DMS event that finds nobody before it completes `not_found`. */
    // Unset, it is 3 or JOB_ATTEMPTS, whichever is less; set higher than JOB_ATTEMPTS, an error.
    notFoundAttempts: Math.min(c.NOT_FOUND_ATTEMPTS, c.JOB_ATTEMPTS),
    /** How long a link made and a DMS contact waiting for its Web1on1 contact are remembered. */
    linkMemoryTtlMs: c.LINK_MEMORY_TTL,
  }));
export type WorkerConfig = z.output<typeof WorkerConfig>;

const numberOr = (env: Env, name: string, fallback: number) =>
  isSet(env, name) ? Number(env[name]) : fallback;

/** @throws ConfigError with one line per problem. */
export function loadWorkerConfig(env: Env): WorkerConfig {
  return parseEnv(WorkerConfig, env, (raw) => [
    ...(isSet(raw, 'DMS_NOTIFY_URL') && !isSet(raw, 'DMS_NOTIFY_SECRET')
      ? ['DMS_NOTIFY_SECRET: is required when DMS_NOTIFY_URL is set']
      : []),
    ...(isSet(raw, 'NOT_FOUND_ATTEMPTS') &&
    Number(raw.NOT_FOUND_ATTEMPTS) > numberOr(raw, 'JOB_ATTEMPTS', 10)
      ? ['NOT_FOUND_ATTEMPTS: must not exceed JOB_ATTEMPTS']
      : []),
    ...pairedVariables(
      raw,
      'WEB1ON1_REFRESH_TOKEN',
      'WEB1ON1_BOT_EMAIL',
      'is required for token renewal when the other one is set',
    ),
  ]);
}
