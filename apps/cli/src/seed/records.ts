import { Readable } from 'node:stream';
import { findForbiddenKey } from '@contact-linker/contracts';
import { type Options, parse } from 'csv-parse';

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
const CSV_COLUMNS = ['id', 'email', 'telephone', 'phone', 'organization'] as const;
const CONTACT_COLUMNS = ['email', 'telephone', 'phone'] as const;

/**
 * Streams the records of a seed file in line order, holding only one chunk and one record at a time.
 *
 * CSV: a header row names the columns, in any order: `id` and at least one of `email`, `telephone`,
 * `phone` (optionally `organization`); other columns and blank lines are ignored. Fields may be
 * quoted (RFC 4180), quotes inside unquoted fields are kept as text, and cells are trimmed. A row
 * with another number of cells than the header, or broken quoting, is reported with its lines.
 *
 * NDJSON: one JSON object per line. Blank lines are skipped; a line that is not a JSON object, holds
 * a forbidden key (as the ingress refuses them), or is longer than `maxRecordBytes` is reported.
 */
export function readRecords(
  input: Chunks,
  format: SeedFormat,
  { onBytes, maxRecordBytes = 65_536 }: ReadRecordsOptions = {},
): AsyncGenerator<SourceRecord> {
  const file = lfChunks(input, onBytes);
  return format === 'csv' ? readCsv(file, maxRecordBytes) : readNdjson(file.chunks, maxRecordBytes);
}

interface CsvRow {
  line: number;
  lastLine: number;
  cells: string[];
}

/**
 * Line numbers are csv-parse's own: a record ends on its `lines`, and starts on the line after the
 * previous one ended plus the empty lines csv-parse skipped in between.
 *
 * csv-parse's first error is its last word. With these options it only reports broken quoting and
 * oversized records, and after either it does not get back in step: 7.0.3 leaves its parse loop
 * without keeping its place, then reports the same error with every chunk or, depending on where the
 * chunks split, emits fragments of the broken lines as records. So the rest of the file is reported
 * as not read, the same for every chunking, rather than queued from fragments or dropped silently.
 */
async function* readCsv(file: LfFile, maxRecordBytes: number): AsyncGenerator<SourceRecord> {
  /** Where csv-parse's last record ended, and how many empty lines it had skipped by then. */
  let reached = { line: 0, emptyLines: 0 };
  const startAfter = (emptyLines: number) => reached.line + 1 + emptyLines - reached.emptyLines;
  let failed: SourceRecord | undefined;
  const options: Options<CsvRow, string[]> = {
    bom: true,
    trim: true,
    relax_quotes: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: maxRecordBytes,
    // Both callbacks run synchronously in parse order, so `reached` follows the file.
    on_record: (cells, info) => {
      if (failed) return null;
      const row = { line: startAfter(info.empty_lines), lastLine: info.lines, cells };
      reached = { line: info.lines, emptyLines: info.empty_lines };
      return row;
    },
    on_skip: (error) => {
      if (!error || failed) return undefined;
      const reason = `CSV: ${error.message.replace(/ at line \d+/, '')}`; // the reject has the lines
      failed = {
        line: startAfter(Number(error.empty_lines)),
        lastLine: Number(error.lines),
        error: reason,
      };
      return undefined;
    },
  };
  // The non-`columns` overload of csv-parse's typings wants string[] records; `on_record` may return
  // any value at runtime (documented), which is what the parser then emits.
  const parser = parse(options as unknown as Options);
  const source = Readable.from(file.chunks);
  source.on('error', (error) => parser.destroy(error));
  source.pipe(parser);

  let header: Map<string, number> | undefined;
  let width = 0;
  // `on_skip` runs when csv-parse meets the error, which may be before the records it parsed ahead
  // of it are read here: the error waits in `failed` and comes after them.
  for await (const { line, lastLine, cells } of parser as AsyncIterable<CsvRow>) {
    if (!header) {
      header = csvHeader(cells, line);
      width = cells.length;
    } else if (cells.every((cell) => cell === '')) {
      // A row of blank cells is a blank line to the file's author.
    } else if (cells.length !== width) {
      yield { line, lastLine, error: `CSV: ${cells.length} cells where the header has ${width}` };
    } else {
      const fields: Record<string, string> = {};
      for (const [name, index] of header) if (cells[index] !== '') fields[name] = cells[index]!;
      yield { line, lastLine, fields };
    }
  }
  if (failed && !header) {
    throw new SeedFileError(`line ${failed.line}: cannot read the CSV header row`);
  }
  if (failed) yield failed;
  // Trailing blank lines are harmless.
  const from = (failed?.lastLine ?? reached.line) + 1;
  if (header && file.lastContentLine() >= from) {
    yield {
      line: from,
      lastLine: file.lastContentLine(),
      error: `CSV: not read: the parser did not recover from the error before line ${from}`,
    };
  }
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

async function* readNdjson(
  chunks: AsyncIterable<Buffer>,
  maxRecordBytes: number,
): AsyncGenerator<SourceRecord> {
  let line = 0;
  for await (const text of splitLines(chunks, maxRecordBytes)) {
    line += 1;
    const record =
      text === undefined
        ? { error: `line is longer than ${maxRecordBytes} bytes` }
        : jsonObject(line === 1 ? text.replace(/^\uFEFF/, '') : text);
    if (record) yield { line, lastLine: line, ...record };
  }
}

/** One NDJSON line's object, or why it is not one; undefined for a blank line. */
function jsonObject(
  text: string,
): { fields: Record<string, unknown> } | { error: string } | undefined {
  if (text.trim() === '') return;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `invalid JSON: ${(error as Error).message}` };
  }
  const forbidden = findForbiddenKey(value);
  if (forbidden !== undefined) return { error: `forbidden key ${forbidden}` };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: 'not a JSON object' };
  }
  return { fields: value as Record<string, unknown> };
}

/**
 * Splits LF-ended bytes into lines of text. A line longer than `maxBytes` comes out as undefined,
 * and its bytes are dropped as they arrive instead of being kept.
 */
async function* splitLines(
  chunks: AsyncIterable<Buffer>,
  maxBytes: number,
): AsyncGenerator<string | undefined> {
  let parts: Buffer[] = [];
  let size = 0;
  const add = (part: Buffer) => {
    size += part.length;
    if (size <= maxBytes) parts.push(part);
    else parts = [];
  };
  const take = () => {
    const text = size > maxBytes ? undefined : Buffer.concat(parts, size).toString('utf8');
    parts = [];
    size = 0;
    return text;
  };
  for await (const chunk of chunks) {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
      add(chunk.subarray(start, end));
      yield take();
      start = end + 1;
    }
    add(chunk.subarray(start));
  }
  if (size > 0) yield take();
}

interface LfFile {
  chunks: AsyncGenerator<Buffer>;
  /** The last line (so far) holding more than whitespace, counting lines as csv-parse does. */
  lastContentLine: () => number;
}

/**
 * The file's bytes with every CRLF made LF. Why: csv-parse counts each CR and each LF inside a
 * quoted field as a line break, so a CRLF there counts twice and every line number after it would be
 * one too high (csv-parse 7.0.3, `lib/api/index.js`). With LF line ends its count is the file's.
 * On the way it counts bytes, for progress, and notes the last line with content.
 */
function lfChunks(input: Chunks, onBytes?: (bytes: number) => void): LfFile {
  let bytes = 0;
  let line = 1;
  let lastContentLine = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    /** A CR that ended the previous chunk, held back until it is known whether an LF follows. */
    let heldCr = '';
    for await (const piece of input) {
      const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
      if (chunk.length === 0) continue;
      bytes += chunk.length;
      onBytes?.(bytes);
      // latin1 maps bytes to characters one to one, and a UTF-8 sequence never holds a CR or LF byte.
      const text = heldCr + chunk.toString('latin1');
      heldCr = text.endsWith('\r') ? '\r' : '';
      yield lf(heldCr ? text.slice(0, -1) : text);
    }
    if (heldCr) yield lf(heldCr);
  }
  function lf(text: string): Buffer {
    const lfText = text.replaceAll('\r\n', '\n');
    const lines = lfText.split(/[\r\n]/);
    lines.forEach((content, i) => {
      if (/[^ \t\f\v]/.test(content)) lastContentLine = line + i;
    });
    line += lines.length - 1;
    return Buffer.from(lfText, 'latin1');
  }
  return { chunks: chunks(), lastContentLine: () => lastContentLine };
}
