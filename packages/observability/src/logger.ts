import { type DestinationStream, type Logger, pino } from 'pino';
import { maskPii, REDACT_PATHS } from './redact.ts';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** @defaultValue 'info' */
  level?: string;
  /** Process name, logged as `service`. */
  name: string;
  /** Where lines go; tests pass a stream to capture them. @defaultValue stdout */
  destination?: DestinationStream;
}

/**
 * The project's logger: JSON lines, credentials removed by path, emails and phone numbers masked in
 * every line whatever field they sit in.
 */
export function createLogger({ level = 'info', name, destination }: LoggerOptions): Logger {
  return pino(
    {
      level,
      base: { service: name },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      hooks: { streamWrite: maskPii },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
