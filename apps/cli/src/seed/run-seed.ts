import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DmsContactEvent, describeIssues } from '@contact-linker/contracts';
import { bulkJobs, createFairOrder, QUEUE, type QueueSet } from '@contact-linker/queues';
import type { Redis } from 'ioredis';
import { checkpointKey, readCheckpoint, seedId, seedJobId, writeCheckpoint } from './checkpoint.ts';
import { readRecords, type SeedFormat } from './records.ts';

export interface SeedOptions {
  /** Path of the CSV or NDJSON file. */
  file: string;
  format: SeedFormat;
  /** Web1on1 organization every record is seeded into. */
  organization: string;
  queues: QueueSet;
  /** The connection `queues` use; the checkpoint lives there too. */
  redis: Redis;
  /** `QUEUE_PREFIX`; the checkpoint key lives under it. */
  prefix: string;
  /** `JOB_ATTEMPTS`. */
  attempts: number;
  /** `DEFAULT_PHONE_COUNTRY`. */
  defaultPhoneCountry: string;
  /**
   * Records per `addBulk` (one Redis round trip each) and per checkpoint.
   * @defaultValue 500
   */
  batchSize?: number;
  /**
   * Ignore an existing checkpoint and go through the whole file again. Lines whose job is still kept
   * are not added again (their job ids are deterministic).
   * @defaultValue false, i.e. resume after the checkpoint when there is one
   */
  restart?: boolean;
  /** Stops the seed: the records read so far are enqueued and checkpointed, then it returns. */
  signal?: AbortSignal;
  /** Called as the file is read (every chunk of bytes), for a progress display. */
  onProgress?: (progress: SeedProgress) => void;
  /** Called with every rejected record, in line order, e.g. to write them all to a file. */
  onReject?: (reject: RejectedRecord) => void | Promise<void>;
  /** Called after each batch is on the queue and checkpointed. */
  onBatch?: (batch: { number: number; lastLine: number; size: number }) => void | Promise<void>;
  /**
   * How many rejected records the result lists (the count covers all).
   * @defaultValue 20
   */
  keepRejects?: number;
}

export interface SeedProgress {
  bytesRead: number;
  totalBytes: number;
  /** Records read so far (accepted + rejected). */
  records: number;
}

export interface RejectedRecord {
  /** 1-based line of the file where the record starts (for CSV, the header is line 1). */
  line: number;
  /** Set when the record spans more than one line. */
  lastLine?: number;
  reason: string;
}

export interface SeedResult {
  /** Valid records in the file, whether this run or an earlier one (before its checkpoint) queued them. */
  accepted: number;
  rejected: number;
  /** The first `keepRejects` rejected records. */
  rejects: RejectedRecord[];
  /** Records this run handed to `addBulk`. */
  enqueued: number;
  /**
   * Of those, how many BullMQ folded into a job already pending with the same content (the content
   * deduplication of `POST /updatecontacts`), so they did not add a job of their own.
   */
  deduplicated: number;
  /** The checkpoint this run resumed after, if any: lines up to it were checked, not enqueued. */
  resumedAfterLine?: number;
  /** Whether `signal` stopped the seed before the end of the file. */
  interrupted: boolean;
  /** The last line processed and checkpointed. */
  lastLine: number;
  /** Identifies this seed (file, size, mtime, organization); its job ids start with it. */
  seedId: string;
}

/**
 * Seeds link-contact jobs from a file, the way `POST /updatecontacts` enqueues a bulk body: each
 * record is validated with `DmsContactEvent`, valid ones go on the queue in batches at bulk priority
 * with the same job data, options and content deduplication, invalid ones are reported by line.
 *
 * Exactly once per line: every record's job id is derived from the seed and its line, so running the
 * same seed again (after a crash between an `addBulk` and its checkpoint, or with `restart`) adds
 * nothing for lines whose job is still kept. The checkpoint, written after each acknowledged batch,
 * only saves the time of going through those lines again. The file is streamed: memory holds one
 * batch, not the file.
 */
export async function runSeed(options: SeedOptions): Promise<SeedResult> {
  const { organization, redis, batchSize = 500, keepRejects = 20, signal } = options;
  const path = resolve(options.file);
  const { size: totalBytes, mtimeMs } = await stat(path);
  const identity = { path, size: totalBytes, mtimeMs, organization };
  const id = seedId(identity);
  const key = checkpointKey(options.prefix, id);
  const checkpoint = options.restart ? undefined : await readCheckpoint(redis, key);
  const skipTo = checkpoint?.line ?? 0;
  const result: SeedResult = {
    accepted: 0,
    rejected: 0,
    rejects: [],
    enqueued: 0,
    deduplicated: 0,
    ...(checkpoint ? { resumedAfterLine: checkpoint.line } : {}),
    interrupted: false,
    lastLine: skipTo,
    seedId: id,
  };
  let batch: Array<{ line: number; event: DmsContactEvent }> = [];
  let batches = 0;
  /** The last line read; every accepted record up to it is on the queue once `batch` is flushed. */
  let read = 0;

  const save = async (done: boolean) => {
    if (read <= result.lastLine && !done) return;
    result.lastLine = Math.max(result.lastLine, read);
    const updatedAt = new Date().toISOString();
    await writeCheckpoint(redis, key, identity, { line: result.lastLine, done, updatedAt });
  };
  const fairOrder = createFairOrder({ queue: options.queues[QUEUE.linkContact], redis });
  const flush = async () => {
    if (batch.length === 0) return;
    const { attempts, defaultPhoneCountry } = options;
    const lines = batch.map((entry) => entry.line);
    const jobs = bulkJobs(
      batch.map((entry) => entry.event),
      { attempts, defaultPhoneCountry, jobId: (index) => seedJobId(id, lines[index]!) },
    );
    const added = await fairOrder.add(jobs);
    // BullMQ answers an add deduplicated into a pending job with that job's id.
    result.deduplicated += added.filter((job, i) => job.id !== jobs[i]?.opts?.jobId).length;
    result.enqueued += jobs.length;
    batch = [];
    await save(false);
    batches += 1;
    await options.onBatch?.({ number: batches, lastLine: result.lastLine, size: jobs.length });
  };

  const stream = createReadStream(path, { highWaterMark: 64 * 1024 });
  try {
    const records = readRecords(stream, options.format, {
      onBytes: (bytesRead) =>
        options.onProgress?.({
          bytesRead,
          totalBytes,
          records: result.accepted + result.rejected,
        }),
    });
    for await (const record of records) {
      const checked = 'error' in record ? { reason: record.error } : toEvent(record, organization);
      if ('event' in checked) {
        result.accepted += 1;
        if (record.line > skipTo) batch.push({ line: record.line, event: checked.event });
      } else {
        const span = record.lastLine > record.line ? { lastLine: record.lastLine } : {};
        const rejected = { line: record.line, ...span, reason: checked.reason };
        result.rejected += 1;
        if (result.rejects.length < keepRejects) result.rejects.push(rejected);
        await options.onReject?.(rejected);
      }
      read = record.lastLine;
      if (batch.length >= batchSize) await flush();
      if (signal?.aborted) {
        result.interrupted = true;
        break;
      }
    }
    await flush();
    await save(!result.interrupted);
    return result;
  } finally {
    stream.destroy();
  }
}

/**
 * A record as `POST /updatecontacts` would get it, with the seed's organization. A record naming
 * another organization is rejected rather than moved: a file holding another dealer's contacts is a
 * mistake, and linking them into this dealer's Web1on1 would be worse than skipping them.
 */
function toEvent(
  { fields }: { fields: Record<string, unknown> },
  organization: string,
): { event: DmsContactEvent } | { reason: string } {
  const own = fields.organization;
  if (own !== undefined && own !== null && own !== '' && own !== organization) {
    return {
      reason: `organization ${JSON.stringify(own)} is not the seed's organization "${organization}"`,
    };
  }
  const parsed = DmsContactEvent.safeParse({ ...fields, organization });
  return parsed.success ? { event: parsed.data } : { reason: describeIssues(parsed.error) };
}
