/**
 * The reading half of an event import on a worker thread.
 *
 * An import of events spends about half of its time reading, parsing, mapping and checking
 * rows and half writing them into the store (SQLite on the main thread). On two cores the two
 * halves can overlap: this thread reads the file from the resume point, maps every record and
 * posts, for each batch the importer commits, the batch's events as columns (event-columns.ts:
 * typed arrays and dictionary-encoded strings, no object per event), the rejected rows with their line and
 * reasons, and where the batch ends in the file. The main thread keeps every decision that
 * needs the store: ids, duplicates, the checkpoint committed with each batch, the rejects file.
 * Nothing here touches the store, so exactly-once resumption is unchanged: a batch counts only
 * once the main thread committed it with its checkpoint.
 *
 * Flow control: the thread reads ahead at most `CREDITS` batches; the main thread returns one
 * credit per batch it takes.
 */
import { randomUUID } from 'node:crypto';
import { parentPort, workerData, type Worker } from 'node:worker_threads';
import { columnBuffers, EventColumnsBuilder, IdKeySpace, type EventColumns } from './event-columns.js';
import type { MappedFieldError } from './mapping.js';
import type { RecordBatch } from './parse.js';
import type { SourceOptions } from './import.js';

/** Batches read ahead of the one the main thread is writing. */
export const CREDITS = 3;

/** What the worker needs to open the source exactly as the main thread did. */
export type WorkerSource = Omit<SourceOptions, 'kind' | 'start'> & { start: { offset: number; line: number } };

export interface WorkerInput {
  funnelImportWorker: true;
  source: WorkerSource;
  batchSize: number;
  /** Keep each row's text (for the rejects file): rejected rows and accepted ones alike. */
  keepTexts: boolean;
  delimiter: string;
}

export interface RejectedRow {
  line: number;
  errors: { field?: string; code: string; message: string }[];
  text?: string;
}

export type WorkerMessage =
  | {
      t: 'batch';
      events: EventColumns;
      /** Line of each event. */
      lines: Float64Array;
      /** Rows refused by the reader or the mapping, in file order (before `lastLine`). */
      rejects: RejectedRow[];
      /** Text of each event's row (rejects file wanted). */
      texts: string[] | null;
      lastOffset: number;
      lastLine: number;
      /** Records read since the previous message. */
      rows: number;
      /** The importer commits here (a full batch, or the end of the file). */
      flush: boolean;
      done: boolean;
    }
  | { t: 'error'; error: { name: string; message: string; file?: string; code?: string; line?: number; startup?: boolean } };

/** Starts the worker for a source (see import.ts). */
export async function startImportWorker(input: Omit<WorkerInput, 'funnelImportWorker'>): Promise<Worker> {
  const { Worker } = await import('node:worker_threads');
  // FUNNEL_IMPORT_WORKER_URL replaces the module (tests: a worker that cannot start).
  const self = process.env.FUNNEL_IMPORT_WORKER_URL ?? import.meta.url;
  let tsx: string | undefined;
  if (self.endsWith('.ts')) {
    try {
      tsx = import.meta.resolve('tsx/esm/api');
    } catch {
      tsx = undefined;
    }
  }
  // An eval'd worker gets no loader hooks, so under the TypeScript sources this bootstrap
  // registers tsx before it loads the module (the compiled package needs none).
  const boot = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.url);
})().catch((err) => {
  parentPort.postMessage({ t: 'error', error: { name: 'Error', message: 'import worker failed to start: ' + (err && err.stack || err), startup: true } });
});`;
  return new Worker(boot, { eval: true, workerData: { ...input, funnelImportWorker: true, url: self, tsx } });
}

// ---- the worker side --------------------------------------------------------------------

async function workerMain(input: WorkerInput, port: NonNullable<typeof parentPort>): Promise<void> {
  const { openSource, recordText } = await import('./import.js');
  let credits = CREDITS;
  let wake: (() => void) | undefined;
  port.on('message', (m: unknown) => {
    if (m === 'credit') {
      credits++;
      wake?.();
      wake = undefined;
    }
  });
  const waitCredit = async () => {
    while (credits <= 0) await new Promise<void>((r) => (wake = r));
    credits--;
  };
  const source = await openSource({ ...input.source, kind: 'events' });
  const reader = source.reader;
  const mapper = source.mapper;
  const jsonl = reader.format === 'jsonl';
  const into = jsonl ? undefined : mapper.eventInto?.bind(mapper);
  const rowText = (batch: RecordBatch, i: number): string => recordText(batch, i, input.delimiter);
  // User and item ids keyed across batches: the store resolves each distinct id once per import.
  const keys = new IdKeySpace(randomUUID());
  let pending = new EventColumnsBuilder(input.batchSize, keys);
  let lines: number[] = [];
  let texts: string[] | null = input.keepTexts ? [] : null;
  let rejects: RejectedRow[] = [];
  let rows = 0;
  let lastOffset = input.source.start.offset;
  let lastLine = input.source.start.line;
  const send = async (flush: boolean, done: boolean) => {
    await waitCredit();
    const events = pending.n ? pending.build() : new EventColumnsBuilder(0).build();
    const msg: WorkerMessage = { t: 'batch', events, lines: Float64Array.from(lines), rejects, texts, lastOffset, lastLine, rows, flush, done };
    port.postMessage(msg, [...columnBuffers(events), msg.lines.buffer as ArrayBuffer]);
    if (pending.n) pending = new EventColumnsBuilder(input.batchSize, keys);
    lines = [];
    texts = input.keepTexts ? [] : null;
    rejects = [];
    rows = 0;
  };
  const errs: MappedFieldError[] = [];
  try {
    for await (const batch of reader.batches()) {
      const n = batch.length;
      for (let i = 0; i < n; i++) {
        rows++;
        const line = batch.line[i];
        const perr = batch.errors.get(i);
        if (perr) {
          rejects.push({ line, errors: [{ code: perr.code, message: perr.message }], text: input.keepTexts ? rowText(batch, i) : undefined });
        } else {
          errs.length = 0;
          let ok: boolean;
          if (into) ok = into(batch, i, errs, pending);
          else {
            const entity = jsonl ? mapper.fromObject(batch.values![i], errs) : mapper.fromBatch(batch, i, errs);
            ok = entity !== undefined;
            if (entity) pending.add(entity);
          }
          if (!ok) {
            rejects.push({
              line,
              errors: errs.map((e) => ({ field: e.field, code: e.code, message: e.message })),
              text: input.keepTexts ? rowText(batch, i) : undefined,
            });
          } else {
            lines.push(line);
            if (texts) texts.push(rowText(batch, i));
          }
        }
        lastOffset = batch.offset[i];
        lastLine = batch.nextLine[i];
        if (pending.n >= input.batchSize || (input.keepTexts && rejects.length >= input.batchSize)) await send(true, false);
      }
      // Progress (and the rejected rows so far) even while no batch fills up.
      if (!pending.n && (rows > 0 || rejects.length)) await send(false, false);
    }
    lastOffset = Math.max(lastOffset, reader.size);
    await send(true, true);
  } finally {
    await reader.close();
  }
}

if (parentPort && (workerData as WorkerInput | undefined)?.funnelImportWorker) {
  const port = parentPort;
  workerMain(workerData as WorkerInput, port).catch((err: unknown) => {
    const e = err as { name?: string; message?: string; file?: string; code?: string; line?: number };
    port.postMessage({ t: 'error', error: { name: e?.name ?? 'Error', message: e?.message ?? String(err), file: e?.file, code: e?.code, line: e?.line } } satisfies WorkerMessage);
  });
}
