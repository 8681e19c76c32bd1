/**
 * What the bench sends and enqueues: ~300-byte DMS contact bodies with distinct ids and emails (so
 * the product's content deduplication never folds two of them into one job), the product's job
 * exactly as its ingress builds it, the reference job (the parsed body, default options), and the
 * matching Web1on1 sandbox contacts.
 */
import { linkContactEntry, QUEUE, toLinkContactJob } from '@contact-linker/queues';
import type { Web1on1Sandbox } from '@contact-linker/testkit';

export const ORG = 'org-bench';
export const LINK_URL_TEMPLATE = 'https://dms.bench.test/customer/{id}/';
export const LINK_QUEUE = QUEUE.linkContact;
/** JOB_ATTEMPTS default of the product (contract). */
export const PRODUCT_ATTEMPTS = 10;

export const dmsId = (tag: string, i: number) => `BENCH-${tag}-${i}`;
/** The email as the DMS sends it (mixed case); Web1on1 stores it lower-cased. */
export const dmsEmail = (tag: string, i: number) => `Jane.Doe.${tag}.${i}@Example.com`;
export const storedEmail = (tag: string, i: number) => dmsEmail(tag, i).toLowerCase();

/** The link URL the product and the reference worker add for DMS contact `id`. */
export const linkUrlFor = (id: string) => LINK_URL_TEMPLATE.replace('{id}', encodeURIComponent(id));

/**
 * A DMS contact as JSON, ~300 bytes: the fields the contract reads plus the kind of fields a DMS
 * sends along and the ingress ignores. `organization` is the dealer it belongs to.
 */
export function dmsBody(tag: string, i: number, organization = ORG): string {
  return (
    `{"id":"${dmsId(tag, i)}","organization":"${organization}","email":"${dmsEmail(tag, i)}",` +
    `"telephone":"06 1234 5678","firstName":"Jane","lastName":"Doe",` +
    `"street":"Keizersgracht 123","postalCode":"1015 CJ","city":"Amsterdam","country":"NL",` +
    `"dealer":"Autohuis Bench","salesperson":"P. de Vries","source":"dms",` +
    `"updatedAt":"2025-06-01T12:00:00.000Z"}`
  );
}

export interface DmsEvent {
  id: string;
  organization: string;
  email: string;
  telephone: string;
  [k: string]: unknown;
}

export const dmsEvent = (tag: string, i: number) => JSON.parse(dmsBody(tag, i)) as DmsEvent;

/** `{"contacts":[...]}` with `count` distinct items. */
export function dmsBulkBody(tag: string, count: number): string {
  const items: string[] = [];
  for (let i = 0; i < count; i++) items.push(dmsBody(tag, i));
  return `{"contacts":[${items.join(',')}]}`;
}

/** One live link-contact job exactly as `POST /updatecontact` enqueues it (producer.ts). */
export function productJob(tag: string, i: number, attempts = PRODUCT_ATTEMPTS) {
  return linkContactEntry(toLinkContactJob(dmsEvent(tag, i), 'NL'), { attempts, bulk: false });
}

/** The reference job: the parsed request body with one `queue.add` and BullMQ's default options. */
export function referenceJob(tag: string, i: number) {
  return { name: 'dms.contact', data: dmsEvent(tag, i) };
}

/** The Web1on1 contact that DMS contact `i` of `tag` finds by email, in `organization`. */
export const sandboxContact = (tag: string, i: number, organization = ORG) => ({
  organization,
  profile: { email: storedEmail(tag, i), name: `Jane Doe ${i}` },
});

/**
 * Seeds the Web1on1 contacts that DMS contacts `from`..`to-1` of `tag` will find by email, in
 * `organization`; returns their sandbox ids.
 */
export function seedContacts(
  sandbox: Web1on1Sandbox,
  tag: string,
  from: number,
  to: number,
  organization = ORG,
): string[] {
  const ids: string[] = [];
  for (let i = from; i < to; i++) {
    ids.push(sandbox.addContact(sandboxContact(tag, i, organization)).id);
  }
  return ids;
}

/** The tag of a stored email made by `storedEmail` (tags contain no dots). */
export function tagOfEmail(email: string): string | undefined {
  return /^jane\.doe\.([^.]+)\.\d+@example\.com$/.exec(email)?.[1];
}
