/**
 * Entry of the Web1on1 sandbox's own process, started by `startWeb1on1SandboxProcess`
 * (`web1on1-sandbox-process.ts`, which describes why and the protocol):
 * `node web1on1-sandbox-child.ts '<Web1on1SandboxOptions JSON>'`. Prints one JSON line
 * `{ url, token, refreshToken, botEmail }` once it listens, then answers each stdin line with one
 * stdout line, in order:
 * - `{"addContacts":[...]}` → `{"contacts":[...]}` (stored without the webhook that
 *   `POST /_sandbox/contacts` would send);
 * - `{"eventLoopDelay":true}` → `{"eventLoopDelay":{"p99Ms":…,"maxMs":…}}`, this process's event-loop
 *   delay since it listened: how late its `startedAt`/`endedAt` stamps may be.
 * It exits when stdin closes, so it never outlives the process that started it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import {
  type SandboxContact,
  startWeb1on1Sandbox,
  type Web1on1SandboxOptions,
} from './web1on1-sandbox.ts';

type Command =
  | { addContacts: Array<Partial<SandboxContact> & { organization: string }> }
  | { eventLoopDelay: true };

const options = JSON.parse(process.argv[2] ?? '{}') as Web1on1SandboxOptions;
const sandbox = await startWeb1on1Sandbox({ ...options, host: '127.0.0.1' });
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const send = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);
send({
  url: sandbox.url,
  token: sandbox.issueToken(),
  refreshToken: sandbox.refreshToken,
  botEmail: sandbox.botEmail,
});

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line) as Command;
  if ('addContacts' in command) {
    send({ contacts: command.addContacts.map((c) => sandbox.addContact(c)) });
  } else {
    send({
      eventLoopDelay: { p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6 },
    });
  }
});
lines.on('close', () => {
  sandbox.close().finally(() => process.exit(0));
});
