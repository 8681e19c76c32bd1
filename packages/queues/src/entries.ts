/**
 * The one place job entries are built, for every producer: link-contact jobs for the ingress's
 * `/updatecontact(s)` and the CLI's `seed` (so a contact enqueued from a file is validated,
 * normalised and deduplicated exactly like one posted to the API), and notify-dms jobs for the
 * ingress's webhook and the worker's `contact.linked`.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  type DmsContactEvent,
  LinkContactJob,
  NotifyDmsJob,
  normalizeEmail,
  normalizePhone,
} from '@contact-linker/contracts';
import { jobOptionsFor, QUEUE, TIER_BANDS } from './catalog.ts';
import type { TypedQueue } from './queues.ts';

/** Turns a validated DMS event into job data: normalised, and only the fields the worker needs. */
export function toLinkContactJob(
  event: DmsContactEvent,
  defaultPhoneCountry: string,
  now = new Date(),
): LinkContactJob {
  const phone = event.telephone ?? event.phone;
  const phoneE164 = phone === undefined ? undefined : normalizePhone(phone, defaultPhoneCountry);
  return LinkContactJob.parse({
    dmsContactId: String(event.id),
    organization: event.organization,
    email: event.email === undefined ? undefined : normalizeEmail(event.email),
    phoneE164,
    phoneRaw: phone !== undefined && phone !== phoneE164 ? phone : undefined,
    receivedAt: now.toISOString(),
  });
}

/**
 * Same organization, id, email and phone after normalisation → same key → one pending job. It is
 * the job's deduplication id as it is (BullMQ scopes those per queue), 128 bits of SHA-256: the key
 * is stored three times per waiting job, and collisions stay out of reach.
 */
export function contentKey(job: LinkContactJob): string {
  const phone = job.phoneE164 ?? job.phoneRaw ?? '';
  return createHash('sha256')
    .update(JSON.stringify([job.organization, job.dmsContactId, job.email ?? '', phone]))
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}

/** One entry of `addBulk` on the link-contact queue. */
export type LinkContactBulkJob = Parameters<
  TypedQueue<typeof QUEUE.linkContact>['addBulk']
>[0][number];

export interface BulkJobsOptions {
  /** Attempts before a job is dead-lettered (`JOB_ATTEMPTS`). */
  attempts: number;
  /** Region for national phone numbers (`DEFAULT_PHONE_COUNTRY`). */
  defaultPhoneCountry: string;
  /**
   * The BullMQ job id of the event at `index`. A deterministic id makes a replayed add a no-op
   * for as long as the job is retained (BullMQ ignores an add whose id exists); it must not be an
   * integer and must not contain `:`.
   * @defaultValue a random UUID per job
   */
  jobId?: (index: number) => string;
  /** @defaultValue the current time */
  now?: Date;
}

export interface LinkContactEntryOptions {
  /** Attempts before a job is dead-lettered (`JOB_ATTEMPTS`). */
  attempts: number;
  /** Bulk sources (`/updatecontacts`, the CLI's seed) queue below live events. */
  bulk: boolean;
  /** @defaultValue a random UUID */
  jobId?: string;
}

/**
 * The `add`/`addBulk` entry for link-contact job data, the one shape every producer enqueues: the
 * queue's catalog options, its tier (bulk sources below live events), and content deduplication,
 * so an event whose normalised content is already pending is not queued twice. Producers add it
 * through `FairOrder.add`, which gives it its place among the organizations.
 */
export function linkContactEntry(
  data: LinkContactJob,
  { attempts, bulk, jobId = randomUUID() }: LinkContactEntryOptions,
): LinkContactBulkJob {
  return {
    name: bulk ? 'dms.contact.bulk' : 'dms.contact',
    data,
    opts: {
      ...jobOptionsFor(QUEUE.linkContact, attempts),
      // Its tier's band; `FairOrder.add` replaces it with the job's tag in that band.
      priority: TIER_BANDS[bulk ? 'bulk' : 'live'].last,
      jobId,
      // BullMQ answers a duplicate add with the pending job's id, atomically with the add.
      deduplication: { id: contentKey(data) },
    },
  };
}

/** The `addBulk` entries for DMS events from a bulk source (see `linkContactEntry`). */
export function bulkJobs(
  events: readonly DmsContactEvent[],
  { attempts, defaultPhoneCountry, jobId = () => randomUUID(), now = new Date() }: BulkJobsOptions,
): LinkContactBulkJob[] {
  return events.map((event, index) =>
    linkContactEntry(toLinkContactJob(event, defaultPhoneCountry, now), {
      attempts,
      bulk: true,
      jobId: jobId(index),
    }),
  );
}

/** One `add` entry on the notify-dms queue. */
export type NotifyDmsEntry = Parameters<TypedQueue<typeof QUEUE.notifyDms>['addBulk']>[0][number];

export interface NotifyDmsEntryOptions {
  /** Attempts before the notification is dead-lettered (`JOB_ATTEMPTS`). */
  attempts: number;
  /** The BullMQ job id. */
  jobId: string;
  /**
   * Deduplication of the same event within `ttlMs` (BullMQ's, atomic with the add): a duplicate
   * add answers the pending job's id.
   */
  deduplication?: { id: string; ttlMs: number };
}

/** The entry for a notification, validated against the catalog schema before it is queued. */
export function notifyDmsEntry(
  data: NotifyDmsJob,
  { attempts, jobId, deduplication }: NotifyDmsEntryOptions,
): NotifyDmsEntry {
  const parsed = NotifyDmsJob.parse(data);
  return {
    name: parsed.type,
    data: parsed,
    opts: {
      ...jobOptionsFor(QUEUE.notifyDms, attempts),
      jobId,
      ...(deduplication
        ? { deduplication: { id: deduplication.id, ttl: deduplication.ttlMs } }
        : {}),
    },
  };
}
