/**
 * Result tables in the shape of the LED paper's Table 2 (model, loss, init, tuning, Recall@20,
 * Recall@50, NDCG@100, fit seconds) as aligned text, Markdown, or JSON.
 */

export interface ReportRow {
  model: string;
  /** Training loss ('Mult', 'BPR', 'NS', 'Mult-CSS', ... or '' for closed-form / counting models). */
  loss: string;
  /** Embedding initialisation ('Random', 'SVD', ...; '' when not applicable). */
  init: string;
  /** Fine-tuning method ('Train', 'Proj'; '' when not applicable). */
  tuning: string;
  recall_at_20: number;
  recall_at_50: number;
  ndcg_at_100: number;
  fit_seconds: number;
  /** Anything else (chosen hyper-parameters, validation score, coverage...) goes to JSON only. */
  [extra: string]: unknown;
}

export interface Column {
  key: string;
  title: string;
  /** Number of decimals for numbers (default 3). */
  digits?: number;
  align?: 'left' | 'right';
}

export const TABLE2_COLUMNS: Column[] = [
  { key: 'model', title: 'Model', align: 'left' },
  { key: 'loss', title: 'Loss', align: 'left' },
  { key: 'init', title: 'Init', align: 'left' },
  { key: 'tuning', title: 'Tuning', align: 'left' },
  { key: 'recall_at_20', title: 'Recall@20' },
  { key: 'recall_at_50', title: 'Recall@50' },
  { key: 'ndcg_at_100', title: 'NDCG@100' },
  { key: 'fit_seconds', title: 'Fit s', digits: 2 },
];

function cell(v: unknown, c: Column): string {
  if (typeof v === 'number') return Number.isFinite(v) ? v.toFixed(c.digits ?? 3) : Number.isNaN(v) ? '-' : String(v);
  if (v === undefined || v === null || v === '') return '';
  return String(v);
}

/**
 * An aligned plain-text table. With `relativeTo` (a row index), metric cells also show the
 * relative difference to that row, as the paper's "(−3.54%)".
 */
export function formatTable(
  rows: ReportRow[],
  opts: { columns?: Column[]; title?: string; relativeTo?: number; markdown?: boolean } = {},
): string {
  const cols = opts.columns ?? TABLE2_COLUMNS;
  const base = opts.relativeTo !== undefined ? rows[opts.relativeTo] : undefined;
  const body = rows.map((r) =>
    cols.map((c) => {
      let s = cell(r[c.key], c);
      const v = r[c.key];
      const b = base?.[c.key];
      if (base && r !== base && typeof v === 'number' && typeof b === 'number' && b !== 0 && c.key !== 'fit_seconds' && Number.isFinite(v)) {
        const pct = ((v - b) / Math.abs(b)) * 100;
        s += ` (${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%)`;
      }
      return s;
    }),
  );
  const head = cols.map((c) => c.title);
  const widths = cols.map((_, j) => Math.max(head[j].length, ...body.map((r) => r[j].length)));
  const pad = (s: string, j: number) => ((cols[j].align ?? 'right') === 'left' ? s.padEnd(widths[j]) : s.padStart(widths[j]));
  const lines: string[] = [];
  if (opts.markdown) {
    if (opts.title) lines.push(`**${opts.title}**`, '');
    lines.push(`| ${head.map(pad).join(' | ')} |`);
    lines.push(`| ${cols.map((c, j) => ((c.align ?? 'right') === 'left' ? '-'.repeat(widths[j]) : '-'.repeat(widths[j] - 1) + ':')).join(' | ')} |`);
    for (const r of body) lines.push(`| ${r.map(pad).join(' | ')} |`);
  } else {
    if (opts.title) lines.push(opts.title);
    lines.push(head.map(pad).join('  '));
    lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of body) lines.push(r.map(pad).join('  '));
  }
  return lines.join('\n');
}

/** The JSON document of a benchmark run: `{ dataset, models: rows, ...extra }`. */
export function reportJson(dataset: string, rows: ReportRow[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { dataset, ...extra, models: rows.map((r) => ({ ...r })) };
}
