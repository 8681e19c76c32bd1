import { createHash } from 'node:crypto';
import type { LinkContactJob } from '@contact-linker/contracts';
import type { ClientContext, Cluster, Redis, Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /**
     * The link memory's scripts, defined by `createLinkMemory`; see REMEMBER, WAIT, UNWAIT, FORGET,
     * FORGET_CONTACT, FORGET_ORGANIZATION, SWEEP.
     */
    contactLinkerMemoryRemember(...keysAndArgs: Array<string | number>): Result<number, Context>;
    contactLinkerMemoryWait(...keysAndArgs: Array<string | number>): Result<number, Context>;
    contactLinkerMemoryUnwait(...keysAndArgs: Array<string | number>): Result<number, Context>;
    contactLinkerMemoryForget(...keysAndArgs: Array<string | number>): Result<number, Context>;
    contactLinkerMemoryForgetContact(
      ...keysAndArgs: Array<string | number>
    ): Result<number, Context>;
    contactLinkerMemoryForgetOrganization(
      ...keysAndArgs: Array<string | number>
    ): Result<number, Context>;
    contactLinkerMemorySweep(...keysAndArgs: Array<string | number>): Result<number, Context>;
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
  /** @defaultValue `Date.now` */
  now?: () => number;
}

/** 48 bits: equality checks of one contact's own values, where a collision is out of reach. */
const digest = (text: string) =>
  createHash('sha256').update(text).digest().subarray(0, 6).toString('base64url');

/**
 * What makes a remembered link still the right answer to a DMS event: the normalised email and
 * phone it was found by, and the link url (a changed DMS_CONTACT_URL_TEMPLATE is a new link).
 */
export function contentOf(
  job: Pick<LinkContactJob, 'email' | 'phoneE164' | 'phoneRaw'>,
  url: string,
): string {
  return digest(JSON.stringify([job.email ?? '', job.phoneE164 ?? job.phoneRaw ?? '', url]));
}

/**
 * Shared Lua. A list field holds space-separated items (DMS ids, which hold no space, or
 * `dmsId|match|expiry` items); `drop` removes the items that start with `head`, `add` appends one.
 */
const LISTS = `
local function drop(key, field, head)
  local list = redis.call('HGET', key, field)
  if not list then return end
  local kept = {}
  for item in string.gmatch(list, '%S+') do
    if item ~= head and string.sub(item, 1, #head + 1) ~= head .. '|' then kept[#kept + 1] = item end
  end
  if #kept == 0 then redis.call('HDEL', key, field) else redis.call('HSET', key, field, table.concat(kept, ' ')) end
end
local function add(key, field, head, item)
  drop(key, field, head)
  local list = redis.call('HGET', key, field)
  redis.call('HSET', key, field, list and (list .. ' ' .. item) or item)
end
local function unwait(waiting, byEmail, byPhone, dmsId)
  local entry = redis.call('HGET', waiting, dmsId)
  if not entry then return 0 end
  local e = cjson.decode(entry)
  if e[1] ~= '' then drop(byEmail, e[1], dmsId) end
  if e[2] ~= '' then drop(byPhone, e[2], dmsId) end
  redis.call('HDEL', waiting, dmsId)
  return 1
end
local function touch(ttl, ...)
  for _, key in ipairs({ ... }) do redis.call('PEXPIRE', key, ttl) end
end
`;

/**
 * KEYS: links, linked (by contact), waiting, by email, by phone, organizations. ARGV: organization,
 * DMS id, contact id, link value, linked item, TTL (ms). Remembers the link; the DMS contact waits
 * no more.
 */
const REMEMBER = `${LISTS}
unwait(KEYS[3], KEYS[4], KEYS[5], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
add(KEYS[2], ARGV[3], ARGV[2], ARGV[5])
touch(ARGV[6], KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('SADD', KEYS[6], ARGV[1])
return 1
`;

/**
 * KEYS: waiting, by email, by phone, organizations. ARGV: organization, DMS id, entry (JSON
 * [email, E.164 phone, raw phone, expiry]), email, E.164 phone, TTL (ms). Replaces whatever that DMS
 * contact waited for before.
 */
const WAIT = `${LISTS}
unwait(KEYS[1], KEYS[2], KEYS[3], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if ARGV[4] ~= '' then add(KEYS[2], ARGV[4], ARGV[2], ARGV[2]) end
if ARGV[5] ~= '' then add(KEYS[3], ARGV[5], ARGV[2], ARGV[2]) end
touch(ARGV[6], KEYS[1], KEYS[2], KEYS[3])
redis.call('SADD', KEYS[4], ARGV[1])
return 1
`;

/** KEYS: waiting, by email, by phone. ARGV: DMS id. */
const UNWAIT = `${LISTS}
return unwait(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
`;

/**
 * KEYS: links, linked (by contact). ARGV: contact id, DMS id. Forgets the link; the DMS contact's
 * entry only while it still names this contact (it may have been linked to another one since).
 */
const FORGET = `${LISTS}
local value = redis.call('HGET', KEYS[1], ARGV[2])
if value and string.sub(value, 1, #ARGV[1] + 1) == ARGV[1] .. '\t' then redis.call('HDEL', KEYS[1], ARGV[2]) end
drop(KEYS[2], ARGV[1], ARGV[2])
return 1
`;

/**
 * KEYS: links, linked (by contact), waiting, by email, by phone. ARGV: contact id, email, E.164
 * phone. Forgets a deleted Web1on1 contact in one step: every link to it (the index entry, and each
 * DMS contact's link while it still names this contact), and every DMS contact waiting for its email
 * or phone. Returns how many links and waiting contacts it dropped.
 */
const FORGET_CONTACT = `${LISTS}
local dropped = 0
local linked = redis.call('HGET', KEYS[2], ARGV[1])
if linked then
  for item in string.gmatch(linked, '%S+') do
    local dmsId = string.match(item, '^([^|]*)')
    local value = redis.call('HGET', KEYS[1], dmsId)
    if value and string.sub(value, 1, #ARGV[1] + 1) == ARGV[1] .. '\t' then
      redis.call('HDEL', KEYS[1], dmsId)
      dropped = dropped + 1
    end
  end
  redis.call('HDEL', KEYS[2], ARGV[1])
end
for i = 2, 3 do
  if ARGV[i] ~= '' then
    local list = redis.call('HGET', KEYS[i + 2], ARGV[i])
    if list then
      for dmsId in string.gmatch(list, '%S+') do dropped = dropped + unwait(KEYS[3], KEYS[4], KEYS[5], dmsId) end
    end
  end
end
return dropped
`;

/**
 * KEYS: links, linked, waiting, by email, by phone, organizations. ARGV: organization. Forgets all
 * of it in one step, so no reader sees a link without its index or a waiting contact without its
 * own. UNLINK frees the hashes off Redis's main thread: the call costs one step per key, whatever
 * the organization holds.
 */
const FORGET_ORGANIZATION = `
local dropped = redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('SREM', KEYS[6], ARGV[1])
return dropped
`;

/**
 * KEYS: links, linked, waiting, by email, by phone. ARGV: now (s), then pairs of (kind, field) where
 * kind is 'link', 'linked' or 'waiting': drops what has expired of those fields.
 */
const SWEEP = `${LISTS}
local now = tonumber(ARGV[1])
local dropped = 0
for i = 2, #ARGV, 2 do
  local kind, field = ARGV[i], ARGV[i + 1]
  if kind == 'link' then
    local value = redis.call('HGET', KEYS[1], field)
    if value and tonumber(string.match(value, '([^\t]*)$')) <= now then
      redis.call('HDEL', KEYS[1], field)
      dropped = dropped + 1
    end
  elseif kind == 'waiting' then
    local entry = redis.call('HGET', KEYS[3], field)
    if entry and cjson.decode(entry)[4] <= now then dropped = dropped + unwait(KEYS[3], KEYS[4], KEYS[5], field) end
  else
    local list = redis.call('HGET', KEYS[2], field)
    if list then
      for item in string.gmatch(list, '%S+') do
        local head, expiry = string.match(item, '^([^|]*)|[^|]*|(%d+)$')
        if head and tonumber(expiry) <= now then drop(KEYS[2], field, head) end
      end
    end
  end
end
return dropped
`;

/**
 * What the system knows beyond the queues, so the Web1on1 budget goes only to links that do not
 * exist yet:
 * - **link memory**: each link this system made, by (organization, DMS contact id), with the content
 *   it was found by. A DMS event with the same content needs no Web1on1 request. An index by Web1on1
 *   contact lets a webhook about that contact correct it: a contact that lost our link, or no longer
 *   matches the DMS contact's email or phone, is forgotten, so the next DMS post looks it up and
 *   links it again (never relinked on the webhook alone: an agent may have removed a wrong link on
 *   purpose);
 * - **waiting DMS contacts**: a DMS contact whose lookups found nobody, indexed by (organization,
 *   email) and (organization, E.164 phone), so the webhook of the Web1on1 contact it waits for finds
 *   it without any Web1on1 request, and a webhook of anyone else costs none.
 *
 * Each organization's entries sit in a few hashes (`links`, `linked`, `waiting`, `waiting-email`,
 * `waiting-phone`), one field per entry: a per-entry key would cost its name (prefix, namespace,
 * organization) and Redis's per-key overhead, which together were most of an entry's bytes. Every
 * entry carries its expiry (`ttlMs` after it was written): an expired entry is ignored when read,
 * `sweep()` deletes expired fields, and each hash expires as a whole `ttlMs` after its last write, so
 * an organization that goes quiet leaves nothing behind. Every key is under the hash-tagged prefix.
 */
export function createLinkMemory({
  redis,
  prefix,
  ttlMs,
  linkUrl,
  now = Date.now,
}: LinkMemoryOptions) {
  const keys = (org: string) => {
    const k = {
      links: `${prefix}:links:${org}`,
      linked: `${prefix}:linked:${org}`,
      waiting: `${prefix}:waiting:${org}`,
      byEmail: `${prefix}:waiting-email:${org}`,
      byPhone: `${prefix}:waiting-phone:${org}`,
    };
    // The order in which the scripts that touch all of an organization's hashes take them.
    return { ...k, all: [k.links, k.linked, k.waiting, k.byEmail, k.byPhone] as const };
  };
  const organizations = `${prefix}:memory-organizations`;
  redis.defineCommand('contactLinkerMemoryRemember', { numberOfKeys: 6, lua: REMEMBER });
  redis.defineCommand('contactLinkerMemoryWait', { numberOfKeys: 4, lua: WAIT });
  redis.defineCommand('contactLinkerMemoryUnwait', { numberOfKeys: 3, lua: UNWAIT });
  redis.defineCommand('contactLinkerMemoryForget', { numberOfKeys: 2, lua: FORGET });
  redis.defineCommand('contactLinkerMemoryForgetContact', { numberOfKeys: 5, lua: FORGET_CONTACT });
  redis.defineCommand('contactLinkerMemoryForgetOrganization', {
    numberOfKeys: 6,
    lua: FORGET_ORGANIZATION,
  });
  redis.defineCommand('contactLinkerMemorySweep', { numberOfKeys: 5, lua: SWEEP });

  const seconds = () => Math.floor(now() / 1000);
  const expiry = () => Math.ceil((now() + ttlMs) / 1000);
  /** Which of the contact's email and phone a link was found by: digests, compared only. */
  const matchOf = (email: string | undefined, phone: string | undefined) =>
    `${email ? digest(`e${email}`) : ''},${phone ? digest(`p${phone}`) : ''}`;
  const stillMatches = (match: string, contact: ObservedContact) => {
    const [email = '', phone = ''] = match.split(',');
    const [nowEmail, nowPhone] = matchOf(contact.email, contact.phoneE164).split(',');
    return (email !== '' && email === nowEmail) || (phone !== '' && phone === nowPhone);
  };

  return {
    /** The link remembered for a DMS contact, if any. */
    async recall(org: string, dmsId: string): Promise<RememberedLink | undefined> {
      const value = await redis.hget(keys(org).links, dmsId);
      if (value === null) return undefined;
      const [contactId = '', conversation = '', content = '', expires = '0'] = value.split('\t');
      if (Number(expires) <= seconds()) return undefined;
      return { contactId, conversation: conversation === '' ? null : conversation, content };
    },

    /** Remembers the link made for `job`'s DMS contact, which then waits no more. */
    async remember(
      job: LinkContactJob,
      link: { contactId: string; conversation: string | null; url: string },
    ): Promise<void> {
      const { organization: org, dmsContactId: dmsId } = job;
      const { contactId, conversation } = link;
      // Tabs and spaces separate the stored fields; an id holding one is simply not remembered.
      if (/[\s|]/.test(contactId) || /\s/.test(conversation ?? '')) return;
      const k = keys(org);
      await redis.contactLinkerMemoryRemember(
        ...k.all,
        organizations,
        org,
        dmsId,
        contactId,
        [contactId, conversation ?? '', contentOf(job, link.url), expiry()].join('\t'),
        `${dmsId}|${matchOf(job.email, job.phoneE164)}|${expiry()}`,
        ttlMs,
      );
    },

    /** `job`'s DMS contact waits for its Web1on1 contact, instead of whatever it waited for before. */
    async wait(job: LinkContactJob): Promise<void> {
      const { organization: org, dmsContactId: dmsId } = job;
      const entry = [job.email ?? '', job.phoneE164 ?? '', job.phoneRaw ?? '', expiry()];
      const k = keys(org);
      await redis.contactLinkerMemoryWait(
        k.waiting,
        k.byEmail,
        k.byPhone,
        organizations,
        org,
        dmsId,
        JSON.stringify(entry),
        job.email ?? '',
        job.phoneE164 ?? '',
        ttlMs,
      );
    },

    /** The DMS contact waits no more (it was found ambiguous, or linked). */
    async stopWaiting(org: string, dmsId: string): Promise<void> {
      const k = keys(org);
      await redis.contactLinkerMemoryUnwait(k.waiting, k.byEmail, k.byPhone, dmsId);
    },

    /**
     * Takes in what a webhook shows of a Web1on1 contact: forgets each remembered link of it that
     * the contact no longer carries or no longer matches, and returns the DMS contacts waiting for
     * its email or phone. Costs Redis reads only, unless there is something to forget.
     */
    async observe(contact: ObservedContact): Promise<WaitingContact[]> {
      const org = contact.organization;
      const k = keys(org);
      const [linked, byEmail, byPhone] = await Promise.all([
        redis.hget(k.linked, contact.id),
        contact.email ? redis.hget(k.byEmail, contact.email) : null,
        contact.phoneE164 ? redis.hget(k.byPhone, contact.phoneE164) : null,
      ]);
      const links = contact.linkUrls && new Set(contact.linkUrls);
      const items = linked === null ? [] : linked.split(' ');
      await Promise.all(
        items.map(async (item) => {
          const [dmsId = '', match = '', expires = '0'] = item.split('|');
          const current = Number(expires) > seconds();
          const carried = links === undefined || links.has(linkUrl(dmsId));
          if (current && carried && stillMatches(match, contact)) return;
          await redis.contactLinkerMemoryForget(k.links, k.linked, contact.id, dmsId);
        }),
      );
      const candidates = [...new Set(`${byEmail ?? ''} ${byPhone ?? ''}`.split(' '))].filter(
        (id) => id !== '',
      );
      if (candidates.length === 0) return [];
      const entries = await redis.hmget(k.waiting, ...candidates);
      return candidates.flatMap((dmsId, i) => {
        const entry = entries[i];
        if (!entry) return [];
        const [email, phoneE164, phoneRaw, expires] = JSON.parse(entry) as [
          string,
          string,
          string,
          number,
        ];
        if (expires <= seconds()) return [];
        return [
          {
            dmsContactId: dmsId,
            organization: org,
            ...(email ? { email } : {}),
            ...(phoneE164 ? { phoneE164 } : {}),
            ...(phoneRaw ? { phoneRaw } : {}),
          },
        ];
      });
    },

    /**
     * Forgets a Web1on1 contact that was deleted: every link this system made to it (so the next DMS
     * post of those DMS contacts looks them up again) and every DMS contact waiting for its email or
     * phone (normalised, as `observe` takes them). Idempotent; costs one script call.
     * @returns how many links and waiting DMS contacts it dropped
     */
    async forgetContact(contact: Omit<ObservedContact, 'linkUrls'>): Promise<number> {
      const k = keys(contact.organization);
      return redis.contactLinkerMemoryForgetContact(
        ...k.all,
        contact.id,
        contact.email ?? '',
        contact.phoneE164 ?? '',
      );
    },

    /**
     * Forgets everything remembered of an organization: its links, the index of them by Web1on1
     * contact, and its waiting DMS contacts (the bot was deactivated there). Idempotent.
     * @returns how many of its hashes existed
     */
    async forgetOrganization(org: string): Promise<number> {
      const k = keys(org);
      return redis.contactLinkerMemoryForgetOrganization(...k.all, organizations, org);
    },

    /**
     * Deletes the entries that have expired, and forgets organizations with nothing left. Reads every
     * entry once (HSCAN), so run it rarely (the worker: hourly); between sweeps an expired entry only
     * takes space, since reads ignore it. @returns how many links and waiting contacts it dropped
     */
    async sweep(): Promise<number> {
      let dropped = 0;
      for (const org of await redis.smembers(organizations)) {
        const k = keys(org);
        const present = await redis.exists(k.links, k.linked, k.waiting);
        if (present === 0) {
          await redis.srem(organizations, org);
          continue;
        }
        for (const [kind, key] of [
          ['link', k.links],
          ['linked', k.linked],
          ['waiting', k.waiting],
        ] as const) {
          let cursor = '0';
          do {
            const [next, flat] = await redis.hscan(key, cursor, 'COUNT', 500);
            cursor = next;
            const fields = flat.filter((_, i) => i % 2 === 0).flatMap((field) => [kind, field]);
            if (fields.length === 0) continue;
            dropped += await redis.contactLinkerMemorySweep(...k.all, seconds(), ...fields);
          } while (cursor !== '0');
        }
      }
      return dropped;
    },
  };
}

export type LinkMemory = ReturnType<typeof createLinkMemory>;

/**
 * How many links are remembered and how many DMS contacts wait, for `pnpm cli queues stats`: the
 * fields of each organization's hashes, expired entries included until the next sweep drops them.
 */
export async function countLinkMemory(
  redis: Redis,
  prefix: string,
): Promise<{ links: number; waiting: number }> {
  const orgs = await redis.smembers(`${prefix}:memory-organizations`);
  const counts = await Promise.all(
    orgs.map((org) =>
      Promise.all([redis.hlen(`${prefix}:links:${org}`), redis.hlen(`${prefix}:waiting:${org}`)]),
    ),
  );
  return counts.reduce(
    (sum, [links, waiting]) => ({ links: sum.links + links, waiting: sum.waiting + waiting }),
    { links: 0, waiting: 0 },
  );
}
