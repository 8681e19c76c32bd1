import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { startPrivateRedis } from './redis.ts';

const run = promisify(execFile);

/** A Redis Cluster for tests: `nodes` as `host:port`, for REDIS_CLUSTER_NODES. */
export interface RedisClusterHandle {
  nodes: string[];
  kind: 'env' | 'private';
  /** Stops what this handle started; a cluster from REDIS_CLUSTER_NODES is left alone. */
  stop(): Promise<void>;
}

/**
 * The cluster of `REDIS_CLUSTER_NODES` when it is set, else a private one: `masters` redis-server
 * processes with `--cluster-enabled yes` on free ports, joined by `redis-cli --cluster create`
 * (no replicas), ready once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster({ masters = 3 } = {}): Promise<RedisClusterHandle> {
  const fromEnv = process.env.REDIS_CLUSTER_NODES?.split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (fromEnv && fromEnv.length > 0) return { nodes: fromEnv, kind: 'env', stop: async () => {} };

  const servers = await Promise.all(
    Array.from({ length: masters }, () =>
      startPrivateRedis({
        extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
      }),
    ),
  );
  const nodes = servers.map((s) => `127.0.0.1:${s.port}`);
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    await run(
      'redis-cli',
      ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'],
      {
        timeout: 20_000,
      },
    );
    const deadline = Date.now() + 20_000;
    for (;;) {
      const infos = await Promise.all(
        servers.map((s) => run('redis-cli', ['-p', String(s.port), 'cluster', 'info'])),
      );
      if (infos.every(({ stdout }) => stdout.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error('Redis Cluster did not reach cluster_state:ok');
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, kind: 'private', stop };
}

/** Deletes the keys under `prefix` on every master of the cluster; never touches any other key. */
export async function deleteClusterKeysWithPrefix(
  nodes: string[],
  prefix: string,
): Promise<number> {
  const cluster = new Cluster(
    nodes.map((n) => ({ host: n.split(':')[0]!, port: Number(n.split(':')[1]) })),
  );
  try {
    if (cluster.status !== 'ready') await new Promise((resolve) => cluster.once('ready', resolve));
    let deleted = 0;
    for (const node of cluster.nodes('master')) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(
          cursor,
          'MATCH',
          `${escapeGlob(prefix)}*`,
          'COUNT',
          500,
        );
        cursor = next;
        for (const key of keys) deleted += await cluster.unlink(key);
      } while (cursor !== '0');
    }
    return deleted;
  } finally {
    cluster.disconnect();
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
