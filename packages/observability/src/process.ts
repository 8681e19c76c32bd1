import type { Logger } from 'pino';

/**
 * Runs `close` once on SIGTERM or SIGINT, then exits 0 (1 if closing failed). A second signal while
 * closing exits at once, for operators who really mean it.
 */
export function onShutdown(logger: Logger, close: () => Promise<void>): void {
  let closing = false;
  const handle = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    closing = true;
    logger.info({ signal }, 'shutting down');
    close().then(
      () => {
        logger.info('shut down cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}

/**
 * Loads a process's config or exits: one line per problem on stderr, then exit code 78 (EX_CONFIG),
 * well within the "fail fast, within seconds" the contract asks for.
 */
export function loadConfigOrExit<T>(name: string, load: () => T): T {
  try {
    return load();
  } catch (error) {
    const lines = error instanceof Error ? error.message.split('\n') : [String(error)];
    for (const line of lines) process.stderr.write(`${name}: invalid configuration: ${line}\n`);
    process.exit(78);
  }
}
