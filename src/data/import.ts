/**
 * Importing users, items and events from CSV, TSV and JSON Lines files into a store.
 *
 * The file streams through in constant memory: reader (parse.ts) → mapping (mapping.ts) →
 * batches of entities written with `store.ingest`, each batch together with a checkpoint (how
 * far into the file it got) in one transaction. A run killed at any moment (kill -9 included)
 * and started again continues after the last committed batch: every row lands exactly once.
 * A finished import leaves its checkpoint at the end of the file, so running it again is a
 * no-op ('already imported'), and an appended file imports only its new rows. `force`
 * starts over.
 *
 * Bad rows never stop an import: each is counted by error code, the first ones are kept with
 * line, field and reason, and all are written (JSON Lines, with the record's text) to the
 * rejects file when one is asked for. Rejects are written before the batch's commit and the
 * file is cut back to the checkpoint's length on resume, so it too holds each bad row once.
 */
import { createHash } from 'node:crypto';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import type { Worker } from 'node:worker_threads';
import { resolve } from 'node:path';
import type { EntityKind, Event, Item, User } from './model.js';
import { compileMapping, MappingError, type Mapper, type MappedFieldError, type MappingSpec, type FieldSource } from './mapping.js';
import { csvField, DataFileError, RecordReader, type Encoding, type Format, type RecordBatch } from './parse.js';
import { presetFile, type FilePreset } from './presets.js';
import { startImportWorker, type RejectedRow, type WorkerMessage } from './import-worker.js';
import { decodeEvent, decodeEvents, type EventColumns } from './event-columns.js';
import { availableParallelism } from 'node:os';
import { isBulkLoadable, type BatchResult, type EntryError, type Store } from '../store/types.js';

export interface SourceOptions {
  path: string;
  kind: EntityKind;
  /** Default: the preset's, else from the extension / content. */
  format?: Format;
  delimiter?: string;
  quote?: string | null;
  header?: boolean;
  encoding?: Encoding;
  /** A preset name (presets.ts): layout and mapping of a known dataset. */
  preset?: string;
  /** Mapping; its fields override the preset's (null removes one). */
  mapping?: MappingSpec;
  /** Refuse event types outside the built-in list and `customEventTypes`. */
  strictTypes?: boolean;
  customEventTypes?: string[];
  /** Resume point (a record boundary from an earlier read). */
  start?: { offset: number; line: number };
  /** Reader tuning (tests). */
  chunkSize?: number;
}

export type EntityOf<K extends EntityKind> = K extends 'events' ? Event : K extends 'items' ? Item : User;

export interface Source<K extends EntityKind = EntityKind> {
  reader: RecordReader;
  mapper: Mapper<EntityOf<K>>;
  /** The mapping in words ("userId ← column user_id"). */
  mapping: string[];
}

/** Merges a preset's mapping with the user's (the user's fields win; null removes a field). */
export function mergeMapping(base: MappingSpec | undefined, over: MappingSpec | undefined): MappingSpec | undefined {
  if (!base) return over;
  if (!over) return base;
  const fields: Record<string, FieldSource> = { ...(base.fields ?? {}) };
  for (const [k, v] of Object.entries(over.fields ?? {})) fields[k] = v;
  return {
    fields,
    auto: over.auto ?? base.auto,
    rest: over.rest ?? base.rest,
    empty: [...(base.empty ?? []), ...(over.empty ?? [])],
  };
}

/** Opens a file and compiles its mapping: the shared front of import and validate. */
export async function openSource<K extends EntityKind>(opts: SourceOptions & { kind: K }): Promise<Source<K>> {
  let preset: FilePreset | undefined;
  try {
    preset = opts.preset ? presetFile(opts.preset, opts.kind) : undefined;
  } catch (err) {
    throw new MappingError(`${opts.path}: ${(err as Error).message}`);
  }
  const reader = await RecordReader.open(opts.path, {
    format: opts.format ?? preset?.format,
    delimiter: opts.delimiter ?? preset?.delimiter,
    quote: opts.quote !== undefined ? opts.quote : preset?.quote,
    header: opts.header ?? preset?.header,
    encoding: opts.encoding ?? preset?.encoding,
    start: opts.start,
    chunkSize: opts.chunkSize,
  });
  try {
    const spec = mergeMapping(preset?.mapping, opts.mapping);
    const mapper = compileMapping(
      opts.kind,
      spec,
      { format: reader.format === 'jsonl' ? 'jsonl' : 'delimited', header: reader.header, columns: reader.columns ?? (await peekColumns(reader)) },
      { strictTypes: opts.strictTypes, customEventTypes: opts.customEventTypes, file: opts.path },
    );
    return { reader, mapper: mapper as Mapper<EntityOf<K>>, mapping: mapper.describe() };
  } catch (err) {
    await reader.close();
    throw err;
  }
}

/** Fields per record of a headerless delimited file (from its first readable record). */
async function peekColumns(reader: RecordReader): Promise<number | undefined> {
  if (reader.format === 'jsonl' || reader.header) return undefined;
  const probe = await RecordReader.open(reader.path, {
    format: reader.format,
    delimiter: reader.delimiter,
    quote: reader.quote,
    header: false,
    encoding: reader.encoding,
    chunkSize: 64 * 1024,
    garbageShare: 2,
  });
  try {
    for await (const b of probe.batches()) {
      for (let i = 0; i < b.length; i++) if (!b.errors.has(i)) return b.width;
    }
  } finally {
    await probe.close();
  }
  return undefined;
}

// ---- import -----------------------------------------------------------------------------------

export interface ImportOptions extends Omit<SourceOptions, 'start'> {
  /** Entities per transaction (default 20,000 events, 5,000 users or items). */
  batchSize?: number;
  /** Write every rejected row here (JSON Lines: file, line, errors, record). */
  rejectsPath?: string;
  /** Continue a previous run of the same file (default true). False or `force`: start over. */
  resume?: boolean;
  /** Import again from the start even when the file was imported already. */
  force?: boolean;
  /**
   * Load events with the store's bulk mode (indexes rebuilt at the end) when it has one:
   * true, false, or 'auto' (default: for files of more than ~500K rows into a smaller store).
   */
  bulk?: boolean | 'auto';
  /** How many errors to keep in the report (default 10). All are counted. */
  maxErrors?: number;
  onProgress?: (p: ImportProgress) => void;
  /** Stops the import after the current batch (the checkpoint makes it resumable). */
  signal?: AbortSignal;
  /**
   * Read, parse and map events on a worker thread while this thread writes them (import-worker.ts):
   * true, false, or 'auto' (default: event files of more than 8 MiB left to read, on a machine
   * with more than one core). Users and items are always read on this thread.
   */
  threads?: boolean | 'auto';
}

/** Below this many bytes left to read, starting a worker costs more than it saves. */
const WORKER_MIN_BYTES = 8 << 20;

export interface ImportProgress {
  file: string;
  kind: EntityKind;
  /** Bytes of the file read so far (from its start, also when resumed). */
  bytes: number;
  /** Where this run started (bytes). */
  startBytes: number;
  totalBytes: number;
  /** Rows read in this run. */
  rows: number;
}

export interface ImportErrorEntry {
  line: number;
  field?: string;
  code: string;
  message: string;
}

export interface ImportReport {
  file: string;
  kind: EntityKind;
  format: Format;
  /** Rows read (whole file, earlier runs of a resumed import included). */
  rows: number;
  /** Rows written (inserted or updated). */
  accepted: number;
  /** Rows refused (parse or mapping or store errors). */
  rejected: number;
  /** Events skipped because an event with the same id was already stored. */
  duplicates: number;
  /** Count of errors per code (a row may have several). */
  errorsByCode: Record<string, number>;
  firstErrors: ImportErrorEntry[];
  /** Duration and speed of this run. */
  seconds: number;
  rowsPerSecond: number;
  /** Where this run started when it continued an earlier one. */
  resumedFrom?: { line: number; offset: number };
  /** The file had been imported completely before: nothing was done. */
  alreadyImported?: boolean;
  /** Stopped by the signal before the end (resumable). */
  interrupted?: boolean;
  mapping: string[];
  warnings: string[];
  rejectsPath?: string;
}

interface CheckpointValue {
  v: 1;
  kind: EntityKind;
  offset: number;
  line: number;
  size: number;
  mtimeMs: number;
  /** sha1 of the file's first min(offset, 64 KiB) bytes and of the 4 KiB before `offset`. */
  head: string;
  tail: string;
  mapping: string;
  done: boolean;
  rows: number;
  accepted: number;
  rejected: number;
  duplicates: number;
  errorsByCode: Record<string, number>;
  firstErrors: ImportErrorEntry[];
  rejectsBytes: number;
}

const HEAD_BYTES = 64 * 1024;
const TAIL_BYTES = 4096;

/** Checkpoint key of an import: one per file path and kind. */
export function importCheckpointKey(path: string, kind: EntityKind): string {
  return `import:${kind}:${resolve(path)}`;
}

async function hashRange(fh: FileHandle, start: number, end: number): Promise<string> {
  const len = Math.max(0, end - start);
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return createHash('sha1').update(buf.subarray(0, got)).digest('hex');
}

async function fingerprint(path: string, offset: number): Promise<{ head: string; tail: string }> {
  const fh = await openFile(path, 'r');
  try {
    return {
      head: await hashRange(fh, 0, Math.min(offset, HEAD_BYTES)),
      tail: await hashRange(fh, Math.max(0, offset - TAIL_BYTES), offset),
    };
  } finally {
    await fh.close();
  }
}

/** The text of record i of a batch, as written to the rejects file. */
export function recordText(batch: RecordBatch, i: number, delimiter: string): string {
  const err = batch.errors.get(i);
  if (err?.raw !== undefined) return err.raw;
  if (batch.values) return JSON.stringify(batch.values[i]);
  const f = batch.fields(i);
  return f ? f.map((x) => csvField(x, delimiter)).join(delimiter) : '';
}

/**
 * Imports one file into the store. Throws `DataFileError` / `MappingError` when the file cannot
 * be imported at all (missing, empty, not text, a mapping that does not fit, changed since an
 * unfinished import); every row-level problem is reported in the returned `ImportReport`.
 */
export async function importFile(store: Store, opts: ImportOptions): Promise<ImportReport> {
  const t0 = performance.now();
  const path = resolve(opts.path);
  const kind = opts.kind;
  const key = importCheckpointKey(path, kind);
  const maxErrors = opts.maxErrors ?? 10;
  const batchSize = Math.max(1, opts.batchSize ?? (kind === 'events' ? 20_000 : 5_000));
  const startOver = opts.force || opts.resume === false;

  // Where to start: a previous run's checkpoint, if the file is still the same up to it.
  let prev: CheckpointValue | undefined;
  const raw = await store.getCheckpoint(key);
  if (raw !== undefined && !startOver) {
    try {
      prev = JSON.parse(raw) as CheckpointValue;
    } catch {
      prev = undefined;
    }
  }

  // Open the source first: a bad file or mapping fails before anything else happens.
  const source = await openSource({ ...opts, path, start: undefined });
  const mappingId = createHash('sha1').update(JSON.stringify(source.mapping)).digest('hex').slice(0, 12);
  let reader = source.reader;
  const report: ImportReport = {
    file: opts.path,
    kind,
    format: reader.format,
    rows: 0,
    accepted: 0,
    rejected: 0,
    duplicates: 0,
    errorsByCode: {},
    firstErrors: [],
    seconds: 0,
    rowsPerSecond: 0,
    mapping: source.mapping,
    warnings: [],
    rejectsPath: opts.rejectsPath,
  };
  let start = reader.dataStart;
  let rejectsBytes = 0;
  try {
    if (prev) {
      if (prev.offset > reader.size) {
        throw new DataFileError(opts.path, 'CHANGED', `the file is shorter than when it was imported up to line ${prev.line} (byte ${prev.offset}); use --force to import it again from the start`);
      }
      const fp = await fingerprint(path, prev.offset);
      if (fp.head !== prev.head || fp.tail !== prev.tail) {
        throw new DataFileError(
          opts.path,
          'CHANGED',
          `the file changed since it was imported up to line ${prev.line}; use --force to import it again from the start ` +
            '(events without an id would then be stored twice)',
        );
      }
      if (prev.mapping !== mappingId && prev.offset < reader.size) {
        throw new DataFileError(
          opts.path,
          'MAPPING_CHANGED',
          `an unfinished import of this file (up to line ${prev.line}) used another mapping; run it again with the same options, or use --force to start over`,
        );
      }
      Object.assign(report, {
        rows: prev.rows,
        accepted: prev.accepted,
        rejected: prev.rejected,
        duplicates: prev.duplicates,
        errorsByCode: { ...prev.errorsByCode },
        firstErrors: [...prev.firstErrors],
      });
      rejectsBytes = prev.rejectsBytes ?? 0;
      if (prev.offset >= reader.size) {
        report.alreadyImported = true;
        report.seconds = (performance.now() - t0) / 1000;
        return report;
      }
      start = { offset: prev.offset, line: prev.line };
      report.resumedFrom = { ...start };
      await reader.close();
      reader = (await openSource({ ...opts, path, start })).reader;
    }
    return await runImport(store, opts, reader, source.mapper, {
      key,
      report,
      start,
      rejectsBytes,
      resumed: prev !== undefined,
      batchSize,
      maxErrors,
      mappingId,
      t0,
    });
  } finally {
    await reader.close();
  }
}

interface RunState {
  key: string;
  report: ImportReport;
  start: { offset: number; line: number };
  rejectsBytes: number;
  resumed: boolean;
  batchSize: number;
  maxErrors: number;
  mappingId: string;
  t0: number;
}

async function runImport(
  store: Store,
  opts: ImportOptions,
  reader: RecordReader,
  mapper: Mapper<Event | Item | User>,
  st: RunState,
): Promise<ImportReport> {
  const { report, key, batchSize, maxErrors } = st;
  const kind = opts.kind;
  const path = resolve(opts.path);
  const jsonl = reader.format === 'jsonl';
  let rowsThisRun = 0;

  // Rejects file: cut back to what the last committed batch had written.
  let rejects: FileHandle | undefined;
  let rejectsBytes = st.resumed ? st.rejectsBytes : 0;
  if (opts.rejectsPath) {
    rejects = await openFile(opts.rejectsPath, st.resumed ? 'a+' : 'w');
    if (st.resumed) {
      const size = (await rejects.stat()).size;
      if (size > rejectsBytes) await rejects.truncate(rejectsBytes);
      else rejectsBytes = size;
    }
  }
  let rejectLines: string[] = [];

  const addError = (line: number, e: { field?: string; code: string; message: string }) => {
    report.errorsByCode[e.code] = (report.errorsByCode[e.code] ?? 0) + 1;
    if (report.firstErrors.length < maxErrors) {
      const entry: ImportErrorEntry = { line, code: e.code, message: e.message };
      if (e.field) entry.field = e.field;
      report.firstErrors.push(entry);
    }
  };
  const reject = (line: number, errors: { field?: string; code: string; message: string }[], text: () => string) => {
    report.rejected++;
    for (const e of errors) addError(line, e);
    if (rejects) {
      rejectLines.push(
        JSON.stringify({ file: opts.path, line, errors: errors.map((e) => ({ field: e.field || undefined, code: e.code, message: e.message })), record: text() }),
      );
    }
  };

  let bulk = false;
  if (kind === 'events' && isBulkLoadable(store) && opts.bulk !== false) {
    if (opts.bulk === true) bulk = true;
    else {
      const estRows = (reader.size - st.start.offset) / 60;
      if (estRows >= 500_000) {
        const c = await store.counts();
        bulk = c.events <= estRows;
      }
    }
  }

  let pending: (Event | Item | User)[] = [];
  let pendingLines: number[] = [];
  let columnLines: Float64Array | undefined;
  // Worker path: the batch as columns (pending stays empty).
  let pendingColumns: EventColumns | undefined;
  let pendingTexts: (() => string)[] | undefined = rejects ? [] : undefined;
  let lastOffset = st.start.offset;
  let lastLine = st.start.line;
  const totalBytes = reader.size;
  const progress = opts.onProgress;

  const flush = async (done: boolean) => {
    if (rejects && rejectLines.length) {
      const text = rejectLines.join('\n') + '\n';
      const { bytesWritten } = await rejects.write(text, rejectsBytes);
      rejectsBytes += bytesWritten;
      rejectLines = [];
    }
    const fp = await fingerprint(path, lastOffset);
    const cp: CheckpointValue = {
      v: 1,
      kind,
      offset: lastOffset,
      line: lastLine,
      size: totalBytes,
      mtimeMs: reader.mtimeMs,
      head: fp.head,
      tail: fp.tail,
      mapping: st.mappingId,
      done,
      rows: report.rows,
      accepted: report.accepted,
      rejected: report.rejected,
      duplicates: report.duplicates,
      errorsByCode: report.errorsByCode,
      firstErrors: report.firstErrors,
      rejectsBytes,
    };
    const batch = pending;
    const columns = pendingColumns;
    pendingColumns = undefined;
    const lines: ArrayLike<number> = columnLines ?? pendingLines;
    columnLines = undefined;
    const texts = pendingTexts;
    pending = [];
    pendingLines = [];
    pendingTexts = rejects ? [] : undefined;
    // The batch and the checkpoint (offset, line) commit together: that is the exactly-once
    // guarantee. The store's outcome (accepted, duplicates, the rare store-level rejects) is
    // known only after the write; it is folded into the checkpoint by a second small write,
    // so only these counters of one batch can be lost to a crash in between, never rows.
    const checkpoint = { key, value: JSON.stringify(cp) };
    let r: BatchResult;
    if (columns) {
      r = store.ingestEventColumns
        ? await store.ingestEventColumns(columns, checkpoint)
        : (await store.ingest({ events: decodeEvents(columns), checkpoint })).events;
    } else {
      const payload = kind === 'events' ? { events: batch as Event[] } : kind === 'items' ? { items: batch as Item[] } : { users: batch as User[] };
      const res = await store.ingest({ ...payload, checkpoint });
      r = kind === 'events' ? res.events : kind === 'items' ? res.items : res.users;
    }
    report.accepted += r.accepted;
    report.duplicates += r.duplicates;
    if (r.errors.length) {
      const byIndex = new Map<number, EntryError[]>();
      for (const e of r.errors) {
        const list = byIndex.get(e.index) ?? [];
        list.push(e);
        byIndex.set(e.index, list);
      }
      for (const [idx, errs] of byIndex) reject(lines[idx], errs, texts ? texts[idx] : () => JSON.stringify(columns ? decodeEvent(columns, idx) : batch[idx]));
    }
    if (rejects && rejectLines.length) {
      const text = rejectLines.join('\n') + '\n';
      const { bytesWritten } = await rejects.write(text, rejectsBytes);
      rejectsBytes += bytesWritten;
      rejectLines = [];
    }
    cp.accepted = report.accepted;
    cp.duplicates = report.duplicates;
    cp.rejected = report.rejected;
    cp.errorsByCode = report.errorsByCode;
    cp.firstErrors = report.firstErrors;
    cp.rejectsBytes = rejectsBytes;
    await store.ingest({ checkpoint: { key, value: JSON.stringify(cp) } });
    progress?.({ file: opts.path, kind, bytes: lastOffset, startBytes: st.start.offset, totalBytes, rows: rowsThisRun });
  };

  if (bulk) await (store as Store & { beginBulkLoad(): Promise<void> }).beginBulkLoad();
  let bulkEnded = false;
  const endBulk = async () => {
    if (!bulk || bulkEnded) return;
    bulkEnded = true;
    const { duplicatesRemoved } = await (store as Store & { endBulkLoad(): Promise<{ duplicatesRemoved: number }> }).endBulkLoad();
    if (duplicatesRemoved) {
      report.duplicates += duplicatesRemoved;
      report.accepted -= duplicatesRemoved;
    }
  };
  const errs: MappedFieldError[] = [];
  const threads = opts.threads ?? 'auto';
  const useWorker =
    kind === 'events' &&
    (threads === true || (threads === 'auto' && availableParallelism() > 1 && reader.size - st.start.offset >= WORKER_MIN_BYTES));
  try {
    let onWorker = useWorker;
    if (onWorker) {
      // Reading, parsing and mapping on a worker thread; this loop only writes (see import-worker.ts).
      const worker = await startImportWorker({
        source: {
          path,
          // The layout this thread's reader settled on (detected or given), not re-detected there.
          format: reader.format,
          delimiter: reader.delimiter,
          quote: reader.quote,
          header: reader.hasHeader,
          encoding: reader.encoding,
          preset: opts.preset,
          mapping: opts.mapping,
          strictTypes: opts.strictTypes,
          customEventTypes: opts.customEventTypes,
          chunkSize: opts.chunkSize,
          start: st.start,
        },
        batchSize,
        keepTexts: rejects !== undefined,
        delimiter: reader.delimiter,
      });
      const inbox = new WorkerInbox(worker);
      try {
        for (;;) {
          let m: Extract<WorkerMessage, { t: 'batch' }>;
          try {
            m = await inbox.next();
          } catch (err) {
            // A worker that could not start (no worker threads in this runtime, a loader
            // missing): read on this thread instead, unless threads were asked for.
            if (!(err instanceof WorkerStartError) || threads === true) throw err;
            report.warnings.push(`events read on the main thread: ${err.message}`);
            onWorker = false;
            break;
          }
          worker.postMessage('credit');
          report.rows += m.rows;
          rowsThisRun += m.rows;
          for (const r of m.rejects) reject(r.line, r.errors, rejectText(r));
          if (m.events.n) {
            pendingColumns = m.events;
            columnLines = m.lines;
            if (pendingTexts) {
              const texts = m.texts ?? [];
              pendingTexts = texts.map((t) => () => t);
            }
          }
          lastOffset = m.lastOffset;
          lastLine = m.lastLine;
          if (m.done) break;
          if (m.flush) {
            await flush(false);
            if (opts.signal?.aborted) {
              report.interrupted = true;
              break;
            }
          } else progress?.({ file: opts.path, kind, bytes: lastOffset, startBytes: st.start.offset, totalBytes, rows: rowsThisRun });
        }
      } finally {
        await worker.terminate();
      }
    }
    if (!onWorker) outer: for await (const batch of reader.batches()) {
      const n = batch.length;
      for (let i = 0; i < n; i++) {
        report.rows++;
        rowsThisRun++;
        const line = batch.line[i];
        const perr = batch.errors.get(i);
        if (perr) {
          reject(line, [{ code: perr.code, message: perr.message }], () => recordText(batch, i, reader.delimiter));
        } else {
          errs.length = 0;
          const entity = jsonl ? mapper.fromObject(batch.values![i], errs) : mapper.fromBatch(batch, i, errs);
          if (entity === undefined) reject(line, errs.slice(), () => recordText(batch, i, reader.delimiter));
          else {
            pending.push(entity);
            pendingLines.push(line);
            if (pendingTexts) pendingTexts.push(() => recordText(batch, i, reader.delimiter));
          }
        }
        lastOffset = batch.offset[i];
        lastLine = batch.nextLine[i];
        if (pending.length >= batchSize || (rejectLines.length >= batchSize && rejects)) {
          await flush(false);
          if (opts.signal?.aborted) {
            report.interrupted = true;
            break outer;
          }
        }
      }
      if (!pending.length) progress?.({ file: opts.path, kind, bytes: lastOffset, startBytes: st.start.offset, totalBytes, rows: rowsThisRun });
    }
    if (!report.interrupted) {
      lastOffset = Math.max(lastOffset, totalBytes);
      await flush(true);
    }
    await endBulk();
  } finally {
    try {
      await endBulk();
    } finally {
      await rejects?.close();
    }
  }
  if (report.rows === 0 && !st.resumed) report.warnings.push('no data rows (the file has only a header or blank lines)');
  if (report.rows > 0 && report.accepted === 0 && !report.alreadyImported) {
    report.warnings.push('no row was accepted: check the mapping (--map) and the format');
  }
  report.seconds = (performance.now() - st.t0) / 1000;
  report.rowsPerSecond = report.seconds > 0 ? rowsThisRun / report.seconds : 0;
  return report;
}

function rejectText(r: RejectedRow): () => string {
  return () => r.text ?? '';
}

/** The import worker failed before it read anything. */
class WorkerStartError extends Error {}

/** Messages of the import worker, one at a time; its errors rethrown as they were thrown there. */
class WorkerInbox {
  private readonly queue: WorkerMessage[] = [];
  private received = false;
  private failure: Error | undefined;
  private exited = false;
  private wake: (() => void) | undefined;

  constructor(worker: Worker) {
    worker.on('message', (m: WorkerMessage) => {
      this.queue.push(m);
      this.notify();
    });
    worker.on('error', (err: Error) => {
      this.failure ??= err;
      this.notify();
    });
    worker.on('exit', () => {
      this.exited = true;
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async next(): Promise<Extract<WorkerMessage, { t: 'batch' }>> {
    for (;;) {
      const m = this.queue.shift();
      if (m) {
        if (m.t === 'batch') {
          this.received = true;
          return m;
        }
        const e = m.error;
        if (e.startup) throw new WorkerStartError(e.message);
        if (e.name === 'DataFileError' && e.file !== undefined && e.code !== undefined) {
          const err = new DataFileError(e.file, e.code, '', e.line);
          err.message = e.message;
          throw err;
        }
        if (e.name === 'MappingError') throw new MappingError(e.message);
        throw Object.assign(new Error(e.message), { name: e.name });
      }
      if (this.failure) throw this.received ? this.failure : new WorkerStartError(`import worker failed to start: ${this.failure.message}`);
      if (this.exited) throw this.received ? new Error('the import worker stopped before the end of the file') : new WorkerStartError('import worker failed to start: it exited');
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

/** One line per report: what was imported. */
export function formatImportReport(r: ImportReport): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const lines: string[] = [];
  if (r.alreadyImported) {
    lines.push(`${r.kind} ${r.file}: already imported (${fmt(r.rows)} rows: ${fmt(r.accepted)} accepted, ${fmt(r.rejected)} rejected); use --force to import it again`);
    return lines.join('\n');
  }
  const resumed = r.resumedFrom ? ` (resumed at line ${fmt(r.resumedFrom.line)})` : '';
  lines.push(
    `${r.kind} ${r.file}${resumed}: ${fmt(r.rows)} rows, ${fmt(r.accepted)} accepted, ${fmt(r.rejected)} rejected, ${fmt(r.duplicates)} duplicates` +
      ` in ${r.seconds.toFixed(1)}s (${fmt(Math.round(r.rowsPerSecond))} rows/s)${r.interrupted ? ' — interrupted, run again to continue' : ''}`,
  );
  if (r.rejected > 0) {
    const codes = Object.entries(r.errorsByCode)
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${fmt(n)}`)
      .join(', ');
    lines.push(`  errors: ${codes}`);
    for (const e of r.firstErrors) lines.push(`  line ${e.line}${e.field ? `, ${e.field}` : ''}: ${e.code}: ${e.message}`);
    const more = Object.values(r.errorsByCode).reduce((a, b) => a + b, 0) - r.firstErrors.length;
    if (more > 0) lines.push(`  ... and ${fmt(more)} more${r.rejectsPath ? ` (all in ${r.rejectsPath})` : ' (write them all with --rejects FILE)'}`);
    else if (r.rejectsPath) lines.push(`  rejected rows written to ${r.rejectsPath}`);
  }
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}
