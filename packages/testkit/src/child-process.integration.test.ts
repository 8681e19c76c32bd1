import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { freePort, spawnWatched, waitUntilServing } from './child-process.ts';
import { waitFor } from './wait-for.ts';

const node = (script: string, label = 'child') =>
  spawnWatched(label, ['-e', script], { cwd: tmpdir(), env: {}, watchdogName: 'cl-test-watchdog' });

describe('spawnWatched', () => {
  it('collects output line by line and reports how the child ended', async () => {
    const lines: string[] = [];
    const child = spawnWatched('printer', ['-e', 'console.log("a\\nb"); console.error("oops")'], {
      cwd: tmpdir(),
      env: {},
      watchdogName: 'cl-test-watchdog',
      onStdoutLine: (line) => lines.push(line),
    });
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(child.running()).toBe(false);
    expect(child.stdout).toEqual(['a', 'b']);
    expect(lines).toEqual(['a', 'b']);
    expect(child.stderr).toEqual(['oops']);
    expect(child.tail(1)).toBe(
      `--- printer (pid ${child.pid}) stdout ---\nb\n--- printer stderr ---\noops`,
    );
  });

  it('keeps only the last maxLines', async () => {
    const child = spawnWatched('many', ['-e', 'for (let i = 0; i < 10; i++) console.log(i)'], {
      cwd: tmpdir(),
      env: {},
      watchdogName: 'cl-test-watchdog',
      maxLines: 3,
    });
    await child.exited;
    expect(child.stdout).toEqual(['7', '8', '9']);
  });

  it('signals and waits, times out on a child that ignores the signal, and kills it', async () => {
    const stubborn = node(
      'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000)',
    );
    await waitFor(() => stubborn.stdout.includes('up'));
    expect(await stubborn.signalAndWait('SIGTERM', 200)).toBe('timeout');
    expect(stubborn.running()).toBe(true);
    expect(await stubborn.kill()).toEqual({ code: null, signal: 'SIGKILL' });

    const polite = node('setInterval(() => {}, 1000)');
    expect(await polite.signalAndWait('SIGTERM', 5_000)).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('runs another program when given `command`, and says so when it cannot', async () => {
    const echo = spawnWatched('echo', ['-c', 'echo "$GREETING"'], {
      command: '/bin/sh',
      cwd: tmpdir(),
      env: { GREETING: 'hi' },
      watchdogName: 'cl-test-watchdog',
    });
    expect(await echo.exited).toEqual({ code: 0, signal: null });
    expect(echo.stdout).toEqual(['hi']);
    expect(() =>
      spawnWatched('missing', [], {
        command: 'cl-no-such-program',
        cwd: tmpdir(),
        env: {},
        watchdogName: 'cl-test-watchdog',
      }),
    ).toThrow('missing: could not spawn cl-no-such-program');
  });

  it('with `unref`, lets the parent exit (killing the child) yet holds it open for kill()', async () => {
    const script = [
      `import { spawnWatched } from ${JSON.stringify(join(import.meta.dirname, 'child-process.ts'))};`,
      "const opts = { cwd: '/', env: {}, watchdogName: 'cl-test-watchdog', unref: true };",
      "const sleeper = () => spawnWatched('sleeper', ['-e', 'setInterval(() => {}, 1000)'], opts);",
      'console.log(JSON.stringify(await sleeper().kill()));',
      'console.log(sleeper().pid);',
    ].join('\n');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', script],
      { timeout: 10_000 },
    );
    const [killed, pid] = stdout.trim().split('\n');
    expect(JSON.parse(killed ?? '')).toEqual({ code: null, signal: 'SIGKILL' });
    // Dead or a zombie: an orphan waits for init to reap it, and some inits take their time.
    const gone = () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
      } catch {
        return true;
      }
    };
    await waitFor(gone, { timeoutMs: 5_000, message: 'the unref child to die with its parent' });
  });
});

describe('waitUntilServing', () => {
  it('resolves once the URL answers 200, and fails early when the child exits', async () => {
    const port = await freePort();
    let status = 503;
    const server = createServer((_req, res) => res.writeHead(status).end());
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const sleeper = node('setInterval(() => {}, 1000)', 'sleeper');
    try {
      setTimeout(() => {
        status = 200;
      }, 100);
      await waitUntilServing(sleeper, `http://127.0.0.1:${port}/`, {
        timeoutMs: 5_000,
        intervalMs: 10,
      });
      const dying = node('process.exit(3)', 'dying');
      status = 503;
      await expect(
        waitUntilServing(dying, `http://127.0.0.1:${port}/`, { timeoutMs: 5_000, intervalMs: 10 }),
      ).rejects.toThrow(/dying exited before it was ready \(code 3/);
    } finally {
      await sleeper.kill();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
