/**
 * `pnpm dev`: the whole system on one machine. Starts the Web1on1 sandbox (seeded with demo
 * contacts), the DMS sandbox, and the real ingress and worker processes, wired together against
 * REDIS_URL (default local Redis; when nothing answers there, a private redis-server started for
 * this run), then reports what happens: links appearing on sandbox contacts and notifications
 * arriving at the DMS. The processes' JSON logs are shown as short text lines. With `--traces`, both
 * processes export their spans to the test kit's OTLP receiver, and each trace is printed as a tree.
 *
 * A Ctrl-C stops the processes, the sandboxes and a private redis-server, and exits 0. package.json
 * runs this with `exec node …`: otherwise the `sh -c` pnpm puts in between (dash) dies of the
 * terminal's SIGINT, and pnpm reports `ELIFECYCLE Command failed.` and exit code 130 for it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  deleteKeysWithPrefix,
  makeWebhookSecret,
  startDmsSandbox,
  startOtlpReceiver,
  startWatchdog,
  startWeb1on1Sandbox,
  stopWatchdog,
} from '@contact-linker/testkit';
import {
  DEMO_CONTACTS,
  DEMO_ORGANIZATION,
  DEMO_WEBHOOK_CONTACT,
  DEV_DEFAULTS,
} from './dev/demo.ts';
import { pipeFormatted } from './dev/log-format.ts';
import { chooseRedis, DEFAULT_REDIS_URL, DevSetupError, redactUrl } from './dev/redis.ts';
import { printTraces } from './dev/trace-tree.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
/** An empty variable counts as unset, as in the processes' own configuration. */
const setting = (name: string) => (env[name] === '' ? undefined : env[name]);
const ingressPort = Number(setting('PORT') ?? DEV_DEFAULTS.ingressPort);
const workerPort = Number(setting('WORKER_PORT') ?? DEV_DEFAULTS.workerPort);
const web1on1Port = Number(setting('DEV_WEB1ON1_PORT') ?? DEV_DEFAULTS.web1on1Port);
const dmsPort = Number(setting('DEV_DMS_PORT') ?? DEV_DEFAULTS.dmsPort);
const apiKey = setting('DEV_API_KEY') ?? DEV_DEFAULTS.apiKey;
const webhookSecret = setting('DEV_WEBHOOK_SECRET') ?? DEV_DEFAULTS.webhookSecret;
const adminUsername = setting('ADMIN_USERNAME') ?? DEV_DEFAULTS.adminUsername;
const adminPassword = setting('ADMIN_PASSWORD') ?? DEV_DEFAULTS.adminPassword;
/** Under dev's own prefix the keys are this run's alone, and are deleted when it stops. */
const ownPrefix = setting('QUEUE_PREFIX') === undefined;
const queuePrefix = setting('QUEUE_PREFIX') ?? DEV_DEFAULTS.queuePrefix;
const syncUsers = /^(true|1|yes)$/i.test(setting('SYNC_USERS') ?? '');
const organization = DEMO_ORGANIZATION;
const ingressUrl = `http://127.0.0.1:${ingressPort}`;
const traces = process.argv.slice(2).includes('--traces');

let redis: Awaited<ReturnType<typeof chooseRedis>>;
try {
  redis = await chooseRedis({
    url: setting('REDIS_URL') ?? DEFAULT_REDIS_URL,
    log: (line) => console.log(line),
  });
} catch (error) {
  if (!(error instanceof DevSetupError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const web1on1 = await startWeb1on1Sandbox({
  port: web1on1Port,
  organizationId: organization,
  webhook: { url: `${ingressUrl}/webhook`, secret: webhookSecret },
});
const demo = DEMO_CONTACTS.map((c) => web1on1.addContact({ organization, ...c }));

const dmsSecret = setting('DMS_NOTIFY_SECRET') ?? makeWebhookSecret();
const dms = await startDmsSandbox({ port: dmsPort, secret: dmsSecret });

// With --traces: a receiver on a free port, and the processes pointed at it by OTEL_* alone, as an
// operator points them at a collector. A short export delay, so a tree shows up within seconds.
const receiver = traces ? await startOtlpReceiver() : undefined;
const stopTraces = receiver
  ? printTraces(receiver, (text) => process.stdout.write(text))
  : () => {};
const shared = {
  ...env,
  ...(receiver
    ? {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.endpoint}/v1/traces`,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
        OTEL_BSP_SCHEDULE_DELAY: '200',
      }
    : {}),
  REDIS_URL: redis.url,
  QUEUE_PREFIX: queuePrefix,
  LOG_LEVEL: setting('LOG_LEVEL') ?? 'info',
  DEFAULT_PHONE_COUNTRY: setting('DEFAULT_PHONE_COUNTRY') ?? 'NL',
};
const children: ChildProcess[] = [];
function start(name: string, script: string, extra: Record<string, string>): void {
  const child = spawn(process.execPath, [join(root, script)], {
    env: { ...shared, ...extra },
    // stdout is pino's JSON, shown as text; stderr (a crash) goes straight through.
    stdio: ['ignore', 'pipe', 'inherit'],
    // Own process group: a Ctrl-C reaches only this script, which then stops each child once with
    // SIGTERM (a child that got both would take the second signal as "exit now").
    detached: true,
  });
  if (child.stdout) pipeFormatted(child.stdout, (text) => process.stdout.write(text));
  // Out of the terminal's process group, a child would outlive a killed `pnpm dev`; not with this.
  const watchdog = startWatchdog({ name: `cl-dev-${name}-watchdog`, pid: child.pid });
  child.on('exit', (code, signal) => {
    stopWatchdog(watchdog);
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
  ADMIN_USERNAME: adminUsername,
  ADMIN_PASSWORD: adminPassword,
});
start('worker', 'apps/worker/src/main.ts', {
  WORKER_PORT: String(workerPort),
  WEB1ON1_API_URL: web1on1.url,
  WEB1ON1_TOKEN: web1on1.issueToken(),
  WEB1ON1_REFRESH_TOKEN: web1on1.refreshToken,
  WEB1ON1_BOT_EMAIL: web1on1.botEmail,
  WEB1ON1_APP_URL: setting('WEB1ON1_APP_URL') ?? 'https://app.web1on1.chat',
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

const shellQuote = (value: string) =>
  /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
// Never a password on screen: a URL that carries one shows `***` in its place.
const cliEnv = `REDIS_URL=${shellQuote(redactUrl(redis.url))} QUEUE_PREFIX=${shellQuote(queuePrefix)}`;
const sendOptions = [
  ...(ingressPort === DEV_DEFAULTS.ingressPort ? [] : ['--url', `${ingressUrl}/webhook`]),
  ...(webhookSecret === DEV_DEFAULTS.webhookSecret ? [] : ['--secret', webhookSecret]),
  ...(web1on1Port === DEV_DEFAULTS.web1on1Port ? [] : ['--api-url', web1on1.url]),
  ...['--contact', DEMO_WEBHOOK_CONTACT.id],
]
  .map(shellQuote)
  .join(' ');
const redisLine = redis.private
  ? `${redis.url} (private redis-server of this run; prefix ${queuePrefix})`
  : `${redactUrl(redis.url)} (prefix ${queuePrefix})`;
const afterStop = redis.private
  ? 'the private redis-server stops with it'
  : ownPrefix
    ? `the keys under ${queuePrefix} are deleted from ${redactUrl(redis.url)}`
    : `the keys under ${queuePrefix} stay in ${redactUrl(redis.url)}`;

console.log(`
contact-linker dev — everything runs locally
  ingress          ${ingressUrl}   (DMS API key: ${apiKey})
  API docs         ${ingressUrl}/docs
  metrics          ${ingressUrl}/metrics (ingress), http://127.0.0.1:${workerPort}/metrics (worker)
  admin            ${ingressUrl}/admin/queues   (basic auth: ${adminLogin()})
  worker ops       http://127.0.0.1:${workerPort}/healthz
  web1on1 sandbox  ${web1on1.url}/_sandbox/contacts
  dms sandbox      ${dms.baseUrl}/_sandbox/deliveries
  redis            ${redisLine}
${receiver ? `  traces           ${receiver.endpoint} (OTLP; each trace is printed as a tree once it is quiet)\n` : ''}
Link a DMS contact to the demo Web1on1 contact Jane Doe:
  curl -s -X POST ${ingressUrl}/updatecontact \\
    -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' \\
    -d '{"id":"DMS-1001","organization":"${organization}","email":"Jane.Doe@example.com"}'

…or by a national phone number (normalised to +31612345678):
  curl -s -X POST ${ingressUrl}/updatecontact \\
    -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' \\
    -d '{"id":"DMS-1002","organization":"${organization}","phone":"06 12345678"}'

Send a signed Web1on1 webhook (contact.update of the demo contact Sam Smit, id ${DEMO_WEBHOOK_CONTACT.id}):
  ./scripts/pnpm webhook:send ${sendOptions}
${
  syncUsers
    ? 'user.* webhooks are forwarded (SYNC_USERS is on).'
    : 'user.* webhooks are answered "ignored" unless SYNC_USERS=true (e.g. SYNC_USERS=true ./scripts/pnpm dev).'
}

Look at this system's queues and dead letters with the CLI (its own default prefix is {contact-linker}):
  ${cliEnv} ./scripts/pnpm cli queues stats
  ${cliEnv} ./scripts/pnpm cli dlq list

Ctrl-C stops everything; ${afterStop}.
`);

/** The admin login to show: dev's own password, never one the user set. */
function adminLogin(): string {
  if (setting('ADMIN_PASSWORD') !== undefined) {
    return `${adminUsername} and your ADMIN_PASSWORD`;
  }
  return `${adminUsername} / ${adminPassword}`;
}

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
  // The processes export their last spans as they stop.
  stopTraces();
  await Promise.all([web1on1.close(), dms.close(), receiver?.close()]);
  await forgetKeys();
  await redis.stop();
  process.exit(code);
}

/** Deletes this run's keys from a shared Redis when they were under dev's own prefix; else says where they are. */
async function forgetKeys(): Promise<void> {
  if (redis.private) return;
  if (!ownPrefix) {
    const target = shellQuote(redactUrl(redis.url));
    console.log(
      `pnpm dev: the keys under ${queuePrefix} stay in ${redactUrl(redis.url)}; delete them with: ` +
        `redis-cli -u ${target} --scan --pattern ${shellQuote(`${queuePrefix}*`)} | xargs -r redis-cli -u ${target} unlink`,
    );
    return;
  }
  try {
    const deleted = await deleteKeysWithPrefix(redis.url, queuePrefix);
    console.log(`pnpm dev: deleted this run's ${deleted} keys under ${queuePrefix}`);
  } catch (error) {
    console.error(`pnpm dev: could not delete the keys under ${queuePrefix}: ${String(error)}`);
  }
}

process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
