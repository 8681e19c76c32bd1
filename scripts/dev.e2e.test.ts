/**
 * `./scripts/pnpm dev` as a newcomer runs it: started through the wrapper and pnpm, stopped with a
 * Ctrl-C, which a terminal delivers as SIGINT to the whole foreground process group (here: the
 * group this test starts it in). Every port is a free one, so this runs beside anything else.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  collectLines,
  freePort,
  startPrivateRedis,
  startWatchdog,
  stopWatchdog,
  waitFor,
} from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { DEMO_WEBHOOK_CONTACT } from './dev/demo.ts';
import { noRedisHint, redisAnswers } from './dev/redis.ts';
import { sendWebhook } from './send-webhook.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BANNER_END = /^Ctrl-C stops everything; /;

interface DevRun {
  ports: { ingress: number; worker: number; web1on1: number; dms: number };
  lines: string[];
  /** The output so far, for failure messages. */
  text(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Ctrl-C at a terminal: SIGINT to the whole process group. */
  interrupt(): void;
  /** For clean-up after a failure: SIGTERM to the group, then SIGKILL. */
  kill(): Promise<void>;
}

async function startDev(env: Record<string, string>, args: string[] = []): Promise<DevRun> {
  const ports = {
    ingress: await freePort(),
    worker: await freePort(),
    web1on1: await freePort(),
    dms: await freePort(),
  };
  const child: ChildProcess = spawn(join(ROOT, 'scripts/pnpm'), ['dev', ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      PORT: String(ports.ingress),
      WORKER_PORT: String(ports.worker),
      DEV_WEB1ON1_PORT: String(ports.web1on1),
      DEV_DMS_PORT: String(ports.dms),
      ...env,
    },
    // Its own process group, as a terminal's foreground job.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid!;
  // If this test process dies, the whole group goes with it (a negative pid names a group).
  const watchdog = startWatchdog({ name: 'cl-dev-test-watchdog', pid: -pgid });
  const lines: string[] = [];
  collectLines(child.stdout, lines);
  collectLines(child.stderr, lines);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      stopWatchdog(watchdog);
      resolve({ code, signal });
    }),
  );
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pgid, signal);
    } catch {
      // already gone
    }
  };
  return {
    ports,
    lines,
    text: () => lines.join('\n'),
    exited,
    interrupt: () => signalGroup('SIGINT'),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalGroup('SIGTERM');
      const done = await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (!done) signalGroup('SIGKILL');
    },
  };
}

async function waitForLine(dev: DevRun, pattern: RegExp, timeoutMs = 45_000): Promise<string> {
  try {
    return await waitFor(() => dev.lines.find((line) => pattern.test(line)), {
      timeoutMs,
      message: `a line matching ${pattern}`,
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}; the output:\n${dev.text()}`);
  }
}

async function keysUnder(url: string, prefix: string): Promise<string[]> {
  const redis = new Redis(url);
  try {
    return await redis.keys(`${prefix}*`);
  } finally {
    redis.disconnect();
  }
}

describe('pnpm dev', () => {
  it('with nothing at REDIS_URL starts a private redis-server, says so, runs the system, and on Ctrl-C stops it and exits 0', async () => {
    const nothing = `redis://127.0.0.1:${await freePort()}`;
    const dev = await startDev({ REDIS_URL: nothing });
    try {
      const started = await waitForLine(
        dev,
        /^pnpm dev: nothing answers at \S+; started a private redis-server at redis:\/\/127\.0\.0\.1:\d+ /,
      );
      expect(started).toContain(`nothing answers at ${nothing};`);
      const privateUrl = /at (redis:\/\/127\.0\.0\.1:\d+) for this run/.exec(started)?.[1] ?? '';
      expect(await redisAnswers(privateUrl)).toBe(true);
      await waitForLine(dev, BANNER_END);
      await waitForLine(dev, / ingress info {2}Server listening at /);
      await waitForLine(dev, / worker {2}info {2}worker started /);

      // The banner names what a newcomer looks for, with commands that work as printed.
      const ingress = `http://127.0.0.1:${dev.ports.ingress}`;
      const banner = dev.text();
      for (const expected of [
        `${ingress}/docs`,
        `${ingress}/metrics`,
        `http://127.0.0.1:${dev.ports.worker}/metrics`,
        `${ingress}/admin/queues   (basic auth: admin / dev-admin-password)`,
        `./scripts/pnpm webhook:send --url ${ingress}/webhook --api-url http://127.0.0.1:${dev.ports.web1on1} --contact ${DEMO_WEBHOOK_CONTACT.id}`,
        `REDIS_URL=${privateUrl} QUEUE_PREFIX='{contact-linker-dev}' ./scripts/pnpm cli queues stats`,
        'SYNC_USERS=true',
        'the private redis-server stops with it',
      ]) {
        expect(banner).toContain(expected);
      }

      // The flows run: a DMS post gets its link, a webhook of the demo contact reaches the DMS.
      const posted = await fetch(`${ingress}/updatecontact`, {
        method: 'POST',
        headers: {
          authorization: 'Bearer dev-api-key-change-me',
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          id: 'DMS-1001',
          organization: 'demo-dealer',
          email: 'Jane.Doe@example.com',
        }),
      });
      expect(posted.status).toBe(202);
      await waitForLine(dev, /^\[web1on1 sandbox\] contact \w+ got link "View in DMS"/);
      const out: string[] = [];
      const sent = await sendWebhook(
        ['--url', `${ingress}/webhook`, '--api-url', `http://127.0.0.1:${dev.ports.web1on1}`],
        {},
        { out: (line) => out.push(line), err: (line) => out.push(line) },
      );
      expect({ sent, out }).toEqual({ sent: 0, out: ['200 {"status":"queued"}'] });
      await waitForLine(dev, /^\[dms sandbox\] received contact\.updated .*signature valid/);

      // The CLI, as the banner prints it, sees this system.
      const { stdout, stderr } = await promisify(execFile)(
        process.execPath,
        [join(ROOT, 'apps/cli/src/main.ts'), 'queues', 'stats', '--json'],
        {
          env: {
            PATH: process.env.PATH ?? '',
            REDIS_URL: privateUrl,
            QUEUE_PREFIX: '{contact-linker-dev}',
          },
        },
      );
      expect(stderr).toContain('QUEUE_PREFIX {contact-linker-dev}');
      const stats = JSON.parse(stdout) as { queues: Record<string, { completed: number }> };
      expect(stats.queues['link-contact']?.completed).toBeGreaterThanOrEqual(1);

      // The processes' logs read as text, not JSON.
      expect(dev.lines.filter((line) => line.startsWith('{'))).toEqual([]);

      dev.interrupt();
      expect(await dev.exited, dev.text()).toEqual({ code: 0, signal: null });
      expect(dev.text()).not.toContain('ELIFECYCLE');
      expect(await redisAnswers(privateUrl)).toBe(false);
    } finally {
      await dev.kill();
    }
  });

  it('with a Redis at REDIS_URL uses it, and on Ctrl-C deletes its own keys there and leaves Redis running', async () => {
    const shared = await startPrivateRedis();
    try {
      const dev = await startDev({ REDIS_URL: shared.url });
      try {
        await waitForLine(dev, BANNER_END);
        await waitForLine(dev, / ingress info {2}Server listening at /);
        await waitForLine(dev, / worker {2}info {2}worker started /);
        expect(dev.text()).not.toContain('private redis-server');
        expect(dev.text()).toContain(
          `the keys under {contact-linker-dev} are deleted from ${shared.url}`,
        );
        const posted = await fetch(`http://127.0.0.1:${dev.ports.ingress}/updatecontact`, {
          method: 'POST',
          headers: {
            authorization: 'Bearer dev-api-key-change-me',
            'content-type': 'application/json',
          },
          body: JSON.stringify({ id: 'DMS-1', organization: 'demo-dealer', phone: '06 12345678' }),
        });
        expect(posted.status).toBe(202);
        await waitForLine(dev, /^\[web1on1 sandbox\] contact \w+ got link /);
        expect(await keysUnder(shared.url, '{contact-linker-dev}')).not.toEqual([]);

        dev.interrupt();
        expect(await dev.exited, dev.text()).toEqual({ code: 0, signal: null });
        expect(dev.text()).toMatch(
          /pnpm dev: deleted this run's \d+ keys under \{contact-linker-dev\}/,
        );
        expect(await keysUnder(shared.url, '{contact-linker-dev}')).toEqual([]);
        expect(await redisAnswers(shared.url)).toBe(true);
      } finally {
        await dev.kill();
      }
    } finally {
      await shared.stop();
    }
  });

  it('with --traces prints the path of a DMS event as a span tree, service by service', async () => {
    const dev = await startDev({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, [
      '--traces',
    ]);
    try {
      await waitForLine(dev, /^ {2}traces {11}http:\/\/127\.0\.0\.1:\d+ \(OTLP; /);
      await waitForLine(dev, / ingress info {2}Server listening at /);
      await waitForLine(dev, / worker {2}info {2}worker started .*tracing=true/);
      const posted = await fetch(`http://127.0.0.1:${dev.ports.ingress}/updatecontact`, {
        method: 'POST',
        headers: {
          authorization: 'Bearer dev-api-key-change-me',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ id: 'DMS-1', organization: 'demo-dealer', phone: '06 12345678' }),
      });
      expect(posted.status).toBe(202);
      // The tree of the event's trace, printed once it went quiet.
      await waitForLine(dev, /^ {2}worker {2} +POST \/webhooks\/contact-linker {2}[\d.]+ ms$/);
      const tree = dev.text().slice(dev.text().lastIndexOf('  ingress  POST /updatecontact'));
      for (const step of [
        /^ {2}ingress {2}POST \/updatecontact {2}[\d.]+ ms$/m,
        /^ {2}ingress {2} +create link-contact /m,
        /^ {2}worker {3} +process link-contact /m,
        /^ {2}worker {3} +GET \/v2\/contacts /m,
        /^ {2}worker {3} +PATCH \/v2\/contacts\/\w+ /m,
        /^ {2}worker {3} +process notify-dms /m,
      ]) {
        expect(tree, dev.text()).toMatch(step);
      }
      expect(dev.text()).toMatch(
        /^ {2}ingress {2}send link-contact {2}[\d.]+ ms {2}\(links to 1\)$/m,
      );
      // Not a phone number anywhere in the printed spans (the Web1on1 search carried one).
      expect(tree).not.toMatch(/31612345678|12345678/);

      dev.interrupt();
      expect(await dev.exited, dev.text()).toEqual({ code: 0, signal: null });
    } finally {
      await dev.kill();
    }
  });

  it('with no Redis and no redis-server on PATH prints the one-line hint and exits 1, no stack trace', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const emptyPath = mkdtempSync(join(tmpdir(), 'cl-no-redis-'));
    try {
      const run = await promisify(execFile)(process.execPath, [join(ROOT, 'scripts/dev.ts')], {
        cwd: ROOT,
        env: { PATH: emptyPath, REDIS_URL: url },
      }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({
        code: 1,
        stdout: '',
        stderr: `${noRedisHint(url)}\n`,
      });
      expect(run.stderr).toContain(`--port ${new URL(url).port} `);
    } finally {
      rmSync(emptyPath, { recursive: true, force: true });
    }
  });
});
