import type { CliConfig } from '@contact-linker/config';
import { Command } from 'commander';
import { registerDlqCommands } from './commands/dlq.ts';
import { registerQueuesCommands } from './commands/queues.ts';
import { registerSeedCommand } from './commands/seed.ts';
import { type CliContext, openContext } from './context.ts';

export interface ProgramDeps {
  /** Loads config on first use; throwing there prints the problems and exits non-zero. */
  loadConfig: () => CliConfig;
  out?: (line: string) => void;
  err?: (line: string) => void;
}

/**
 * Builds the operator CLI. Commands share one lazily opened Redis connection, closed after the
 * command, so `pnpm cli --help` needs neither Redis nor configuration.
 */
export function createProgram({
  loadConfig,
  out = (line) => process.stdout.write(`${line}\n`),
  err = (line) => process.stderr.write(`${line}\n`),
}: ProgramDeps) {
  let opened: (CliContext & { close(): Promise<void> }) | undefined;
  const context = async () => {
    opened ??= openContext(loadConfig(), { out, err });
    return opened;
  };

  const program = new Command()
    .name('pnpm cli')
    .description(
      'contact-linker operator CLI: seed contacts from a file, watch the queues, replay dead letters.\n' +
        'Reads REDIS_URL, QUEUE_PREFIX, DEFAULT_PHONE_COUNTRY and JOB_ATTEMPTS like the worker.\n' +
        'QUEUE_PREFIX defaults to {contact-linker}; `pnpm dev` runs under {contact-linker-dev} and\n' +
        'prints the command line that looks at it. Reading commands name the Redis and prefix on stderr.',
    )
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => out(s.trimEnd()), writeErr: (s) => err(s.trimEnd()) });
  program.hook('postAction', async () => {
    await opened?.close();
    opened = undefined;
  });

  registerSeedCommand(program, context);
  registerQueuesCommands(program, context);
  registerDlqCommands(program, context);
  return program;
}
