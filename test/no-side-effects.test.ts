/**
 * STYLE 8: importing a module does nothing. Only `main.ts` reads config, opens Redis, listens or
 * installs signal handlers; everything else waits to be called. This file imports every non-test
 * module in the `src` folder of every app and package (but no `main.ts`, and not the testkit, which
 * is test infrastructure) and compares `process.getActiveResourcesInfo()` before and after.
 *
 * Limits, for the reviewer: `getActiveResourcesInfo()` lists what keeps the event loop alive, so an
 * `unref()`ed timer or socket is invisible to it. Signal handlers are unref'd too, so they are checked
 * through the listener counts instead. The last test proves the probe sees a module-level
 * `setInterval`, so this file cannot pass merely because the probe is blind.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Resource types that mean a module opened a socket, a server, a timer, a child process or a file
 * watcher. These are the names `getActiveResourcesInfo()` reports (checked on Node 24), which differ
 * from the async_hooks names: a TCP socket is `TCPSocketWrap` there, not `TCPWRAP`, and a server
 * `TCPServerWrap`, not `TCPSERVERWRAP`; a Unix-socket server and a child's stdio are both `PipeWrap`.
 */
const WATCHED = new Set([
  'TCPSocketWrap',
  'TCPServerWrap',
  'PipeWrap',
  'UDPWrap',
  'Timeout',
  'ProcessWrap',
  'FSEventWrap',
  'StatWatcher',
]);
const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

function modulesUnderTest(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter((path) => /^(apps|packages)\/[^/]+\/src\/.+\.ts$/.test(path))
    .filter((path) => !path.endsWith('.test.ts') && !path.endsWith('.d.ts'))
    .filter((path) => !path.endsWith('/main.ts') && !path.startsWith('packages/testkit/'))
    .sort();
}

interface Snapshot {
  resources: Map<string, number>;
  signalListeners: number[];
}

function snapshot(): Snapshot {
  const resources = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) {
    resources.set(type, (resources.get(type) ?? 0) + 1);
  }
  return { resources, signalListeners: SIGNALS.map((signal) => process.listenerCount(signal)) };
}

/** What `after` holds beyond `before`, e.g. `["+1 Timeout", "+1 SIGTERM listener"]`. */
function added(before: Snapshot, after: Snapshot): string[] {
  const changes: string[] = [];
  for (const [type, count] of after.resources) {
    const extra = count - (before.resources.get(type) ?? 0);
    if (WATCHED.has(type) && extra > 0) changes.push(`+${extra} ${type}`);
  }
  SIGNALS.forEach((signal, index) => {
    const extra = (after.signalListeners[index] ?? 0) - (before.signalListeners[index] ?? 0);
    if (extra > 0) changes.push(`+${extra} ${signal} listener`);
  });
  return changes;
}

/** Lets work a module deferred (a connect on the next tick, a promise chain) happen first. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Imports each specifier in turn and reports, per module, what it left running. A module imported by
 * an earlier one is already loaded, so a leak is reported on the first module that pulled it in.
 */
async function importAndDiff(specifiers: string[]): Promise<string[]> {
  const leaks: string[] = [];
  for (const specifier of specifiers) {
    const before = snapshot();
    await import(specifier);
    await settle();
    const changes = added(before, snapshot());
    if (changes.length > 0) leaks.push(`${specifier}: ${changes.join(', ')}`);
  }
  return leaks;
}

it('imports every app and package module without opening a socket, server, timer or process', async () => {
  const modules = modulesUnderTest();
  // Guards against an empty listing passing vacuously.
  expect(modules).toContain('apps/ingress/src/app.ts');
  expect(modules).toContain('apps/worker/src/workers.ts');
  expect(modules).toContain('packages/queues/src/connection.ts');

  const before = snapshot();
  const perModule = await importAndDiff(
    modules.map((path) => pathToFileURL(join(ROOT, path)).href),
  );
  // A second look after a short wait, for anything started later (a DNS lookup, say, then a connect).
  await new Promise((resolve) => setTimeout(resolve, 100));
  const overall = added(before, snapshot());
  expect({ perModule, overall }, 'importing these modules started something').toEqual({
    perModule: [],
    overall: [],
  });
}, 60_000);

it('notices a module that starts a timer at import time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'no-side-effects-'));
  const leaky = join(dir, 'leaky.mjs');
  writeFileSync(leaky, 'export const handle = setInterval(() => {}, 60_000);\n');
  const url = pathToFileURL(leaky).href;
  try {
    expect(await importAndDiff([url])).toEqual([`${url}: +1 Timeout`]);
  } finally {
    const loaded = (await import(url)) as { handle: NodeJS.Timeout };
    clearInterval(loaded.handle);
    rmSync(dir, { recursive: true, force: true });
  }
});
