/**
 * `pnpm dev`: the whole system on one machine. Starts the Web1on1 sandbox (seeded with demo
 * contacts), the DMS sandbox, and the real ingress and worker processes, wired together against
 * REDIS_URL (default local Redis), then reports what happens: links appearing on sandbox contacts and
 * notifications arriving at the DMS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeWebhookSecret, startDmsSandbox, startWeb1on1Sandbox } from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { DEMO_CONTACTS, DEMO_ORGANIZATION, DEMO_WEBHOOK_CONTACT } from './dev/demo.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ingressPort = Number(env.PORT ?? 4002);
const workerPort = Number(env.WORKER_PORT ?? 9464);
const web1on1Port = Number(env.DEV_WEB1ON1_PORT ?? 4100);
const dmsPort = Number(env.DEV_DMS_PORT ?? 4200);
const apiKey = env.DEV_API_KEY ?? 'dev-api-key-change-me';
const webhookSecret = env.DEV_WEBHOOK_SECRET ?? 'dev-webhook-secret';
const organization = DEMO_ORGANIZATION;
const ingressUrl = `http://127.0.0.1:${ingressPort}`;

async function checkRedis(): Promise<void> {
  const probe = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch {
    console.error(
      `pnpm dev: no Redis at ${redisUrl}. Start one (e.g. \`redis-server --daemonize yes\`) or set REDIS_URL.`,
    );
    process.exit(1);
  } finally {
    probe.disconnect();
  }
}

await checkRedis();

const web1on1 = await startWeb1on1Sandbox({
  port: web1on1Port,
  organizationId: organization,
  webhook: { url: `${ingressUrl}/webhook`, secret: webhookSecret },
});
const demo = DEMO_CONTACTS.map((c) => web1on1.addContact({ organization, ...c }));

const dmsSecret = env.DMS_NOTIFY_SECRET ?? makeWebhookSecret();
const dms = await startDmsSandbox({ port: dmsPort, secret: dmsSecret });

const shared = {
  ...env,
  REDIS_URL: redisUrl,
  QUEUE_PREFIX: env.QUEUE_PREFIX ?? '{contact-linker-dev}',
  LOG_LEVEL: env.LOG_LEVEL ?? 'info',
  DEFAULT_PHONE_COUNTRY: env.DEFAULT_PHONE_COUNTRY ?? 'NL',
};
const children: ChildProcess[] = [];
function start(name: string, script: string, extra: Record<string, string>): void {
  const child = spawn(process.execPath, [join(root, script)], {
    env: { ...shared, ...extra },
    stdio: ['ignore', 'inherit', 'inherit'],
    // Own process group: a Ctrl-C reaches only this script, which then stops each child once with
    // SIGTERM (a child that got both would take the second signal as "exit now").
    detached: true,
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`pnpm dev: ${name} exited (${signal ?? code}); stopping`);
      void stop(1);
    }
  });
  children.push(child);
}

start('ingress', 'apps/ingress/src/main.ts', {
  PORT: String(ingressPort),
  HOST: '127.0.0.1',
  DMS_API_KEYS: apiKey,
  WEB1ON1_WEBHOOK_SECRET: webhookSecret,
  ADMIN_USERNAME: env.ADMIN_USERNAME ?? 'admin',
  ADMIN_PASSWORD: env.ADMIN_PASSWORD ?? 'dev-admin-password',
});
start('worker', 'apps/worker/src/main.ts', {
  WORKER_PORT: String(workerPort),
  WEB1ON1_API_URL: web1on1.url,
  WEB1ON1_TOKEN: web1on1.issueToken(),
  WEB1ON1_REFRESH_TOKEN: web1on1.refreshToken,
  WEB1ON1_BOT_EMAIL: web1on1.botEmail,
  WEB1ON1_APP_URL: env.WEB1ON1_APP_URL ?? 'https://app.web1on1.chat',
  DMS_CONTACT_URL_TEMPLATE: `${dms.baseUrl}/customer/{id}/`,
  DMS_NOTIFY_URL: dms.url,
  DMS_NOTIFY_SECRET: dmsSecret,
});

// Report what a user would otherwise have to poll for.
const seenLinks = new Map<string, number>();
let seenDeliveries = 0;
const watcher = setInterval(() => {
  for (const contact of web1on1.listContacts()) {
    const before = seenLinks.get(contact.id) ?? 0;
    for (const link of contact.links.slice(before)) {
      console.log(
        `\n[web1on1 sandbox] contact ${contact.id} got link "${link.label}" → ${link.url}`,
      );
    }
    seenLinks.set(contact.id, contact.links.length);
  }
  for (const d of dms.deliveries.slice(seenDeliveries)) {
    const type = (d.body as { type?: string } | undefined)?.type ?? '?';
    console.log(
      `[dms sandbox] received ${type} (webhook-id ${d.webhookId}, signature ${d.verified ? 'valid' : 'INVALID'}, answered ${d.status})`,
    );
  }
  seenDeliveries = dms.deliveries.length;
}, 250);
for (const c of demo) seenLinks.set(c.id, 0);

console.log(`
contact-linker dev — everything runs locally
  ingress          ${ingressUrl}   (API key: ${apiKey})
  worker ops       http://127.0.0.1:${workerPort}/healthz
  web1on1 sandbox  ${web1on1.url}/_sandbox/contacts
  dms sandbox      ${dms.baseUrl}/_sandbox/deliveries
  redis            ${redisUrl} (prefix ${shared.QUEUE_PREFIX})

Link a DMS contact to the demo Web1on1 contact Jane Doe:
  curl -s -X POST ${ingressUrl}/updatecontact \\
    -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' \\
    -d '{"id":"DMS-1001","organization":"${organization}","email":"Jane.Doe@example.com"}'

…or by a national phone number (normalised to +31612345678):
  curl -s -X POST ${ingressUrl}/updatecontact \\
    -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' \\
    -d '{"id":"DMS-1002","organization":"${organization}","phone":"06 12345678"}'

Send a signed Web1on1 webhook (contact.update of the demo contact Sam Smit, id ${DEMO_WEBHOOK_CONTACT.id}):
  ./scripts/pnpm webhook:send --url ${ingressUrl}/webhook --secret ${webhookSecret} --api-url ${web1on1.url} --contact ${DEMO_WEBHOOK_CONTACT.id}

Ctrl-C stops everything.
`);

let stopping = false;
async function stop(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(watcher);
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  await Promise.all([web1on1.close(), dms.close()]);
  process.exit(code);
}
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
