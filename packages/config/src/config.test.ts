import { describe, expect, it } from 'vitest';
import { ConfigError, loadIngressConfig, loadWorkerConfig } from './index.ts';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib3QifQ.c2ln';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

describe('loadIngressConfig', () => {
  const valid = {
    DMS_API_KEYS: 'key-aaaaaaaaaaaaaaaa, key-bbbbbbbbbbbbbbbb',
    WEB1ON1_WEBHOOK_SECRET: 'hook-secret',
  };

  it('applies the contract defaults', () => {
    const config = loadIngressConfig(valid);
    expect(config).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      queuePrefix: '{contact-linker}',
      port: 4002,
      host: '0.0.0.0',
      dmsApiKeys: ['key-aaaaaaaaaaaaaaaa', 'key-bbbbbbbbbbbbbbbb'],
      syncUsers: false,
      defaultPhoneCountry: 'NL',
      admin: undefined,
      ingressRateLimit: { max: 1000, durationMs: 1000 },
      logLevel: 'info',
      jobAttempts: 10,
    });
  });

  it('names every missing required variable on its own line', () => {
    expect(problems(() => loadIngressConfig({}))).toEqual([
      expect.stringMatching(/^DMS_API_KEYS: is required/),
      expect.stringMatching(/^WEB1ON1_WEBHOOK_SECRET: is required/),
    ]);
  });

  it('rejects invalid values, one line per variable', () => {
    const lines = problems(() =>
      loadIngressConfig({
        ...valid,
        PORT: 'http',
        REDIS_URL: 'http://x',
        SYNC_USERS: 'maybe',
        DEFAULT_PHONE_COUNTRY: 'XX',
        INGRESS_RATE_LIMIT: 'lots',
        ADMIN_USERNAME: 'ops',
      }),
    );
    expect(lines.map((l) => l.split(':')[0]).sort()).toEqual([
      'ADMIN_PASSWORD',
      'DEFAULT_PHONE_COUNTRY',
      'INGRESS_RATE_LIMIT',
      'PORT',
      'REDIS_URL',
      'SYNC_USERS',
    ]);
  });

  it('reads REDIS_CLUSTER_NODES as a list of host:port', () => {
    expect(loadIngressConfig(valid).redisClusterNodes).toBeUndefined();
    expect(
      loadIngressConfig({ ...valid, REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-2:7001' })
        .redisClusterNodes,
    ).toEqual(['10.0.0.1:7000', 'redis-2:7001']);
    expect(problems(() => loadIngressConfig({ ...valid, REDIS_CLUSTER_NODES: 'redis-1' }))).toEqual(
      ['REDIS_CLUSTER_NODES: must be host:port entries separated by commas'],
    );
  });

  it('rejects short API keys', () => {
    expect(problems(() => loadIngressConfig({ ...valid, DMS_API_KEYS: 'short' }))).toEqual([
      'DMS_API_KEYS: every key must be at least 16 characters',
    ]);
  });

  it('mounts admin only with both credentials', () => {
    const config = loadIngressConfig({
      ...valid,
      ADMIN_USERNAME: 'ops',
      ADMIN_PASSWORD: 'correct-horse-battery',
    });
    expect(config.admin).toEqual({ username: 'ops', password: 'correct-horse-battery' });
  });
});

describe('loadWorkerConfig', () => {
  it('applies the contract defaults', () => {
    const config = loadWorkerConfig({ WEB1ON1_TOKEN: JWT });
    expect(config).toMatchObject({
      web1on1: {
        apiUrl: 'https://api.web1on1.chat',
        appUrl: 'https://app.web1on1.chat',
        rateLimit: { max: 10, durationMs: 1000 },
      },
      link: {
        urlTemplate: 'https://example.com/customer/{id}/',
        label: 'View in DMS',
        icon: 'https://example.com/favicon.ico',
      },
      notify: undefined,
      workerPort: 9464,
      concurrency: 16,
      jobAttempts: 10,
      notFoundAttempts: 3,
      linkMemoryTtlMs: 30 * 86_400_000,
    });
  });

  it('reads LINK_MEMORY_TTL in s, m, h or d, and nothing else', () => {
    const ttl = (LINK_MEMORY_TTL: string) =>
      loadWorkerConfig({ WEB1ON1_TOKEN: JWT, LINK_MEMORY_TTL }).linkMemoryTtlMs;
    expect([ttl('90s'), ttl('45m'), ttl('12h'), ttl('7d')]).toEqual([
      90_000, 2_700_000, 43_200_000, 604_800_000,
    ]);
    for (const bad of ['0d', '30', '1w', '-1d', '1.5h']) {
      expect(
        problems(() => loadWorkerConfig({ WEB1ON1_TOKEN: JWT, LINK_MEMORY_TTL: bad })),
      ).toEqual(['LINK_MEMORY_TTL: must look like 90s, 45m, 12h or 30d']);
    }
  });

  it('keeps NOT_FOUND_ATTEMPTS within JOB_ATTEMPTS', () => {
    expect(
      loadWorkerConfig({ WEB1ON1_TOKEN: JWT, NOT_FOUND_ATTEMPTS: '5', JOB_ATTEMPTS: '5' })
        .notFoundAttempts,
    ).toBe(5);
    expect(
      problems(() => loadWorkerConfig({ WEB1ON1_TOKEN: JWT, NOT_FOUND_ATTEMPTS: '11' })),
    ).toEqual(['NOT_FOUND_ATTEMPTS: must not exceed JOB_ATTEMPTS']);
    expect(
      problems(() =>
        loadWorkerConfig({ WEB1ON1_TOKEN: JWT, NOT_FOUND_ATTEMPTS: '3', JOB_ATTEMPTS: '2' }),
      ),
    ).toEqual(['NOT_FOUND_ATTEMPTS: must not exceed JOB_ATTEMPTS']);
    // Unset, it follows a JOB_ATTEMPTS below its default.
    expect(loadWorkerConfig({ WEB1ON1_TOKEN: JWT, JOB_ATTEMPTS: '2' }).notFoundAttempts).toBe(2);
  });

  it('requires a JWT-shaped token', () => {
    expect(problems(() => loadWorkerConfig({ WEB1ON1_TOKEN: 'opaque' }))).toEqual([
      'WEB1ON1_TOKEN: must be a JWT (header.payload.signature)',
    ]);
    expect(problems(() => loadWorkerConfig({}))[0]).toMatch(/^WEB1ON1_TOKEN: is required/);
  });

  it('requires DMS_NOTIFY_SECRET with DMS_NOTIFY_URL, in whsec_ form', () => {
    expect(
      problems(() =>
        loadWorkerConfig({ WEB1ON1_TOKEN: JWT, DMS_NOTIFY_URL: 'https://dms.example/hook' }),
      ),
    ).toEqual(['DMS_NOTIFY_SECRET: is required when DMS_NOTIFY_URL is set']);
    expect(
      problems(() =>
        loadWorkerConfig({
          WEB1ON1_TOKEN: JWT,
          DMS_NOTIFY_URL: 'https://dms.example/hook',
          DMS_NOTIFY_SECRET: 'plain',
        }),
      ),
    ).toEqual(['DMS_NOTIFY_SECRET: must be whsec_ followed by base64']);
  });

  it('rejects a link template without {id} or with a non-http scheme', () => {
    expect(
      problems(() =>
        loadWorkerConfig({ WEB1ON1_TOKEN: JWT, DMS_CONTACT_URL_TEMPLATE: 'https://dms/x' }),
      ),
    ).toEqual(['DMS_CONTACT_URL_TEMPLATE: must contain {id}']);
    expect(
      problems(() =>
        loadWorkerConfig({ WEB1ON1_TOKEN: JWT, DMS_CONTACT_URL_TEMPLATE: 'javascript:{id}' }),
      ),
    ).toEqual([expect.stringMatching(/^DMS_CONTACT_URL_TEMPLATE: must be an http/)]);
  });

  it('parses every rate-limit form the contract names', () => {
    for (const [value, expected] of [
      ['5/500ms', { max: 5, durationMs: 500 }],
      ['20/1s', { max: 20, durationMs: 1000 }],
      ['600/1m', { max: 600, durationMs: 60_000 }],
    ] as const) {
      expect(
        loadWorkerConfig({ WEB1ON1_TOKEN: JWT, WEB1ON1_RATE_LIMIT: value }).web1on1.rateLimit,
      ).toEqual(expected);
    }
    expect(
      problems(() => loadWorkerConfig({ WEB1ON1_TOKEN: JWT, WEB1ON1_RATE_LIMIT: '0/1s' })),
    ).toEqual(['WEB1ON1_RATE_LIMIT: must look like 10/1s, 100/500ms or 600/1m']);
  });
});
