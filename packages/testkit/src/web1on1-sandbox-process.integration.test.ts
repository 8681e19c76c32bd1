/**
 * The Web1on1 sandbox in its own process: the asynchronous face gives what the in-process sandbox
 * gives (seeding, the request log, faults, reset), and the process never outlives its parent.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.ts';
import {
  startWeb1on1SandboxProcess,
  type Web1on1SandboxProcess,
} from './web1on1-sandbox-process.ts';

/** Whether `pid` runs (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

let sandbox: Web1on1SandboxProcess | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

describe('startWeb1on1SandboxProcess', () => {
  it('seeds, logs every /v2 request as the sandbox does, resets, and exits on close', async () => {
    sandbox = await startWeb1on1SandboxProcess({ organizationId: 'org-test', latencyMs: 5 });
    const { url, pid } = sandbox;
    // More than one seeding line; ids come back in order.
    const seeded = await sandbox.addContacts(
      Array.from({ length: 450 }, (_, i) => ({
        organization: 'dealer-1',
        profile: { email: `c${i}@example.com` },
      })),
    );
    expect(seeded.map((c) => c.profile.email)).toEqual(
      Array.from({ length: 450 }, (_, i) => `c${i}@example.com`),
    );
    expect(await sandbox.contacts()).toHaveLength(450);

    const headers = { authorization: `Bearer ${sandbox.credentials.token}` };
    const list = (email: string) =>
      fetch(`${url}/v2/contacts?organization=dealer-1&profile.email=${email}`, { headers });
    // Read while three requests wait out the latency, then again once all were answered: the
    // second read must see their answers, not the unanswered records of the first.
    const inFlight = [list('c1@example.com'), list('c2@example.com'), list('c3@example.com')];
    const early = await sandbox.requests();
    await Promise.all(inFlight);
    await sandbox.failNext(1, { status: 503 });
    expect((await list('c4@example.com')).status).toBe(503);
    const patched = await fetch(`${url}/v2/contacts/${seeded[0]!.id}`, {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ links: [{ url: 'https://dms.test/1' }] }),
    });
    expect(patched.status).toBe(200);

    const log = await sandbox.requests();
    expect(early.length).toBeLessThanOrEqual(3);
    expect(log.map((r) => [r.method, r.status])).toEqual([
      ['GET', 200],
      ['GET', 200],
      ['GET', 200],
      ['GET', 503],
      ['PATCH', 200],
    ]);
    expect(log.every((r) => r.endedAt >= r.startedAt && r.startedAt > 0)).toBe(true);
    // The same as the sandbox's whole log, read in one go.
    expect(await (await fetch(`${url}/_sandbox/requests`)).json()).toEqual(log);
    // Each call returns a fresh array.
    log.reverse();
    expect((await sandbox.requests())[0]?.method).toBe('GET');

    await sandbox.reset();
    expect(await sandbox.requests()).toEqual([]);
    expect(await sandbox.contacts()).toEqual([]);
    await list('c1@example.com');
    // A reset through the HTTP control, behind this face's back, is noticed too.
    await fetch(`${url}/_sandbox/reset`, { method: 'POST' });
    await list('c1@example.com');
    expect(await sandbox.requests()).toHaveLength(1);

    const delay = await sandbox.eventLoopDelay();
    expect(delay.maxMs).toBeGreaterThan(0);
    await sandbox.close();
    sandbox = undefined;
    expect(alive(pid)).toBe(false);
  });

  it('exits when the process that started it is killed', async () => {
    const module = pathToFileURL(join(import.meta.dirname, 'web1on1-sandbox-process.ts')).href;
    const parent = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { startWeb1on1SandboxProcess } = await import(${JSON.stringify(module)});
         const sandbox = await startWeb1on1SandboxProcess();
         console.log(sandbox.pid);
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => parent.once('exit', resolve));
    try {
      const [line] = await Promise.race([
        new Promise<string[]>((resolve) =>
          createInterface({ input: parent.stdout }).once('line', (l) => resolve([l])),
        ),
        exited.then(() => ['']),
      ]);
      const child = Number(line);
      expect(child).toBeGreaterThan(0);
      expect(alive(child)).toBe(true);
      parent.kill('SIGKILL');
      await exited;
      await waitFor(() => !alive(child), {
        timeoutMs: 10_000,
        message: 'the sandbox process gone',
      });
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
