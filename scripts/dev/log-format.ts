/**
 * `pnpm dev` shows the processes' pino lines as short text, so its own sandbox lines stay readable
 * between them. Only the dev script formats: the processes themselves always write JSON (masked and
 * redacted before it leaves them), which is what production ships to a log pipeline.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** Fields shown in the head of the line, or not at all. */
const HEAD = new Set(['level', 'time', 'service', 'msg', 'pid', 'hostname', 'err']);

/**
 * One pino JSON line as `HH:MM:SS.mmm service level message key=value…`; an error's stack follows on
 * indented lines. Anything that is not a pino line comes back unchanged.
 */
export function formatLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || !('level' in parsed)) return line;
    entry = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = typeof entry.level === 'number' ? (LEVELS[entry.level] ?? entry.level) : '?';
  const service = typeof entry.service === 'string' ? entry.service : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !HEAD.has(key))
    .map(([key, value]) => `${key}=${show(key, value)}`);
  const err = entry.err as { type?: string; message?: string; stack?: string } | undefined;
  const parts = [time, service.padEnd(7), String(level).padEnd(5), String(entry.msg ?? '')];
  if (err?.message !== undefined) fields.unshift(`err=${show('err', err.message)}`);
  const head = [...parts, ...fields].filter((part) => part !== '').join(' ');
  const stack = typeof entry.level === 'number' && entry.level >= 50 ? err?.stack : undefined;
  return stack ? `${head}\n${indent(stack)}` : head;
}

/** Fastify's request and response objects read best as their one telling field. */
function show(key: string, value: unknown): string {
  if (key === 'req' && isObject(value)) return `${value.method} ${value.path ?? value.url}`;
  if (key === 'res' && isObject(value)) return String(value.statusCode);
  if (key === 'responseTime' && typeof value === 'number') return `${value.toFixed(1)}ms`;
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

const indent = (text: string) =>
  text
    .split('\n')
    .map((line) => `    ${line.trim()}`)
    .join('\n');

/** Writes every line of `stream` through `formatLogLine` to `write`. */
export function pipeFormatted(stream: Readable, write: (text: string) => void): void {
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
    write(`${formatLogLine(line)}\n`),
  );
}
