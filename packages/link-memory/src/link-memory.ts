import { createHash } from 'node:crypto';
import type { LinkContactJob } from '@contact-linker/contracts';
import type { ClientContext, Cluster, Redis, Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /** The link memory's scripts, defined by `createLinkMemory`; see WAIT, REMEMBER, FORGET. */
    contactLinkerMemoryWait(...keysAndArgs: Array<string | number>): Result<number, Context>;
    contactLinkerMemoryUnwait(...keysAndArgs: Array<string | number>): Result<number, Context>;
    contactLinkerMemoryRemember(...keysAndArgs: Array<string | number>): Result<number, Context>;
    contactLinkerMemoryForget(...keysAndArgs: Array<string | number>): Result<number, Context>;
  }
}

/** A link this system made, as remembered for a DMS contact. */
export interface RememberedLink {
  contactId: string;
  conversation: string | null;
  /** Equal to `contentOf(job, url)` of the event that made it. */
  content: string;
}

/** A DMS contact waiting for its Web1on1 contact, as its last DMS event described it. */
export type WaitingContact = Pick<
  LinkContactJob,
  'dmsContactId' | 'organization' | 'email' | 'phoneE164' | 'phoneRaw'
>;

/** What a Web1on1 webhook says about a contact, normalised as link-contact normalises DMS events. */
export interface ObservedContact {
  id: string;
  organization: string;
  email?: string;
  phoneE164?: string;
  /** The `url` of every link the contact carries; absent when the webhook did not show them. */
  linkUrls?: readonly string[];
}

export interface LinkMemoryOptions {
  /** Any connection; on the worker, the auto-pipelined one of its own scripts. */
  redis: Redis | Cluster;
  /** QUEUE_PREFIX: hash-tagged, so on a Redis Cluster every key lives with the queues. */
  prefix: string;
  /** LINK_MEMORY_TTL. */
  ttlMs: number;
  /** The link url of a DMS contact (DMS_CONTACT_URL_TEMPLATE). */
  linkUrl: (dmsContactId: string) => string;
}

const short = (text: string) =>
  createHash('sha256').update(text).digest().subarray(0, 9).toString('base64url');

/**
 * What makes a remembered link still the right answer to a DMS event: the normalised email and
 * phone it was found by, and the link url (a changed DMS_CONTACT_URL_TEMPLATE is a new link).
 */
export function contentOf(
  job: Pick<LinkContactJob, 'email' | 'phoneE164' | 'phoneRaw'>,
  url: string,
) {
  return short(JSON.stringify([job.email ?? '', job.phoneE164 ?? job.phoneRaw ?? '', url]));
}

/** The keys of a waiting contact's index entries, built inside the scripts from the entry itself. */
const UNWAIT = `
local function unwait(entryKey, prefix, org, dmsId)
  local old = redis.call('GET', entryKey)
  if not old then return 0 end
  local o = cjson.decode(old)
  if o[1] ~= '' then redis.call('HDEL', prefix .. ':waiting-email:' .. org .. ':' .. o[1], dmsId) end
  if o[2] ~= '' then redis.call('HDEL', prefix .. ':waiting-phone:' .. org .. ':' .. o[2], dmsId) end
  redis.call('DEL', entryKey)
  return 1
end
`;

/**
 * KEYS[1] the waiting entry. ARGV: prefix, organization, DMS id, entry (JSON [email, E.164 phone,
 * raw phone]), email, E.164 phone, TTL (ms). Replaces whatever that DMS contact waited for before.
 */
const WAIT = `${UNWAIT}
unwait(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[7])
for i, kind in ipairs({ 'email', 'phone' }) do
  local value = ARGV[4 + i]
  if value ~= '' then
    local index = ARGV[1] .. ':waiting-' .. kind .. ':' .. ARGV[2] .. ':' .. value
    redis.call('HSET', index, ARGV[3], '1')
    redis.call('PEXPIRE', index, ARGV[7])
  end
end
return 1
`;

/** KEYS[1] the waiting entry. ARGV: prefix, organization, DMS id. */
const UNWAIT_ONLY = `${UNWAIT}
return unwait(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
`;

/**
 * KEYS: the memory entry, the contact's reverse index, the waiting entry. ARGV: prefix, organization,
 * DMS id, memory value, match value, TTL (ms). Remembers the link and ends the DMS contact's wait.
 */
const REMEMBER = `${UNWAIT}
unwait(KEYS[3], ARGV[1], ARGV[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[6])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
`;

/**
 * KEYS: the memory entry, the contact's reverse index. ARGV: contact id, DMS id. Forgets the link,
 * the memory entry only while it still names this contact (the DMS contact may have been linked to
 * another one since).
 */
const FORGET = `
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[1] + 1) == ARGV[1] .. '\t' then redis.call('DEL', KEYS[1]) end
return redis.call('HDEL', KEYS[2], ARGV[2])
`;

/**
 * What the system knows beyond the queues, so the Web1on1 budget goes only to links that do not
 * exist yet:
 * - **link memory**: each link this system made, by (organization, DMS contact id), with the content
 *   it was found by. A DMS event with the same content needs no Web1on1 request. A reverse index per
 *   Web1on1 contact lets a webhook about that contact correct it: a contact that lost our link, or
 *   no longer matches the DMS contact's email or phone, is forgotten, so the next DMS post looks it
 *   up and links it again (never relinked on the webhook alone: an agent may have removed a wrong
 *   link on purpose);
 * - **waiting DMS contacts**: a DMS contact whose lookups found nobody, indexed by (organization,
 *   email) and (organization, E.164 phone), so the webhook of the Web1on1 contact it waits for finds
 *   it without any Web1on1 request, and a webhook of anyone else costs none.
 * Entries live for `ttlMs`; every key is under the hash-tagged prefix.
 */
export function createLinkMemory({ redis, prefix, ttlMs, linkUrl }: LinkMemoryOptions) {
  const memoryKey = (org: string, dmsId: string) => `${prefix}:link-memory:${org}:${dmsId}`;
  const reverseKey = (contactId: string) => `${prefix}:link-memory-contact:${contactId}`;
  const waitingKey = (org: string, dmsId: string) => `${prefix}:waiting:${org}:${dmsId}`;
  const indexKey = (kind: 'email' | 'phone', org: string, value: string) =>
    `${prefix}:waiting-${kind}:${org}:${value}`;
  redis.defineCommand('contactLinkerMemoryWait', { numberOfKeys: 1, lua: WAIT });
  redis.defineCommand('contactLinkerMemoryUnwait', { numberOfKeys: 1, lua: UNWAIT_ONLY });
  redis.defineCommand('contactLinkerMemoryRemember', { numberOfKeys: 3, lua: REMEMBER });
  redis.defineCommand('contactLinkerMemoryForget', { numberOfKeys: 2, lua: FORGET });

  /** Which of the contact's email and phone a link was found by: short digests, compared only. */
  const matchOf = (email: string | undefined, phone: string | undefined) =>
    `${email ? short(`e${email}`) : ''} ${phone ? short(`p${phone}`) : ''}`;
  const stillMatches = (match: string, contact: ObservedContact) => {
    const [email = '', phone = ''] = match.split(' ');
    const now = matchOf(contact.email, contact.phoneE164).split(' ');
    return (email !== '' && email === now[0]) || (phone !== '' && phone === now[1]);
  };

  return {
    /** The link remembered for a DMS contact, if any. */
    async recall(org: string, dmsId: string): Promise<RememberedLink | undefined> {
      const value = await redis.get(memoryKey(org, dmsId));
      if (value === null) return undefined;
      const [contactId = '', conversation = '', content = ''] = value.split('\t');
      return { contactId, conversation: conversation === '' ? null : conversation, content };
    },

    /** Remembers the link made for `job`'s DMS contact, which then waits no more. */
    async remember(
      job: LinkContactJob,
      link: { contactId: string; conversation: string | null; url: string },
    ): Promise<void> {
      const { organization: org, dmsContactId: dmsId } = job;
      await redis.contactLinkerMemoryRemember(
        memoryKey(org, dmsId),
        reverseKey(link.contactId),
        waitingKey(org, dmsId),
        prefix,
        org,
        dmsId,
        [link.contactId, link.conversation ?? '', contentOf(job, link.url)].join('\t'),
        matchOf(job.email, job.phoneE164),
        ttlMs,
      );
    },

    /** `job`'s DMS contact waits for its Web1on1 contact, instead of whatever it waited for before. */
    async wait(job: LinkContactJob): Promise<void> {
      const { organization: org, dmsContactId: dmsId } = job;
      const entry = JSON.stringify([job.email ?? '', job.phoneE164 ?? '', job.phoneRaw ?? '']);
      await redis.contactLinkerMemoryWait(
        waitingKey(org, dmsId),
        prefix,
        org,
        dmsId,
        entry,
        job.email ?? '',
        job.phoneE164 ?? '',
        ttlMs,
      );
    },

    /** The DMS contact waits no more (it was found ambiguous, or linked). */
    async stopWaiting(org: string, dmsId: string): Promise<void> {
      await redis.contactLinkerMemoryUnwait(waitingKey(org, dmsId), prefix, org, dmsId);
    },

    /**
     * Takes in what a webhook shows of a Web1on1 contact: forgets each remembered link of it that
     * the contact no longer carries or no longer matches, and returns the DMS contacts waiting for
     * its email or phone. Costs Redis reads only.
     */
    async observe(contact: ObservedContact): Promise<WaitingContact[]> {
      const org = contact.organization;
      const [remembered, byEmail, byPhone] = await Promise.all([
        redis.hgetall(reverseKey(contact.id)),
        contact.email ? redis.hkeys(indexKey('email', org, contact.email)) : [],
        contact.phoneE164 ? redis.hkeys(indexKey('phone', org, contact.phoneE164)) : [],
      ]);
      const links = contact.linkUrls && new Set(contact.linkUrls);
      await Promise.all(
        Object.entries(remembered).map(async ([dmsId, match]) => {
          const linked = links === undefined || links.has(linkUrl(dmsId));
          if (linked && stillMatches(match, contact)) return;
          await redis.contactLinkerMemoryForget(
            memoryKey(org, dmsId),
            reverseKey(contact.id),
            contact.id,
            dmsId,
          );
        }),
      );
      const waiting = await Promise.all(
        [...new Set([...byEmail, ...byPhone])].map(async (dmsId) => {
          const entry = await redis.get(waitingKey(org, dmsId));
          if (entry === null) return undefined;
          const [email, phoneE164, phoneRaw] = JSON.parse(entry) as [string, string, string];
          return {
            dmsContactId: dmsId,
            organization: org,
            ...(email ? { email } : {}),
            ...(phoneE164 ? { phoneE164 } : {}),
            ...(phoneRaw ? { phoneRaw } : {}),
          };
        }),
      );
      return waiting.filter((w): w is WaitingContact => w !== undefined);
    },
  };
}

export type LinkMemory = ReturnType<typeof createLinkMemory>;

/** `*`, `?`, `[`, `]` and `\\` mean something in a SCAN pattern; a prefix may hold them. */
const globEscape = (text: string) => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

async function countKeys(redis: Redis, pattern: string): Promise<number> {
  let count = 0;
  for await (const keys of redis.scanStream({ match: pattern, count: 1000 })) {
    count += (keys as string[]).length;
  }
  return count;
}

/**
 * How many links are remembered and how many DMS contacts wait, for `pnpm cli queues stats`. A SCAN
 * of the keyspace: its cost grows with every key in Redis, so it is for an operator's look, not a
 * metric scraped every few seconds.
 */
export async function countLinkMemory(
  redis: Redis,
  prefix: string,
): Promise<{ links: number; waiting: number }> {
  const [links, waiting] = await Promise.all([
    countKeys(redis, `${globEscape(prefix)}:link-memory:*`),
    countKeys(redis, `${globEscape(prefix)}:waiting:*`),
  ]);
  return { links, waiting };
}
