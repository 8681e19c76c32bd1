import { parseRateLimit } from '@contact-linker/contracts';
import { isSupportedCountry } from 'libphonenumber-js/max';
import { z } from 'zod';

/**
 * Field schemas shared by both processes. Every one takes the raw environment string (or undefined)
 * and produces the typed value, so a variable means the same thing wherever it is read.
 */

const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

export const optionalString = z.preprocess(blankToUndefined, z.string().optional());

export const redisUrl = z.preprocess(
  blankToUndefined,
  z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })
    .default('redis://127.0.0.1:6379'),
);

export const queuePrefix = z.preprocess(
  blankToUndefined,
  z
    .string()
    .regex(/^[^\s:]+$/, 'must not contain spaces or ":"')
    .max(100)
    .default('{contact-linker}'),
);

export const port = (fallback: number) =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: 'must be a port number' })
      .int('must be a port number')
      .min(0)
      .max(65535)
      .default(fallback),
  );

export const positiveInt = (fallback: number, max: number) =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: 'must be a whole number' })
      .int('must be a whole number')
      .min(1)
      .max(max)
      .default(fallback),
  );

const DURATION_UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration as `N` + `s`, `m`, `h` or `d` (e.g. `30d`), in milliseconds. */
export const duration = (fallback: string) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .default(fallback)
      .transform((value, ctx) => {
        const match = /^(\d{1,6})([smhd])$/.exec(value.trim());
        const ms = match ? Number(match[1]) * DURATION_UNIT_MS[match[2] as 's'] : 0;
        if (ms <= 0) {
          ctx.addIssue({ code: 'custom', message: 'must look like 90s, 45m, 12h or 30d' });
          return z.NEVER;
        }
        return ms;
      }),
  );

export const boolean = z.preprocess(
  blankToUndefined,
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
    .default('false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes'),
);

export const logLevel = z.preprocess(
  blankToUndefined,
  z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
);

export const rateLimit = (fallback: string) =>
  z.preprocess(
    blankToUndefined,
    z
      .string()
      .default(fallback)
      .transform((value, ctx) => {
        const parsed = parseRateLimit(value);
        if (!parsed) {
          ctx.addIssue({ code: 'custom', message: 'must look like 10/1s, 100/500ms or 600/1m' });
          return z.NEVER;
        }
        return parsed;
      }),
  );

export const phoneCountry = z.preprocess(
  blankToUndefined,
  z
    .string()
    .default('NL')
    .transform((v) => v.toUpperCase())
    .refine((v) => isSupportedCountry(v), 'must be an ISO 3166-1 alpha-2 region, e.g. NL'),
);

const httpUrlSchema = () =>
  z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

export const httpUrl = (fallback: string) =>
  z.preprocess(blankToUndefined, httpUrlSchema().default(fallback));

export const optionalHttpUrl = z.preprocess(blankToUndefined, httpUrlSchema().optional());

/** `host:port,host:port,…` of Redis Cluster nodes; unset means a single Redis at REDIS_URL. */
export const clusterNodes = z.preprocess(
  blankToUndefined,
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const nodes = value
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n.length > 0);
      if (nodes.length === 0 || nodes.some((n) => !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(n))) {
        ctx.addIssue({ code: 'custom', message: 'must be host:port entries separated by commas' });
        return z.NEVER;
      }
      return nodes;
    }),
);
