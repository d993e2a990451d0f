import { parseArgs } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { CliCommand } from '../main.js';
import { intOption } from '../args.js';
import { openStore, resolveDbPath } from '../../store/open.js';
import type { EntityKind } from '../../data/model.js';
import { formatImportReport, importFile, type ImportReport } from '../../data/import.js';
import { canonicalTarget, MappingError, parseMapOption, type MappingSpec } from '../../data/mapping.js';
import { DataFileError, FORMATS, type Encoding, type Format } from '../../data/parse.js';
import { getPreset, PRESET_NAMES, PRESETS } from '../../data/presets.js';
import { createProgress } from '../../util/progress.js';

const KINDS: EntityKind[] = ['users', 'items', 'events'];

/** Shared by import and validate: the file options. */
export const FILE_OPTIONS = {
  users: { type: 'string' },
  items: { type: 'string' },
  events: { type: 'string' },
  dir: { type: 'string' },
  format: { type: 'string' },
  delimiter: { type: 'string' },
  'no-header': { type: 'boolean' },
  encoding: { type: 'string' },
  preset: { type: 'string' },
  map: { type: 'string', multiple: true },
  'strict-types': { type: 'boolean' },
  'custom-types': { type: 'string' },
} as const;

export interface FileSelection {
  files: Partial<Record<EntityKind, string>>;
  format?: Format;
  delimiter?: string;
  header?: boolean;
  encoding?: Encoding;
  preset?: string;
  mappings: Partial<Record<EntityKind, MappingSpec>>;
  strictTypes: boolean;
  customEventTypes?: string[];
}

/**
 * Reads the file options. `--map` entries apply to every file whose kind has that field;
 * prefix one with `users.`, `items.` or `events.` to aim it at one kind.
 */
export function fileSelection(values: Record<string, unknown>): FileSelection {
  const files: Partial<Record<EntityKind, string>> = {};
  const preset = values.preset as string | undefined;
  if (preset) getPreset(preset);
  for (const k of KINDS) if (values[k]) files[k] = values[k] as string;
  const dir = values.dir as string | undefined;
  if (dir) {
    if (!preset) throw new Error(`--dir needs --preset (which names the files: ${PRESET_NAMES.map((p) => `${p}: ${Object.values(PRESETS[p].files).map((f) => f!.file).join(', ')}`).join('; ')})`);
    for (const k of KINDS) {
      const f = PRESETS[preset].files[k];
      if (!f || files[k]) continue;
      // the preset's file name, or the same name in JSON Lines (users.jsonl for users.csv)
      const stem = f.file.replace(/\.[^.]*$/, '');
      const found = [f.file, `${stem}.jsonl`, `${stem}.ndjson`].map((name) => join(dir, name)).find((p) => existsSync(p));
      if (found) files[k] = found;
    }
    if (Object.keys(files).length === 0) throw new Error(`${dir}: none of the ${preset} files (${Object.values(PRESETS[preset].files).map((f) => f!.file).join(', ')}) are there`);
  }
  const format = values.format as string | undefined;
  if (format !== undefined && !FORMATS.includes(format as Format)) throw new Error(`--format expects one of ${FORMATS.join(', ')}, got '${format}'`);
  const encoding = values.encoding as string | undefined;
  let enc: Encoding | undefined;
  if (encoding !== undefined) {
    const e = encoding.toLowerCase().replace(/[^a-z0-9]/g, '');
    if (e === 'utf8') enc = 'utf-8';
    else if (e === 'latin1' || e === 'iso88591' || e === 'windows1252' || e === 'cp1252') enc = 'latin1';
    else throw new Error(`--encoding expects utf-8 or latin1, got '${encoding}'`);
  }
  let delimiter = values.delimiter as string | undefined;
  if (delimiter === '\\t' || delimiter === 'tab') delimiter = '\t';
  if (delimiter !== undefined && delimiter.length !== 1) throw new Error(`--delimiter expects one character (or 'tab'), got '${delimiter}'`);
  const mappings: Partial<Record<EntityKind, MappingSpec>> = {};
  for (const text of (values.map as string[] | undefined) ?? []) {
    for (const entry of text.split(',')) {
      const e = entry.trim();
      if (!e) continue;
      const m = /^(users|items|events)\.(.*)$/.exec(e);
      const kinds = m ? [m[1] as EntityKind] : KINDS;
      const body = m ? m[2] : e;
      const name = body.slice(0, Math.max(0, body.indexOf('=')));
      const fitting = kinds.filter((k) => canonicalTarget(k, name) !== undefined);
      if (fitting.length === 0) {
        if (kinds.length === 1) parseMapOption(kinds[0], body); // throws with the list of fields
        throw new MappingError(
          `--map: '${name || body}' is not a field of users, items or events (e.g. userId, itemId, type, value, timestamp, title, categories, context.NAME, attributes.NAME)`,
        );
      }
      for (const k of fitting) {
        if (!m && Object.keys(files).length && !files[k]) continue;
        const spec = (mappings[k] ??= { fields: {} });
        Object.assign(spec.fields!, parseMapOption(k, body));
      }
    }
  }
  const custom = values['custom-types'] as string | undefined;
  return {
    files,
    format: format as Format | undefined,
    delimiter,
    header: values['no-header'] ? false : undefined,
    encoding: enc,
    preset,
    mappings,
    strictTypes: Boolean(values['strict-types']),
    customEventTypes: custom ? custom.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
  };
}

export const FILE_USAGE = `  --users FILE, --items FILE, --events FILE
                    the files (CSV, TSV or JSON Lines; format from the extension or content)
  --dir DIR         with --preset: take the preset's usual file names from DIR
  --preset NAME     layout and mapping of a known dataset: ${PRESET_NAMES.join(', ')}
  --format F        csv, tsv or jsonl (default: from the extension, else sniffed)
  --delimiter C     field delimiter of csv files (one character; 'tab' for tabs)
  --no-header       the first line is data (map columns by position: #1, #2, ...)
  --encoding E      utf-8 (default; invalid bytes reject the row) or latin1
  --map SPEC        column mapping, comma-separated TARGET=SOURCE entries (repeatable):
                      userId=user_id        a column, by header name
                      itemId=#2             a column by position (1-based)
                      type==view            a constant
                      timestamp=ts:s        unit of a time column: s, ms, us, ns, iso, auto
                      categories=genres:|   separator of a list column
                      context.page=page     extra event context / attributes.NAME for entities
                      value=                leave a field out
                    prefix an entry with events., items. or users. to aim it at one file
  --strict-types    reject event types outside the built-in ones (and --custom-types)
  --custom-types T  comma-separated custom event types accepted with --strict-types`;

export const command: CliCommand = {
  name: 'import',
  summary: 'import users, items and events from CSV, TSV or JSON Lines files (resumable)',
  usage: `usage: funnel import [--db PATH] [--users FILE] [--items FILE] [--events FILE] [options]

Imports in the order users, items, events, streaming each file in batches. Every batch is
committed with a checkpoint: an import that was interrupted (even by kill -9) continues where
it stopped when run again, and a finished one is not imported twice.

  --db PATH         the store (default: $FUNNEL_DB or ./funnel.db)
${FILE_USAGE}
  --rejects FILE    write every rejected row (JSON Lines: file, line, errors, record); with
                    several files, FILE gets the kind before its extension
  --force           import again from the start, even a file already imported
  --batch-size N    rows per transaction (default 20000 events, 5000 users or items)
  --bulk, --no-bulk load events with indexes dropped and rebuilt at the end (default: for
                    large files into a smaller store)
  --threads, --no-threads
                    read and parse events on a worker thread while this one writes them
                    (default: for event files over 8 MiB on a machine with 2+ cores)
  --max-errors N    errors listed per file (default 10; all are counted)
  --json            print the reports as JSON

Examples:
  funnel import --preset movielens-100k --dir ../shared/datasets/ml-100k
  funnel import --events clicks.csv --map 'userId=uid,itemId=sku,type==click,timestamp=time:ms'
  funnel import --events events.jsonl --rejects bad.jsonl`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        db: { type: 'string' },
        ...FILE_OPTIONS,
        rejects: { type: 'string' },
        force: { type: 'boolean' },
        'batch-size': { type: 'string' },
        bulk: { type: 'boolean' },
        'no-bulk': { type: 'boolean' },
        threads: { type: 'boolean' },
        'no-threads': { type: 'boolean' },
        'max-errors': { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    });
    const sel = fileSelection(values);
    const kinds = KINDS.filter((k) => sel.files[k]);
    if (kinds.length === 0) throw new Error('nothing to import: give --users, --items and/or --events FILE (or --preset NAME --dir DIR)');
    const batchSize = values['batch-size'] !== undefined ? intOption(values['batch-size'], 'batch-size', 0) : undefined;
    if (batchSize !== undefined && batchSize < 1) throw new Error('--batch-size must be at least 1');
    const maxErrors = intOption(values['max-errors'], 'max-errors', 10);
    const bulk = values['no-bulk'] ? false : values.bulk ? true : 'auto';
    const threads = values['no-threads'] ? false : values.threads ? true : 'auto';
    for (const k of kinds) {
      const f = sel.files[k]!;
      if (!existsSync(f)) throw new Error(`${f}: no such file (given for --${k})`);
      if (statSync(f).isDirectory()) throw new Error(`${f}: is a directory (given for --${k})`);
    }
    const rejectsFor = (k: EntityKind): string | undefined => {
      const r = values.rejects;
      if (!r) return undefined;
      if (kinds.length === 1) return r;
      const dot = r.lastIndexOf('.');
      return dot > r.lastIndexOf('/') && dot > 0 ? `${r.slice(0, dot)}.${k}${r.slice(dot)}` : `${r}.${k}`;
    };

    const dbPath = resolveDbPath(values.db);
    const store = await openStore(values.db, { strictEventTypes: sel.strictTypes, customEventTypes: sel.customEventTypes });
    const controller = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts++;
      if (interrupts > 1) process.exit(130);
      process.stderr.write('\ninterrupted: finishing the current batch (Ctrl-C again to stop at once; the import resumes where it stopped)\n');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    const reports: ImportReport[] = [];
    const failures: { kind: EntityKind; file: string; message: string }[] = [];
    try {
      for (const kind of kinds) {
        if (controller.signal.aborted) break;
        const file = sel.files[kind]!;
        const progress = createProgress({ label: `${kind} ${basename(file)}`, unit: ' rows' });
        try {
          const report = await importFile(store, {
            path: file,
            kind,
            format: sel.format,
            delimiter: sel.delimiter,
            header: sel.header,
            encoding: sel.encoding,
            preset: sel.preset,
            mapping: sel.mappings[kind],
            strictTypes: sel.strictTypes,
            customEventTypes: sel.customEventTypes,
            rejectsPath: rejectsFor(kind),
            force: values.force,
            batchSize,
            bulk,
            threads,
            maxErrors,
            signal: controller.signal,
            onProgress: (p) => {
              // Rows so far, and the total estimated from the share of bytes read.
              const span = p.totalBytes - p.startBytes;
              const frac = span > 0 ? (p.bytes - p.startBytes) / span : 1;
              progress.update(p.rows, frac > 0.001 ? Math.max(p.rows, Math.round(p.rows / frac)) : undefined);
            },
          });
          progress.done();
          reports.push(report);
          if (!values.json) console.log(formatImportReport(report));
        } catch (err) {
          progress.done();
          if (!(err instanceof DataFileError || err instanceof MappingError)) throw err;
          failures.push({ kind, file, message: err.message });
          if (!values.json) console.error(`funnel import: ${err.message}`);
        }
      }
    } finally {
      process.off('SIGINT', onSigint);
      await store.close();
    }
    if (values.json) console.log(JSON.stringify({ db: dbPath, reports, failures }, null, 2));
    if (failures.length) return 1;
    return reports.some((r) => r.interrupted) ? 130 : 0;
  },
};
