/**
 * Streaming readers for delimited text (CSV, TSV, any one-character delimiter) and JSON Lines.
 *
 * A reader walks a file in chunks (1 MiB by default) and yields batches of raw records, each with
 * the 1-based line where it starts and the byte offset just past its end: an importer that
 * records `offset` (with the next line number) can resume after a crash by seeking there.
 * Memory stays constant: one chunk plus the incomplete record at its end.
 *
 * Decoding is done once per chunk (ASCII and Latin-1 through `latin1`, UTF-8 through
 * `utf8` after a SIMD validity check); fields are substrings of the chunk text. Bad input never
 * stops the reader: a record that cannot be read (invalid UTF-8, an unterminated or misplaced
 * quote, a wrong number of fields, invalid JSON) comes back with an `error` naming the line,
 * and reading goes on with the next record. Only a file that is not text at all, is empty, or
 * is mostly unreadable fails as a whole (`DataFileError`).
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { isAscii, isUtf8 } from 'node:buffer';
import { extname } from 'node:path';

export type Format = 'csv' | 'tsv' | 'jsonl';
export type Encoding = 'utf-8' | 'latin1';

export const FORMATS: readonly Format[] = ['csv', 'tsv', 'jsonl'];

/** A whole file cannot be read: the message names the file (and line when there is one). */
export class DataFileError extends Error {
  readonly file: string;
  readonly code: string;
  readonly line?: number;
  constructor(file: string, code: string, message: string, line?: number) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${message}`);
    this.name = 'DataFileError';
    this.file = file;
    this.code = code;
    this.line = line;
  }
}

/** Why one record could not be read. */
export interface RecordError {
  /** INVALID_UTF8, UNTERMINATED_QUOTE, BAD_QUOTE, COLUMN_COUNT, INVALID_JSON. */
  code: string;
  message: string;
  /** The record's text as far as it could be recovered (for rejects files). */
  raw?: string;
}

export interface RawRecord {
  /** 1-based line number where the record starts. */
  line: number;
  /** Byte offset just past the record (its line terminator included): where a resumed read starts. */
  offset: number;
  /** Delimited formats: the record's fields (unquoted). */
  fields?: string[];
  /** JSON Lines: the parsed value of the line. */
  value?: unknown;
  /** Set when the record could not be read; `fields` / `value` are then absent. */
  error?: RecordError;
}

export interface ReaderOptions {
  /** Default: from the extension (.csv .tsv .tab .jsonl .ndjson .json), else sniffed from the content. */
  format?: Format;
  /** Field delimiter of delimited formats (one character). Default ',' for csv, tab for tsv. */
  delimiter?: string;
  /** Quote character; null disables quoting (every quote is data). Default '"'. */
  quote?: string | null;
  /** Whether the first record of a delimited file names the columns. Default true. */
  header?: boolean;
  /** Default 'utf-8' (invalid bytes are reported per record); 'latin1' accepts any byte. */
  encoding?: Encoding;
  /** Resume point: a record boundary from an earlier read (`RawRecord.offset`, next line). */
  start?: { offset: number; line: number };
  /** Expected fields per record of a headerless delimited file (default: the first record's). */
  columns?: number;
  /** Bytes read per chunk (default 1 MiB). */
  chunkSize?: number;
  /** A quoted field still open after this many bytes is reported and skipped (default 4 MiB). */
  maxRecordBytes?: number;
  /**
   * The file fails as a whole (NOT_DELIMITED) when more than this share of its first records are
   * unreadable: the sign of a wrong format or delimiter. Default 0.5; above 1 disables the check.
   */
  garbageShare?: number;
}

const DEFAULT_CHUNK = 1 << 20;
const DEFAULT_MAX_RECORD = 4 << 20;
const SNIFF_BYTES = 64 * 1024;
const GARBAGE_SAMPLE = 50;
const EMPTY = Buffer.alloc(0);
const NL = 10;
const CR = 13;

const MAGIC: [number[], string][] = [
  [[0x1f, 0x8b], 'a gzip archive; decompress it first'],
  [[0x50, 0x4b, 0x03, 0x04], 'a zip archive; extract it first'],
  [[0x42, 0x5a, 0x68], 'a bzip2 archive; decompress it first'],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a], 'an xz archive; decompress it first'],
  [[0x28, 0xb5, 0x2f, 0xfd], 'a zstd archive; decompress it first'],
  [[0x50, 0x41, 0x52, 0x31], 'a Parquet file; export it as CSV or JSON Lines'],
  [[0x53, 0x51, 0x4c, 0x69, 0x74, 0x65, 0x20, 0x66], 'a SQLite database, not a data file'],
  [[0x89, 0x50, 0x4e, 0x47], 'a PNG image'],
  [[0xff, 0xd8, 0xff], 'a JPEG image'],
  [[0x25, 0x50, 0x44, 0x46], 'a PDF document'],
];

function startsWith(buf: Buffer, bytes: number[]): boolean {
  if (buf.length < bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (buf[i] !== bytes[i]) return false;
  return true;
}

/** Names a delimiter for messages. */
export function delimiterName(d: string): string {
  return d === '\t' ? 'tab' : d === ',' ? 'comma' : d === ';' ? 'semicolon' : d === '|' ? "'|'" : `'${d}'`;
}

/** Format and delimiter from a file name and its first bytes (text). */
export function detectFormat(path: string, sample: string): { format: Format; delimiter?: string } {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return { format: 'csv', delimiter: sniffDelimiter(sample, ',') };
  if (ext === '.tsv' || ext === '.tab') return { format: 'tsv' };
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return { format: 'jsonl' };
  const first = sample.trimStart()[0];
  if (first === '{' || first === '[') return { format: 'jsonl' };
  const delimiter = sniffDelimiter(sample, ',');
  return delimiter === '\t' ? { format: 'tsv' } : { format: 'csv', delimiter };
}

/**
 * The delimiter among , tab | ; that appears the same (non-zero) number of times on most of the
 * first lines, preferring the most frequent. Falls back to `fallback`.
 */
export function sniffDelimiter(sample: string, fallback: string): string {
  const lines = sample.split('\n', 21).slice(0, 20).filter((l) => l.trim() !== '');
  if (lines.length > 1 && sample.length >= SNIFF_BYTES) lines.pop(); // possibly cut
  let best = fallback;
  let bestScore = 0;
  for (const d of [',', '\t', '|', ';']) {
    const counts = lines.map((l) => l.split(d).length - 1);
    if (counts.length === 0 || counts[0] === 0) continue;
    const same = counts.filter((c) => c === counts[0]).length / counts.length;
    const score = same * counts[0];
    if (same >= 0.8 && score > bestScore) {
      best = d;
      bestScore = score;
    }
  }
  return best;
}

/** Index of the first byte that breaks UTF-8 in buf[start, end), or -1. */
export function firstInvalidUtf8(buf: Uint8Array, start = 0, end = buf.length): number {
  let i = start;
  while (i < end) {
    const b = buf[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    if (i + need >= end) return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

function hex(b: number): string {
  return '0x' + b.toString(16).toUpperCase().padStart(2, '0');
}

/** Per-chunk decoding state: how char indices of the chunk text map back to file bytes. */
interface ChunkText {
  text: string;
  /** File offset of the chunk's first byte. */
  base: number;
  /** Byte length of the decoded part. */
  bytes: number;
  /** Whether char index == byte index (ASCII or Latin-1). */
  identity: boolean;
  /** Non-identity: byte index (in the chunk) of each newline, in order. */
  newlines?: Int32Array;
  /** Relative line index → message, for lines holding invalid UTF-8. */
  badLines?: Map<number, string>;
}

/**
 * Records read from one chunk, in columnar form (no per-record objects, no per-field strings
 * until asked for): record `i` starts at line `line[i]` and ends at byte `offset[i]`. A good
 * delimited record has `width` cells, cell `j` at `cell0[i] + j` spanning `text` from
 * `starts[k]` to `ends[k]` (or `unescaped.get(k)` for quoted fields with doubled quotes); a
 * JSON Lines record has `values[i]`. A record that could not be read has `errors.get(i)`.
 */
export class RecordBatch {
  length = 0;
  line: Float64Array;
  /** Line number just after the record (where the next one may start): resume with `offset`. */
  nextLine: Float64Array;
  offset: Float64Array;
  /** Delimited: index of the record's first cell, -1 for an unreadable record. */
  cell0: Int32Array;
  text = '';
  starts: Int32Array;
  ends: Int32Array;
  cells = 0;
  width = 0;
  unescaped: Map<number, string> | undefined;
  values: unknown[] | undefined;
  readonly errors = new Map<number, RecordError>();

  constructor(capacity: number, cellCapacity: number) {
    this.line = new Float64Array(capacity);
    this.nextLine = new Float64Array(capacity);
    this.offset = new Float64Array(capacity);
    this.cell0 = new Int32Array(capacity);
    this.starts = new Int32Array(cellCapacity);
    this.ends = new Int32Array(cellCapacity);
  }

  /** Field j of record i (a good delimited record). */
  field(i: number, j: number): string {
    const k = this.cell0[i] + j;
    if (this.unescaped !== undefined) {
      const u = this.unescaped.get(k);
      if (u !== undefined) return u;
    }
    return this.text.slice(this.starts[k], this.ends[k]);
  }

  /** All fields of record i, or undefined for JSON Lines and unreadable records. */
  fields(i: number): string[] | undefined {
    if (this.cell0[i] < 0 || this.values) return undefined;
    const out = new Array<string>(this.width);
    for (let j = 0; j < this.width; j++) out[j] = this.field(i, j);
    return out;
  }

  /** Record i as an object (convenient, slower). */
  record(i: number): RawRecord {
    const r: RawRecord = { line: this.line[i], offset: this.offset[i] };
    const err = this.errors.get(i);
    if (err) r.error = err;
    else if (this.values) r.value = this.values[i];
    else r.fields = this.fields(i);
    return r;
  }

  /** Trims the arrays to `length` (done before a batch is handed out). */
  seal(): this {
    this.line = this.line.subarray(0, this.length);
    this.nextLine = this.nextLine.subarray(0, this.length);
    this.offset = this.offset.subarray(0, this.length);
    this.cell0 = this.cell0.subarray(0, this.length);
    return this;
  }

  records(): RawRecord[] {
    const out: RawRecord[] = [];
    for (let i = 0; i < this.length; i++) out.push(this.record(i));
    return out;
  }

  // ---- building ----

  pushRecord(line: number, nextLine: number, offset: number, cell0: number): number {
    if (this.length === this.line.length) {
      const cap = this.length * 2 + 16;
      this.line = grow64(this.line, cap);
      this.nextLine = grow64(this.nextLine, cap);
      this.offset = grow64(this.offset, cap);
      const c = new Int32Array(cap);
      c.set(this.cell0);
      this.cell0 = c;
    }
    const i = this.length++;
    this.line[i] = line;
    this.nextLine[i] = nextLine;
    this.offset[i] = offset;
    this.cell0[i] = cell0;
    return i;
  }

  pushCell(start: number, end: number): void {
    if (this.cells === this.starts.length) {
      const cap = this.cells * 2 + 64;
      const s = new Int32Array(cap);
      s.set(this.starts);
      this.starts = s;
      const e = new Int32Array(cap);
      e.set(this.ends);
      this.ends = e;
    }
    this.starts[this.cells] = start;
    this.ends[this.cells++] = end;
  }
}

function grow64(a: Float64Array, cap: number): Float64Array {
  const b = new Float64Array(cap);
  b.set(a);
  return b;
}

/**
 * A reader over one file. `open` checks the file (exists, not empty, text, header) and fails
 * with a `DataFileError` that names the file; `batches()` then yields the records.
 */
export class RecordReader {
  readonly path: string;
  readonly format: Format;
  readonly delimiter: string;
  readonly quote: string | null;
  readonly encoding: Encoding;
  readonly hasHeader: boolean;
  /** Column names (delimited files with a header). */
  header: string[] | undefined;
  /** Where the first data record starts (after BOM and header). */
  dataStart: { offset: number; line: number } = { offset: 0, line: 1 };
  /** File size when opened: reading stops there even if the file grows meanwhile. */
  readonly size: number;
  readonly mtimeMs: number;
  private fh: FileHandle;
  private readonly chunkSize: number;
  private readonly maxRecordBytes: number;
  private readonly garbageShare: number;
  /** Fields per record (header's, given, or the first record's). */
  columns: number | undefined;
  private readonly start: { offset: number; line: number } | undefined;
  private readonly delimCode: number;
  private readonly quoteCode: number;
  private closed = false;

  private constructor(path: string, fh: FileHandle, size: number, mtimeMs: number, format: Format, opts: ReaderOptions & { delimiter: string }) {
    this.path = path;
    this.fh = fh;
    this.size = size;
    this.mtimeMs = mtimeMs;
    this.format = format;
    this.delimiter = opts.delimiter;
    this.quote = opts.quote === undefined ? '"' : opts.quote;
    this.encoding = opts.encoding ?? 'utf-8';
    this.hasHeader = format !== 'jsonl' && (opts.header ?? true);
    this.chunkSize = Math.max(16, opts.chunkSize ?? DEFAULT_CHUNK);
    this.maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD;
    this.garbageShare = opts.garbageShare ?? 0.5;
    this.columns = opts.columns;
    this.start = opts.start;
    this.delimCode = this.delimiter.charCodeAt(0);
    this.quoteCode = this.quote ? this.quote.charCodeAt(0) : -1;
  }

  static async open(path: string, opts: ReaderOptions = {}): Promise<RecordReader> {
    let st;
    try {
      st = await stat(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new DataFileError(path, 'NOT_FOUND', code === 'ENOENT' ? 'no such file' : `cannot read: ${(err as Error).message}`);
    }
    if (st.isDirectory()) throw new DataFileError(path, 'NOT_A_FILE', 'is a directory, expected a data file');
    if (opts.delimiter !== undefined && opts.delimiter.length !== 1) {
      throw new DataFileError(path, 'BAD_OPTION', `the delimiter must be one character, got '${opts.delimiter}'`);
    }
    if (opts.quote && opts.quote.length !== 1) {
      throw new DataFileError(path, 'BAD_OPTION', `the quote must be one character, got '${opts.quote}'`);
    }
    const fh = await open(path, 'r');
    try {
      const size = st.size;
      if (size === 0) throw new DataFileError(path, 'EMPTY_FILE', 'the file is empty (expected a header line and rows)');
      const sniff = Buffer.alloc(Math.min(size, SNIFF_BYTES));
      await fh.read(sniff, 0, sniff.length, 0);
      if (startsWith(sniff, [0xff, 0xfe]) || startsWith(sniff, [0xfe, 0xff])) {
        throw new DataFileError(path, 'UNSUPPORTED_ENCODING', 'the file is UTF-16 text (byte order mark); convert it to UTF-8');
      }
      for (const [magic, what] of MAGIC) {
        if (startsWith(sniff, magic)) throw new DataFileError(path, 'NOT_TEXT', `this is ${what}: expected CSV, TSV or JSON Lines text`);
      }
      const nul = sniff.indexOf(0);
      if (nul >= 0) {
        throw new DataFileError(path, 'NOT_TEXT', `binary data, not CSV, TSV or JSON Lines text (NUL byte at offset ${nul})`);
      }
      let controls = 0;
      for (let i = 0; i < sniff.length; i++) {
        const b = sniff[i];
        if (b < 32 && b !== 9 && b !== 10 && b !== 13 && b !== 12) controls++;
      }
      if (controls > 8 && controls > sniff.length / 100) {
        throw new DataFileError(path, 'NOT_TEXT', `binary data, not CSV, TSV or JSON Lines text (${controls} control bytes in the first ${sniff.length})`);
      }
      const bom = startsWith(sniff, [0xef, 0xbb, 0xbf]) ? 3 : 0;
      const sample = sniff.toString(opts.encoding === 'latin1' ? 'latin1' : 'utf8', bom);
      if (size <= SNIFF_BYTES && sample.trim() === '') {
        throw new DataFileError(path, 'EMPTY_FILE', 'the file holds only blank lines (expected a header line and rows)');
      }
      const detected = detectFormat(path, sample);
      const format = opts.format ?? detected.format;
      const delimiter = opts.delimiter ?? (format === 'tsv' ? '\t' : format === 'csv' ? (opts.format ? ',' : detected.delimiter ?? ',') : ',');
      if (format === 'jsonl' && /^\s*[^\s{[]/.test(sample)) {
        const firstLine = sample.trimStart().split('\n', 1)[0].slice(0, 60);
        throw new DataFileError(path, 'NOT_JSONL', `expected JSON Lines (one JSON object per line), but the first line is '${firstLine}'`, 1);
      }
      const reader = new RecordReader(path, fh, size, st.mtimeMs, format, { ...opts, delimiter });
      reader.dataStart = { offset: bom, line: 1 };
      if (reader.hasHeader) await reader.readHeader(bom);
      return reader;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  private async readHeader(bom: number): Promise<void> {
    const gen = this.scan(bom, 1, false, true);
    try {
      for await (const batch of gen) {
        if (batch.length === 0) continue;
        const err = batch.errors.get(0);
        if (err) throw new DataFileError(this.path, 'BAD_HEADER', `cannot read the header: ${err.message}`, batch.line[0]);
        const names: string[] = [];
        for (let k = 0; k < batch.cells; k++) {
          names.push((batch.unescaped?.get(k) ?? batch.text.slice(batch.starts[k], batch.ends[k])).trim());
        }
        this.header = names;
        this.dataStart = { offset: batch.offset[0], line: batch.nextLine[0] };
        this.columns ??= names.length;
        return;
      }
    } finally {
      await gen.return(undefined as never);
    }
    throw new DataFileError(this.path, 'EMPTY_FILE', 'the file holds only blank lines (expected a header line and rows)');
  }

  /** Batches of records from the resume point (or the first data record) to the end of the file. */
  batches(): AsyncGenerator<RecordBatch> {
    const from = this.start ?? this.dataStart;
    if (from.offset > this.size) {
      throw new DataFileError(this.path, 'BAD_RESUME', `cannot resume at byte ${from.offset}: the file has only ${this.size} bytes`);
    }
    const fresh = from.offset === this.dataStart.offset && from.line === this.dataStart.line;
    return this.scan(from.offset, from.line, fresh, false);
  }

  /** The same records as `batches()`, one object each (convenient, slower). */
  async *records(): AsyncGenerator<RawRecord> {
    for await (const b of this.batches()) for (let i = 0; i < b.length; i++) yield b.record(i);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }

  // ---- chunk loop -------------------------------------------------------------------------

  private async *scan(offset: number, line: number, checkGarbage: boolean, headerOnly: boolean): AsyncGenerator<RecordBatch> {
    let pos = offset;
    let pending: Buffer = EMPTY;
    let base = offset;
    let sampled = 0;
    let bad = 0;
    let firstBad: RawRecord | undefined;
    let held: RecordBatch[] = [];
    const end = this.size;
    while (pos < end || pending.length > 0) {
      const want = Math.min(this.chunkSize, end - pos);
      let data: Buffer;
      if (want > 0) {
        const chunk = Buffer.allocUnsafe(want);
        let got = 0;
        while (got < want) {
          const { bytesRead } = await this.fh.read(chunk, got, want - got, pos + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        pos += got;
        if (got < want) pos = end; // the file shrank: what we have is the end
        data = pending.length ? Buffer.concat([pending, chunk.subarray(0, got)]) : chunk.subarray(0, got);
      } else data = pending;
      const eof = pos >= end;
      const cut = eof ? data.length : data.lastIndexOf(NL) + 1;
      if (cut === 0) {
        pending = data;
        const limit = this.format === 'jsonl' ? this.maxRecordBytes : this.maxRecordBytes * 4;
        if (pending.length > limit) {
          throw new DataFileError(this.path, 'RECORD_TOO_LARGE', `a line longer than ${limit} bytes (no line break found)`, line);
        }
        continue;
      }
      const ct = this.decode(data, cut, base);
      const batch = new RecordBatch(1024, this.format === 'jsonl' ? 0 : 1024 * Math.max(1, this.columns ?? 8));
      batch.text = ct.text;
      batch.width = this.columns ?? 0;
      let consumedChars: number;
      let nl: number;
      if (this.format === 'jsonl') [consumedChars, nl] = this.parseJsonl(ct, line, batch);
      else {
        [consumedChars, nl] = this.parseDelimited(ct, line, batch, eof, -1, headerOnly, 0, 0);
        if (consumedChars < ct.text.length && !(headerOnly && batch.length)) {
          const tailBytes = cut - this.byteIndex(ct, consumedChars, nl);
          if (tailBytes + (data.length - cut) > this.maxRecordBytes) {
            // An open quote that never closes: report its first line and go on after it.
            [consumedChars, nl] = this.parseDelimited(ct, line, batch, eof, consumedChars, headerOnly, consumedChars, nl);
          }
        }
        batch.width = this.columns ?? 0;
      }
      const consumedBytes = this.byteIndex(ct, consumedChars, nl);
      batch.seal();
      line += nl;
      pending = data.subarray(consumedBytes);
      if (eof && pending.length > 0 && consumedBytes === 0) {
        throw new DataFileError(this.path, 'INTERNAL', 'the reader made no progress', line);
      }
      base += consumedBytes;
      if (headerOnly && batch.length) {
        yield batch;
        return;
      }
      if (batch.length === 0) continue;
      if (checkGarbage) {
        for (let i = 0; i < batch.length && sampled < GARBAGE_SAMPLE; i++) {
          sampled++;
          const err = batch.errors.get(i);
          if (err) {
            bad++;
            firstBad ??= { line: batch.line[i], offset: batch.offset[i], error: err };
          }
        }
        held.push(batch);
        if (sampled < GARBAGE_SAMPLE && !(eof && pending.length === 0)) continue;
        this.checkGarbage(sampled, bad, firstBad);
        checkGarbage = false;
        for (const b of held) yield b;
        held = [];
        continue;
      }
      yield batch;
    }
    if (held.length) {
      this.checkGarbage(sampled, bad, firstBad);
      for (const b of held) yield b;
    }
  }

  private checkGarbage(sampled: number, bad: number, firstBad: RawRecord | undefined): void {
    if (sampled >= 3 && this.garbageShare <= 1 && bad > sampled * this.garbageShare) {
      const what = this.format === 'jsonl' ? 'JSON Lines' : `${this.format.toUpperCase()} (${delimiterName(this.delimiter)}-separated)`;
      throw new DataFileError(
        this.path,
        'NOT_DELIMITED',
        `does not look like ${what}: ${bad} of the first ${sampled} records are unreadable ` +
          `(line ${firstBad!.line}: ${firstBad!.error!.message}); check --format, the delimiter and --encoding`,
      );
    }
  }

  /** Decodes data[0, cut) as one string and records how to map char indices back to bytes. */
  private decode(data: Buffer, cut: number, base: number): ChunkText {
    const part = data.subarray(0, cut);
    if (this.encoding === 'latin1' || isAscii(part)) {
      return { text: part.toString('latin1'), base, bytes: cut, identity: true };
    }
    const ct: ChunkText = { text: '', base, bytes: cut, identity: false };
    // The k-th '\n' of the text is the k-th 0x0A byte: it is never part of a multi-byte
    // sequence, and replacement decoding never swallows it.
    let count = 0;
    for (let i = part.indexOf(NL); i >= 0; i = part.indexOf(NL, i + 1)) count++;
    const nls = new Int32Array(count);
    count = 0;
    for (let i = part.indexOf(NL); i >= 0; i = part.indexOf(NL, i + 1)) nls[count++] = i;
    ct.newlines = nls;
    if (!isUtf8(part)) {
      const badLines = new Map<number, string>();
      let lineStart = 0;
      for (let k = 0; k <= count; k++) {
        const lineEnd = k < count ? nls[k] : cut;
        const at = firstInvalidUtf8(part, lineStart, lineEnd);
        if (at >= 0) {
          badLines.set(k, `byte ${hex(part[at])} at column ${at - lineStart + 1} is not valid UTF-8 (for Latin-1 text use --encoding latin1)`);
        }
        lineStart = lineEnd + 1;
      }
      ct.badLines = badLines;
    }
    ct.text = part.toString('utf8');
    return ct;
  }

  /** Byte index (in the chunk) of a char index that is 0, the text's end or just after its nl-th newline. */
  private byteIndex(ct: ChunkText, charIdx: number, nl: number): number {
    if (ct.identity) return charIdx;
    if (charIdx >= ct.text.length) return ct.bytes;
    if (nl === 0) return 0;
    return ct.newlines![nl - 1] + 1;
  }

  private badRange(ct: ChunkText, fromRel: number, toRel: number, line0: number): string | undefined {
    if (!ct.badLines) return undefined;
    for (let k = fromRel; k <= toRel; k++) {
      const m = ct.badLines.get(k);
      if (m !== undefined) return k === fromRel ? m : `on line ${line0 + k}: ${m}`;
    }
    return undefined;
  }

  // ---- JSON Lines -------------------------------------------------------------------------

  private parseJsonl(ct: ChunkText, line: number, batch: RecordBatch): [number, number] {
    const s = ct.text;
    const n = s.length;
    const values: unknown[] = [];
    batch.values = values;
    let pos = 0;
    let nl = 0;
    while (pos < n) {
      let e = s.indexOf('\n', pos);
      const hasNl = e >= 0;
      if (!hasNl) e = n;
      const next = hasNl ? e + 1 : n;
      const rel = nl;
      if (hasNl) nl++;
      let lineEnd = e;
      if (lineEnd > pos && s.charCodeAt(lineEnd - 1) === CR) lineEnd--;
      const text = s.slice(pos, lineEnd);
      pos = next;
      if (text.trim() === '') continue;
      const offset = ct.base + this.byteIndex(ct, next, nl);
      const i = batch.pushRecord(line + rel, line + nl, offset, 0);
      const badUtf8 = ct.badLines?.get(rel);
      if (badUtf8) {
        batch.cell0[i] = -1;
        batch.errors.set(i, { code: 'INVALID_UTF8', message: badUtf8, raw: text });
        values.push(undefined);
        continue;
      }
      try {
        values.push(JSON.parse(text) as unknown);
      } catch (err) {
        const msg = (err as Error).message.replace(/\s+/g, ' ');
        batch.cell0[i] = -1;
        batch.errors.set(i, { code: 'INVALID_JSON', message: `not valid JSON (${msg})`, raw: text });
        values.push(undefined);
      }
    }
    return [pos, nl];
  }

  // ---- delimited ----------------------------------------------------------------------------

  /**
   * Parses records from char `from` (a record start; `nlFrom` newlines into the chunk, whose
   * first line is `line0`). Returns [chars consumed, newlines consumed]: the consumed part ends
   * at a record boundary; what is left is one incomplete record (an open quoted field) for the
   * next chunk to complete. At EOF, or for the record starting at `forceAt`, an open quote is
   * reported as an error on its first line and parsing resumes on the next line.
   */
  private parseDelimited(
    ct: ChunkText,
    line0: number,
    batch: RecordBatch,
    eof: boolean,
    forceAt: number,
    headerOnly: boolean,
    from: number,
    nlFrom: number,
  ): [number, number] {
    const s = ct.text;
    const n = s.length;
    const D = this.delimCode;
    const Q = this.quoteCode;
    let pos = from;
    let nl = nlFrom;
    while (pos < n) {
      const c0 = s.charCodeAt(pos);
      // Blank line (also CRLF): skipped.
      if (c0 === NL) {
        pos++;
        nl++;
        continue;
      }
      if (c0 === CR && pos + 1 < n && s.charCodeAt(pos + 1) === NL) {
        pos += 2;
        nl++;
        continue;
      }
      const recStart = pos;
      const recNl = nl;
      const cellBase = batch.cells;
      let error: RecordError | undefined;
      let incomplete = false;
      for (;;) {
        if (pos < n && s.charCodeAt(pos) === Q) {
          // quoted field
          let p = pos + 1;
          let seg = p;
          let value: string | undefined;
          let closed = false;
          let inner = 0; // newlines inside the quotes
          for (;;) {
            let q = p;
            while (q < n) {
              const c = s.charCodeAt(q);
              if (c === Q) break;
              if (c === NL) inner++;
              q++;
            }
            if (q >= n) break;
            if (q + 1 < n && s.charCodeAt(q + 1) === Q) {
              value = (value ?? '') + s.slice(seg, q + 1);
              p = q + 2;
              seg = p;
              continue;
            }
            nl += inner;
            if (value !== undefined) {
              value += s.slice(seg, q);
              (batch.unescaped ??= new Map()).set(batch.cells, value);
            }
            batch.pushCell(pos + 1, q);
            pos = q + 1;
            closed = true;
            break;
          }
          if (!closed) {
            incomplete = true;
            break;
          }
          if (pos >= n) break; // EOF right after the closing quote
          const c = s.charCodeAt(pos);
          if (c === D) {
            pos++;
            continue;
          }
          if (c === NL) {
            pos++;
            nl++;
            break;
          }
          if (c === CR && pos + 1 >= n) {
            pos++;
            break;
          }
          if (c === CR && s.charCodeAt(pos + 1) === NL) {
            pos += 2;
            nl++;
            break;
          }
          // Garbage after a closing quote: the record is unreadable up to its line end.
          error = {
            code: 'BAD_QUOTE',
            message: `field ${batch.cells - cellBase}: unexpected ${JSON.stringify(s[pos])} after the closing quote (expected ${delimiterName(this.delimiter)} or end of line)`,
          };
          const e = s.indexOf('\n', pos);
          pos = e < 0 ? n : e + 1;
          if (e >= 0) nl++;
          break;
        }
        // unquoted field: up to the next delimiter or newline
        let p = pos;
        let c = 0;
        while (p < n) {
          c = s.charCodeAt(p);
          if (c === D || c === NL) break;
          p++;
        }
        if (p < n && c === D) {
          batch.pushCell(pos, p);
          pos = p + 1;
          continue;
        }
        let e = p;
        if (e > pos && s.charCodeAt(e - 1) === CR) e--;
        batch.pushCell(pos, e);
        if (p >= n) pos = n; // end of text without newline: only at EOF
        else {
          pos = p + 1;
          nl++;
        }
        break;
      }
      const lineNo = line0 + recNl;
      if (incomplete) {
        batch.cells = cellBase;
        if (batch.unescaped) for (const k of batch.unescaped.keys()) if (k >= cellBase) batch.unescaped.delete(k);
        if (!eof && recStart !== forceAt) return [recStart, recNl];
        // Report the record's first line and resume on the next one.
        const e = s.indexOf('\n', recStart);
        nl = recNl + (e < 0 ? 0 : 1);
        pos = e < 0 ? n : e + 1;
        const raw = s.slice(recStart, e < 0 ? n : e).replace(/\r$/, '');
        const why = eof ? 'the file ends' : `${this.maxRecordBytes} bytes`;
        const i = batch.pushRecord(lineNo, line0 + nl, ct.base + this.byteIndex(ct, pos, nl), -1);
        batch.errors.set(i, {
          code: 'UNTERMINATED_QUOTE',
          message: `a quoted field is not closed before ${why} (unbalanced quote? the line is skipped)`,
          raw,
        });
        if (headerOnly) return [pos, nl];
        continue;
      }
      const offset = ct.base + this.byteIndex(ct, pos, nl);
      const count = batch.cells - cellBase;
      if (!error && ct.badLines) {
        const m = this.badRange(ct, recNl, Math.max(recNl, nl - 1), line0);
        if (m) error = { code: 'INVALID_UTF8', message: m };
      }
      if (!error && !headerOnly) {
        if (this.columns === undefined) this.columns = count;
        else if (count > this.columns && emptyCells(batch, cellBase + this.columns, batch.cells)) {
          batch.cells = cellBase + this.columns; // trailing delimiters: extra empty fields are dropped
        } else if (count !== this.columns) {
          error = {
            code: 'COLUMN_COUNT',
            message: `expected ${this.columns} fields${this.header ? ' (as in the header)' : ''}, got ${count} (${delimiterName(this.delimiter)}-separated)`,
          };
        }
      }
      if (error) {
        batch.cells = cellBase;
        if (batch.unescaped) for (const k of batch.unescaped.keys()) if (k >= cellBase) batch.unescaped.delete(k);
        let e = pos;
        if (e > recStart && s.charCodeAt(e - 1) === NL) e--;
        if (e > recStart && s.charCodeAt(e - 1) === CR) e--;
        error.raw = s.slice(recStart, e);
        const i = batch.pushRecord(lineNo, line0 + nl, offset, -1);
        batch.errors.set(i, error);
      } else batch.pushRecord(lineNo, line0 + nl, offset, cellBase);
      if (headerOnly) return [pos, nl];
    }
    return [pos, nl];
  }
}

function emptyCells(b: RecordBatch, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (b.starts[k] !== b.ends[k]) return false;
  return true;
}

/** Quotes a field for CSV output when it needs it. */
export function csvField(v: string, delimiter = ','): string {
  if (v.includes('"') || v.includes(delimiter) || v.includes('\n') || v.includes('\r')) return `"${v.replace(/"/g, '""')}"`;
  return v;
}

/** Reads every record of a (small) file: a convenience for tests and tools. */
export async function readAll(path: string, opts: ReaderOptions = {}): Promise<{ header?: string[]; records: RawRecord[] }> {
  const reader = await RecordReader.open(path, opts);
  try {
    const records: RawRecord[] = [];
    for await (const b of reader.batches()) records.push(...b.records());
    return { header: reader.header, records };
  } finally {
    await reader.close();
  }
}
