import type { DeadLetterSummary } from '@contact-linker/contracts';
import { listDeadLetters, purgeDeadLetters, QUEUE, replayDeadLetter } from '@contact-linker/queues';
import { type Command, InvalidArgumentError } from 'commander';
import type { CliContext } from '../context.ts';

function table(letters: DeadLetterSummary[]): string {
  if (letters.length === 0) return 'no dead letters';
  const rows = letters.map((l) => [
    l.id,
    l.queue,
    l.name,
    String(l.attemptsMade),
    l.failedAt,
    l.failedReason.length > 60 ? `${l.failedReason.slice(0, 59)}…` : l.failedReason,
  ]);
  const header = ['ID', 'QUEUE', 'NAME', 'ATTEMPTS', 'FAILED AT', 'REASON'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `dlq list|show|replay|purge`: the dead-letter queue, for operators. */
export function registerDlqCommands(program: Command, context: () => Promise<CliContext>): void {
  const dlq = program
    .command('dlq')
    .description('inspect, replay and purge dead letters (jobs that failed for good)');

  dlq
    .command('list')
    .description('list dead letters, oldest first')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { json?: boolean }) => {
      const { queues, out, note, source } = await context();
      note(source);
      const letters = await listDeadLetters(queues[QUEUE.deadLetter]);
      out(opts.json ? JSON.stringify(letters, null, 2) : table(letters));
    });

  dlq
    .command('show')
    .description('show one dead letter with its data and last error')
    .argument('<id>', 'dead letter id (from `dlq list`)')
    .action(async (id: string) => {
      const { queues, out, fail, note, source } = await context();
      note(source);
      const letter = await queues[QUEUE.deadLetter].getJob(id);
      if (!letter) return fail(`no dead letter ${id}`);
      out(JSON.stringify({ id, ...letter.data }, null, 2));
    });

  dlq
    .command('replay')
    .description('put dead letters back on their original queue (keeps webhook-ids)')
    .argument('[id]', 'dead letter id')
    .option('--all', 'replay every dead letter')
    .action(async (id: string | undefined, opts: { all?: boolean }) => {
      if ((id === undefined) === (opts.all !== true)) {
        throw new InvalidArgumentError('give either a dead letter id or --all');
      }
      const { queues, out, fail, note, source } = await context();
      note(source);
      const ids = opts.all
        ? (await listDeadLetters(queues[QUEUE.deadLetter])).map((l) => l.id)
        : [id!];
      let replayed = 0;
      for (const letterId of ids) {
        const outcome = await replayDeadLetter(queues, letterId);
        if (outcome.replayed) {
          replayed += 1;
          out(`replayed ${letterId} → ${outcome.queue} job ${outcome.jobId}`);
        } else if (!opts.all) {
          return fail(`no dead letter ${letterId}`);
        }
      }
      if (opts.all) out(`replayed ${replayed} dead letter(s)`);
    });

  dlq
    .command('purge')
    .description('delete every dead letter and its failed origin job, for good')
    .option('--yes', 'confirm; without it nothing is deleted')
    .action(async (opts: { yes?: boolean }) => {
      const { queues, out, fail, note, source } = await context();
      note(source);
      if (!opts.yes) {
        const count = await queues[QUEUE.deadLetter].count();
        return fail(`would delete ${count} dead letter(s); run again with --yes`);
      }
      out(`purged ${await purgeDeadLetters(queues)} dead letter(s)`);
    });
}
