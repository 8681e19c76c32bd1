/**
 * The Web1on1 sandbox in a process of its own, for scenarios that measure what the API sees to the
 * millisecond (the request budget, the 429 pause). In the test process, the sandbox stamps a request's
 * `startedAt` only when that process's event loop gets to it, and there it stalls for up to ~100 ms
 * (vitest, the DMS sandbox, GC): requests that arrived apart get bunched, and a window counts more
 * than the workers sent in it. Measured on the shared two-core host, same configuration: 31–38
 * requests in the busiest 1000 ms in the test process, 21–30 here (the rest is the system's own; see
 * `budget.fault.test.ts`).
 *
 * `node test/fault/web1on1-process.ts '<Web1on1SandboxOptions JSON>'` prints one JSON line
 * `{ url, token, refreshToken, botEmail }` once it listens. Controls: the sandbox's own `/_sandbox/*`
 * HTTP endpoints, plus one stdin line `{"addContacts":[...]}` per seeding, answered by a stdout line
 * `{"contacts":[...]}` (stored without the webhook that `POST /_sandbox/contacts` would send). It exits
 * when stdin closes, so it never outlives the test process.
 */
import { createInterface } from 'node:readline';
import {
  type SandboxContact,
  startWeb1on1Sandbox,
  type Web1on1SandboxOptions,
} from '@contact-linker/testkit';

const options = JSON.parse(process.argv[2] ?? '{}') as Web1on1SandboxOptions;
const sandbox = await startWeb1on1Sandbox({ ...options, host: '127.0.0.1' });
const send = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);
send({
  url: sandbox.url,
  token: sandbox.issueToken(),
  refreshToken: sandbox.refreshToken,
  botEmail: sandbox.botEmail,
});

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const { addContacts } = JSON.parse(line) as {
    addContacts: Array<Partial<SandboxContact> & { organization: string }>;
  };
  send({ contacts: addContacts.map((c) => sandbox.addContact(c)) });
});
lines.on('close', () => {
  sandbox.close().finally(() => process.exit(0));
});
