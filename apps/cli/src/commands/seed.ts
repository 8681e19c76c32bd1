import { once } from 'node:events';
import { constants, type WriteStream } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { finished } from 'node:stream/promises';
import { MAX_BULK_CONTACTS, OrganizationId } from '@contact-linker/contracts';
import { Presets, SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CliContext } from '../context.ts';
import { interruptible } from '../interrupt.ts';
import { letGoIfDown, requireRedis } from '../redis-check.ts';
import { SeedFileError, type SeedFormat } from '../seed/records.ts';
import {
  type RejectedRecord,
  runSeed,
  type SeedProgress,
  type SeedResult,
} from '../seed/run-seed.ts';

/** How many rejected lines the summary lists; `--rejects <file>` has them all. */
const SHOWN_REJECTS = 20;

const EXTENSIONS: Record<string, SeedFormat> = {
  '.csv': 'csv',
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
};

const HELP = `
Each record is checked like an item of POST /updatecontacts (same rules, same messages) and valid
ones are queued the same way: bulk priority, below live events, and one pending job per normalised
contact. Invalid records are reported by file line (for CSV the header is line 1); they do not stop
the seed, and the exit code stays 0.

Formats (chosen by extension, or --format):
  CSV     header row naming the columns, in any order: id, and email, telephone and/or phone;
          other columns are ignored, cells are trimmed, quoted fields may hold commas and line breaks
  NDJSON  one JSON object per line, with the fields of POST /updatecontact

Organization: every record gets --organization. A record that names its own organization (CSV column
or JSON field) is rejected unless it is the same one: a file of another dealer's contacts is a
mistake, and linking them into this dealer would be worse than skipping them.

Resuming: after each batch is on the queue, the line reached is checkpointed in Redis, keyed by the
file's absolute path, size and modification time and the organization. Running the same command again
continues after the checkpoint (--resume, the default); --restart goes through the whole file again.
Either way no line is queued twice: each line's job id is derived from the file and the line, and
Redis ignores a job id it already holds. That holds while the job is kept (completed jobs: 1 day, at
most 100,000), so a --restart days later queues the lines again. An edited file is a new seed.

Ctrl-C stops after the current batch is queued and checkpointed (exit code 130); a second Ctrl-C quits
at once. Exit code 1: the file cannot be read, a bad option, no usable CSV header, or Redis is down.

Examples:
  pnpm cli seed contacts.csv --organization dealer-42
  pnpm cli seed export.ndjson --organization dealer-42 --rejects rejected.ndjson
  pnpm cli seed contacts.csv --organization dealer-42 --restart`;

/** `seed <file>`: queue a dealer's DMS contacts from a file, resumably. */
export function registerSeedCommand(program: Command, context: () => Promise<CliContext>): void {
  program
    .command('seed')
    .description(
      "queue a dealer's DMS contacts from a CSV or NDJSON file, like POST /updatecontacts",
    )
    .argument('<file>', 'CSV (.csv) or NDJSON (.ndjson, .jsonl) file of DMS contacts')
    .requiredOption(
      '--organization <id>',
      'Web1on1 organization id of the dealer, given to every record (required)',
      parseOrganization,
    )
    .option(
      '--batch-size <n>',
      `records per Redis round trip and per checkpoint (1-${MAX_BULK_CONTACTS})`,
      parseBatchSize,
      500,
    )
    .addOption(
      new Option(
        '--resume',
        'continue after the checkpoint of an earlier run (the default when there is one)',
      ).conflicts('restart'),
    )
    .addOption(new Option('--restart', 'ignore the checkpoint and go through the whole file again'))
    .addOption(
      new Option('--format <format>', 'file format (default: from the extension)').choices([
        'csv',
        'ndjson',
      ]),
    )
    .option('--rejects <file>', 'write every rejected record to this file, as NDJSON')
    .addHelpText('after', HELP)
    .action(async (file: string, opts: SeedCommandOptions, command: Command) => {
      // A problem with the file is not a usage error: say it in one line, without the whole help.
      const problem = (message: string) => command.showHelpAfterError(false).error(message);
      const format = opts.format ?? EXTENSIONS[extname(file).toLowerCase()];
      if (format === undefined) {
        return problem(
          `cannot tell the format of ${file}: name it .csv or .ndjson, or give --format`,
        );
      }
      const unusable = await unreadable(file);
      if (unusable) return problem(`cannot read ${file}: ${unusable}`);

      const ctx = await context();
      if (!(await requireRedis(ctx))) return;
      const rejectsFile = opts.rejects ? await openRejectsFile(opts.rejects, ctx) : undefined;
      if (opts.rejects && !rejectsFile) return;
      const bar = process.stderr.isTTY ? progressBar() : undefined;
      const interrupt = interruptible(() => {
        bar?.stop();
        process.stderr.write('stopping after the current batch (Ctrl-C again to quit at once)\n');
      });
      let result: SeedResult;
      try {
        result = await runSeed({
          file,
          format,
          organization: opts.organization,
          queues: ctx.queues,
          redis: ctx.redis,
          prefix: ctx.config.queuePrefix,
          attempts: ctx.config.jobAttempts,
          defaultPhoneCountry: ctx.config.defaultPhoneCountry,
          batchSize: opts.batchSize,
          restart: opts.restart === true,
          signal: interrupt.signal,
          keepRejects: SHOWN_REJECTS,
          onReject: rejectsFile?.write,
          onProgress: bar?.update,
        });
      } catch (error) {
        return ctx.fail(
          error instanceof SeedFileError
            ? `${file}: ${error.message}`
            : `seed failed: ${(error as Error).message}`,
        );
      } finally {
        bar?.stop();
        interrupt.dispose();
        await rejectsFile?.close();
        letGoIfDown(ctx);
      }
      ctx.out(renderSeedSummary(result, { rejectsFile: opts.rejects }));
      if (result.interrupted) process.exitCode = 130;
    });
}

interface SeedCommandOptions {
  organization: string;
  batchSize: number;
  resume?: boolean;
  restart?: boolean;
  format?: SeedFormat;
  rejects?: string;
}

function parseOrganization(value: string): string {
  const parsed = OrganizationId.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'invalid');
  return parsed.data;
}

function parseBatchSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_BULK_CONTACTS) {
    throw new InvalidArgumentError(`must be a whole number from 1 to ${MAX_BULK_CONTACTS}`);
  }
  return n;
}

/** Why `file` cannot be seeded from, or undefined when it is a readable regular file. */
async function unreadable(file: string): Promise<string | undefined> {
  try {
    if (!(await stat(file)).isFile()) return 'not a regular file';
    await access(file, constants.R_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES'
        ? 'permission denied'
        : String(code);
  }
}

/** The `--rejects` file, written as rejects come in (waiting while the disk catches up), never held. */
async function openRejectsFile(path: string, ctx: CliContext) {
  let out: WriteStream;
  try {
    out = (await open(path, 'w')).createWriteStream();
  } catch (error) {
    ctx.fail(`cannot write ${path}: ${(error as Error).message}`);
    return undefined;
  }
  // Settles when the file is closed; a write error (disk full) rejects it and so fails the seed.
  const closed = finished(out);
  closed.catch(() => undefined);
  return {
    write: async (rejected: RejectedRecord) => {
      if (!out.write(`${JSON.stringify(rejected)}\n`)) {
        await Promise.race([once(out, 'drain'), closed]);
      }
    },
    close: async () => {
      out.end();
      await closed;
    },
  };
}

/** Bytes read of the file's size, records per second and ETA, redrawn on stderr. */
function progressBar() {
  const bar = new SingleBar(
    {
      format:
        'seeding {bar} {percentage}% | {read} of {size} | {rate} records/s | ETA {eta_formatted}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    Presets.shades_classic,
  );
  bar.start(1, 0, { read: '0 B', size: '?', rate: 0 });
  const started = performance.now();
  return {
    stop: () => bar.stop(),
    update: ({ bytesRead, totalBytes, records }: SeedProgress) => {
      const seconds = (performance.now() - started) / 1000;
      if (bar.getTotal() !== totalBytes) bar.setTotal(totalBytes);
      bar.update(bytesRead, {
        read: formatBytes(bytesRead),
        size: formatBytes(totalBytes),
        rate: seconds > 0 ? Math.round(records / seconds) : 0,
      });
    },
  };
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The seed's closing report: counts first (`accepted N, rejected M`), then what an operator acts on. */
export function renderSeedSummary(
  result: SeedResult,
  { rejectsFile, shown = SHOWN_REJECTS }: { rejectsFile?: string; shown?: number } = {},
): string {
  const lines = [`accepted ${result.accepted}, rejected ${result.rejected}`];
  if (result.resumedAfterLine !== undefined) {
    lines.push(
      result.enqueued === 0 && !result.interrupted
        ? `nothing new to queue: an earlier run got through line ${result.resumedAfterLine} (--restart goes through the file again)`
        : `resumed after line ${result.resumedAfterLine}: records up to it were queued by an earlier run`,
    );
  }
  if (result.deduplicated > 0) {
    lines.push(
      `${result.deduplicated} accepted record(s) matched a contact already queued with the same content and share its job`,
    );
  }
  if (result.rejected > 0) {
    lines.push('rejected:');
    for (const r of result.rejects.slice(0, shown)) {
      const where = r.lastLine === undefined ? `line ${r.line}` : `lines ${r.line}-${r.lastLine}`;
      lines.push(`  ${where}: ${r.reason}`);
    }
    const more = result.rejected - Math.min(result.rejects.length, shown);
    if (more > 0) {
      lines.push(
        rejectsFile
          ? `  … and ${more} more, all in ${rejectsFile}`
          : `  … and ${more} more (--rejects <file> writes them all)`,
      );
    } else if (rejectsFile) {
      lines.push(`  (also written to ${rejectsFile})`);
    }
  }
  if (result.interrupted) {
    lines.push(
      `interrupted after line ${result.lastLine}, which is checkpointed: run the same command again to continue`,
    );
  }
  return lines.join('\n');
}
