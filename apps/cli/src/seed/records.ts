import { Readable } from 'node:stream';
import { type CsvError, type Options, parse } from 'csv-parse';

/** The seed file formats `pnpm cli seed` reads. */
export type SeedFormat = 'csv' | 'ndjson';

/**
 * One record of a seed file, with the 1-based file lines it spans (`line === lastLine` unless a
 * quoted CSV field holds line breaks). `fields` is what the file says, not yet validated: strings for
 * CSV (blank cells left out), JSON values for NDJSON. `error` says why the lines could not be read.
 */
export type SourceRecord =
  | { line: number; lastLine: number; fields: Record<string, unknown> }
  | { line: number; lastLine: number; error: string };

/** A file-level problem (no usable CSV header): nothing in the file can be read meaningfully. */
export class SeedFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeedFileError';
  }
}

export interface ReadRecordsOptions {
  /** Called with the number of bytes read so far each time a chunk of the file comes in. */
  onBytes?: (bytes: number) => void;
  /**
   * Longest record, in bytes. A longer one is rejected rather than buffered, so one broken line
   * (or an unclosed CSV quote) cannot make the reader hold the rest of the file in memory.
   * @defaultValue 65536, the body limit of `POST /updatecontact`
   */
  maxRecordBytes?: number;
}

/** File contents as they stream in (a file's read stream, or chunks in a test). */
export type Chunks = AsyncIterable<Buffer | string> | Iterable<Buffer | string>;

/** The CSV columns a seed reads (after trimming and lower-casing the header); others are ignored. */
export const CSV_COLUMNS = ['id', 'email', 'telephone', 'phone', 'organization'] as const;
const CONTACT_COLUMNS = ['email', 'telephone', 'phone'] as const;
/** The keys the ingress refuses anywhere in a body, refused in an NDJSON line the same way. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const NEWLINE = 0x0a;
/** Space, tab, CR, LF, FF, VT. */
const WHITESPACE = new Set([0x20, 0x09, 0x0d, 0x0a, 0x0c, 0x0b]);

/** Streams the records of a seed file in line order, holding only one chunk and one record at a time. */
export function readRecords(
  input: Chunks,
  format: SeedFormat,
  options: ReadRecordsOptions = {},
): AsyncGenerator<SourceRecord> {
  return format === 'csv' ? readCsvRecords(input, options) : readNdjsonRecords(input, options);
}

/**
 * NDJSON: one JSON object per line. Blank lines are skipped; a line that is not a JSON object, holds
 * a forbidden key, or is longer than `maxRecordBytes` is reported as that line's error.
 */
export async function* readNdjsonRecords(
  input: Chunks,
  { onBytes, maxRecordBytes = 65_536 }: ReadRecordsOptions = {},
): AsyncGenerator<SourceRecord> {
  const counted = countBytes(input, onBytes);
  for await (const physical of physicalLines(counted.chunks, maxRecordBytes)) {
    const { line } = physical;
    if (physical.text === undefined) {
      yield { line, lastLine: line, error: `line is longer than ${maxRecordBytes} bytes` };
      continue;
    }
    const text = line === 1 ? physical.text.replace(/^\uFEFF/, '') : physical.text;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text, (key, v) => {
        if (FORBIDDEN_KEYS.has(key)) throw new ForbiddenKey(key);
        return v;
      });
    } catch (error) {
      const reason =
        error instanceof ForbiddenKey
          ? `forbidden key ${error.key}`
          : `invalid JSON: ${(error as Error).message}`;
      yield { line, lastLine: line, error: reason };
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      yield { line, lastLine: line, error: 'not a JSON object' };
      continue;
    }
    yield { line, lastLine: line, fields: value as Record<string, unknown> };
  }
}

class ForbiddenKey extends Error {
  readonly key: string;
  constructor(key: string) {
    super(`forbidden key ${key}`);
    this.key = key;
  }
}

/**
 * CSV with a header row naming the columns, in any order: `id` and at least one of `email`,
 * `telephone`, `phone` (optionally `organization`); other columns are ignored, as are blank lines.
 * Fields may be quoted (RFC 4180), quotes inside unquoted fields are kept as text, and cells are
 * trimmed. A row with a different number of cells than the header, or broken quoting, is reported
 * with its lines.
 *
 * Line numbers come from counting the file's own line breaks, not from csv-parse: its `info.lines`
 * counts a CRLF inside a quoted field twice. And after broken quoting csv-parse may swallow the lines
 * up to the end of the file without a word, so every line it did not account for is reported.
 */
export async function* readCsvRecords(
  input: Chunks,
  { onBytes, maxRecordBytes = 65_536 }: ReadRecordsOptions = {},
): AsyncGenerator<SourceRecord> {
  const lines = new LineIndex();
  const counted = countBytes(input, onBytes, (chunk, offset) => lines.add(chunk, offset));
  /** The last line some record or error accounted for, in parse order. */
  let accountedTo = 0;
  /** How far csv-parse's own line count is ahead of the true one (CRLF inside quotes). */
  let drift = 0;
  const errors: SourceRecord[] = [];
  const options: Options<CsvRow, string[]> = {
    bom: true,
    trim: true,
    relax_quotes: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: maxRecordBytes,
    // Both callbacks run synchronously in parse order, so `accountedTo` follows the file.
    on_record: (record: string[], context) => {
      const lastLine = lines.lineOf(context.bytes - 1);
      const breaks = record.reduce((n, cell) => n + countOf(cell, '\n'), 0);
      accountedTo = lastLine;
      drift = context.lines - lastLine;
      return { line: lastLine - breaks, lastLine, cells: record };
    },
    // An error's own position is vague: `bytes` points near the start of the broken record, and
    // `lines` (where parsing stopped) is csv-parse's count, corrected by the drift seen so far.
    on_skip: (error: CsvError | undefined) => {
      if (!error) return undefined;
      const bytes = typeof error.bytes === 'number' ? error.bytes : 0;
      const near = lines.lineOf(Math.max(bytes - 1, 0));
      const stopped = typeof error.lines === 'number' ? error.lines - drift : near;
      const lastLine = Math.min(Math.max(stopped, near, accountedTo), lines.lastSeen());
      const line = Math.min(Math.max(accountedTo + 1, near), lastLine);
      const previous = errors.at(-1);
      if (line <= accountedTo && previous && 'error' in previous) {
        // csv-parse reports one unclosed quote twice (at the quote, and again at the end of input).
        previous.lastLine = Math.max(previous.lastLine, lastLine);
      } else {
        // Its message names csv-parse's own line count, which may be off; the record says the line.
        errors.push({ line, lastLine, error: `CSV: ${error.message.replace(/ at line \d+/, '')}` });
      }
      accountedTo = Math.max(accountedTo, lastLine);
      return undefined;
    },
  };
  // The non-`columns` overload of csv-parse's typings wants string[] records; `on_record` may return
  // any value at runtime (documented), which is what the parser then emits.
  const parser = parse(options as unknown as Options);
  const source = Readable.from(counted.chunks);
  source.on('error', (error) => parser.destroy(error));
  source.pipe(parser);

  let header: Map<string, number> | undefined;
  let width = 0;
  function* errorsBefore(line: number): Generator<SourceRecord> {
    while (errors.length > 0 && errors[0]!.line < line) yield errors.shift()!;
  }

  for await (const row of parser as AsyncIterable<CsvRow>) {
    if (header === undefined) {
      if (errors.length > 0 && errors[0]!.line < row.line) {
        throw new SeedFileError(`line ${errors[0]!.line}: cannot read the CSV header row`);
      }
      header = csvHeader(row.cells, row.line);
      width = row.cells.length;
      continue;
    }
    yield* errorsBefore(row.line);
    if (row.cells.every((cell) => cell === '')) continue;
    if (row.cells.length !== width) {
      yield {
        line: row.line,
        lastLine: row.lastLine,
        error: `CSV: ${row.cells.length} cells where the header has ${width}`,
      };
      continue;
    }
    const fields: Record<string, string> = {};
    for (const [name, index] of header) {
      const cell = row.cells[index]!;
      if (cell !== '') fields[name] = cell;
    }
    yield { line: row.line, lastLine: row.lastLine, fields };
  }
  if (header === undefined && errors.length > 0) {
    throw new SeedFileError(`line ${errors[0]!.line}: cannot read the CSV header row`);
  }
  yield* errorsBefore(Number.POSITIVE_INFINITY);
  // Only after an error (broken quoting, an oversized record) does csv-parse drop lines silently;
  // trailing blank lines are harmless.
  const lastContentLine = counted.lastContentLine();
  if (header !== undefined && lastContentLine > accountedTo) {
    yield {
      line: accountedTo + 1,
      lastLine: lastContentLine,
      error: `CSV: not read: the parser did not recover from the error before line ${accountedTo + 1}`,
    };
  }
}

interface CsvRow {
  line: number;
  lastLine: number;
  cells: string[];
}

function csvHeader(cells: string[], line: number): Map<string, number> {
  const names = cells.map((cell) => cell.toLowerCase());
  const columns = new Map<string, number>();
  for (const name of CSV_COLUMNS) {
    const first = names.indexOf(name);
    if (first < 0) continue;
    if (names.indexOf(name, first + 1) >= 0) {
      throw new SeedFileError(`line ${line}: the CSV header names the column "${name}" twice`);
    }
    columns.set(name, first);
  }
  if (!columns.has('id')) {
    throw new SeedFileError(
      `line ${line}: the CSV header needs an "id" column (found: ${cells.join(', ') || 'nothing'})`,
    );
  }
  if (!CONTACT_COLUMNS.some((name) => columns.has(name))) {
    throw new SeedFileError(
      `line ${line}: the CSV header needs an "email", "telephone" or "phone" column`,
    );
  }
  return columns;
}

function countOf(text: string, char: string): number {
  let n = 0;
  for (let i = text.indexOf(char); i >= 0; i = text.indexOf(char, i + 1)) n += 1;
  return n;
}

/** Passes chunks through as Buffers, counting bytes and line breaks on the way. */
function countBytes(
  input: Chunks,
  onBytes?: (bytes: number) => void,
  onChunk?: (chunk: Buffer, offset: number) => void,
) {
  let bytes = 0;
  let breaks = 0;
  let lastContentLine = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    for await (const piece of input) {
      const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
      if (chunk.length === 0) continue;
      onChunk?.(chunk, bytes);
      for (let i = chunk.indexOf(NEWLINE); i >= 0; i = chunk.indexOf(NEWLINE, i + 1)) breaks += 1;
      // The last line holding more than whitespace: line breaks up to the chunk's last such byte.
      let trailingBreaks = 0;
      for (let i = chunk.length - 1; i >= 0; i -= 1) {
        const byte = chunk[i]!;
        if (byte === NEWLINE) trailingBreaks += 1;
        else if (!WHITESPACE.has(byte)) {
          lastContentLine = breaks - trailingBreaks + 1;
          break;
        }
      }
      bytes += chunk.length;
      onBytes?.(bytes);
      yield chunk;
    }
  }
  return { chunks: chunks(), lastContentLine: () => lastContentLine };
}

/**
 * Maps byte offsets to 1-based line numbers for offsets at or after the last one asked about. It
 * keeps the offsets of line breaks not yet passed, i.e. those of the text the parser holds.
 */
class LineIndex {
  private breaks: number[] = [];
  private head = 0;
  private passed = 0;

  add(chunk: Buffer, offset: number): void {
    for (let i = chunk.indexOf(NEWLINE); i >= 0; i = chunk.indexOf(NEWLINE, i + 1)) {
      this.breaks.push(offset + i);
    }
  }

  /** The line holding byte `offset` (a line break belongs to the line it ends). */
  lineOf(offset: number): number {
    while (this.head < this.breaks.length && this.breaks[this.head]! < offset) {
      this.head += 1;
      this.passed += 1;
    }
    if (this.head > 4096) {
      this.breaks = this.breaks.slice(this.head);
      this.head = 0;
    }
    return this.passed + 1;
  }

  /** The line of the last byte added so far. */
  lastSeen(): number {
    return this.passed + (this.breaks.length - this.head) + 1;
  }
}

/**
 * Splits bytes into lines (LF or CRLF), numbered from 1. A line longer than `maxBytes` comes out as
 * `{ line }` without text, and its bytes are dropped as they arrive instead of being kept.
 */
async function* physicalLines(
  chunks: AsyncIterable<Buffer>,
  maxBytes: number,
): AsyncGenerator<{ line: number; text?: string }> {
  let line = 1;
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;
  const finish = () => {
    const out = tooLong
      ? { line }
      : { line, text: Buffer.concat(parts, size).toString('utf8').replace(/\r$/, '') };
    parts = [];
    size = 0;
    tooLong = false;
    line += 1;
    return out;
  };
  for await (const chunk of chunks) {
    let start = 0;
    for (let i = chunk.indexOf(NEWLINE); i >= 0; i = chunk.indexOf(NEWLINE, start)) {
      if (!tooLong) {
        parts.push(chunk.subarray(start, i));
        size += i - start;
        if (size > maxBytes) tooLong = true;
      }
      yield finish();
      start = i + 1;
    }
    if (!tooLong && start < chunk.length) {
      parts.push(chunk.subarray(start));
      size += chunk.length - start;
      if (size > maxBytes) {
        tooLong = true;
        parts = [];
      }
    }
  }
  if (size > 0 || tooLong) yield finish();
}
