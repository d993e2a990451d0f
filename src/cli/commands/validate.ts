import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import type { CliCommand } from '../main.js';
import { floatOption } from '../args.js';
import { openStore, resolveDbPath } from '../../store/open.js';
import { formatValidationReport, validateFiles, validateStore, type ValidationReport } from '../../data/validate.js';
import { parseDateText } from '../../data/mapping.js';
import { createProgress } from '../../util/progress.js';
import { FILE_OPTIONS, FILE_USAGE, fileSelection } from './import.js';

function dateOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : parseDateText(value);
  if (!Number.isFinite(n)) throw new Error(`--${name} expects a date (ISO-8601, e.g. 2024-01-31) or epoch milliseconds, got '${value}'`);
  return n;
}

export const command: CliCommand = {
  name: 'validate',
  summary: 'data-quality report of files or of the store (schema, empties, duplicates, joins, advice)',
  usage: `usage: funnel validate [--db PATH | --users FILE --items FILE --events FILE ...] [--json]

Checks data before or after an import: schema errors and empty rate per field, duplicate
rows and ids, events naming unknown users or items, timestamps in the future or too old,
counts per event type, the impression → click join rate, events per user and per item, and
warnings with advice. With file options the files are read (nothing is imported); without,
the store is checked.

  --db PATH         the store to check (default: $FUNNEL_DB or ./funnel.db)
${FILE_USAGE}
  --now DATE        "now" for future timestamps (default: the current time)
  --old-before DATE timestamps before it are implausibly old (default 1995-01-01)
  --join-window M   minutes within which a click joins an impression without request id (default 30)
  --json            print the report as JSON
  --strict          exit with status 1 when the report has errors`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        db: { type: 'string' },
        ...FILE_OPTIONS,
        now: { type: 'string' },
        'old-before': { type: 'string' },
        'join-window': { type: 'string' },
        json: { type: 'boolean' },
        strict: { type: 'boolean' },
      },
      strict: true,
    });
    const sel = fileSelection(values);
    const common = {
      now: dateOption(values.now, 'now'),
      oldBefore: dateOption(values['old-before'], 'old-before'),
      joinWindowMs: floatOption(values['join-window'], 'join-window', 30) * 60_000,
    };
    let report: ValidationReport;
    if (Object.keys(sel.files).length > 0) {
      if (values.db) throw new Error('give either --db (check the store) or files (--users, --items, --events), not both');
      const progress = createProgress({ label: 'validate', unit: ' rows' });
      let lastKind = '';
      let before = 0;
      let rows = 0;
      try {
        report = await validateFiles({
          ...common,
          ...sel.files,
          preset: sel.preset,
          mappings: sel.mappings,
          format: sel.format,
          delimiter: sel.delimiter,
          header: sel.header,
          encoding: sel.encoding,
          strictTypes: sel.strictTypes,
          customEventTypes: sel.customEventTypes,
          onProgress: (p) => {
            if (p.kind !== lastKind) {
              before = rows;
              lastKind = p.kind;
            }
            rows = before + p.rows;
            progress.update(rows);
          },
        });
      } finally {
        progress.done();
      }
    } else {
      const path = resolveDbPath(values.db);
      if (!existsSync(path)) throw new Error(`${path}: no store here (import data first, pass --db, or give files with --users/--items/--events)`);
      const store = await openStore(path, { readonly: true });
      const progress = createProgress({ label: 'validate', unit: ' rows' });
      try {
        report = await validateStore(store, { ...common, db: path, onProgress: (p) => progress.update(p.rows) });
      } finally {
        progress.done();
        await store.close();
      }
    }
    console.log(values.json ? JSON.stringify(report, null, 2) : formatValidationReport(report));
    return values.strict && report.warnings.some((w) => w.level === 'error') ? 1 : 0;
  },
};
