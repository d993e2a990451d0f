/**
 * CTR benchmark data for the rankers (research-only datasets, read at run time from
 * `$FUNNEL_DATASETS`, else `../shared/datasets`; never shipped).
 *
 * frappe (Baltrunas et al. 2015), the protocol of the NFM paper (He & Chua 2017) and of BARS:
 * every log line of `frappe.csv` is a positive (user, item, context) with label 1, paired with
 * `negatives` (default 2) items drawn uniformly among the items the user never used, in the same
 * context, with label 0. Ten one-hot fields: user, item, daytime, weekday, isweekend, homework,
 * cost, weather, country, city — each value hashed (field-salted) into 2^bits buckets.
 * Rows are shuffled (seeded) and split 7:2:1 into train / validation / test.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { datasetsDir } from '../eval/datasets.js';
import { seededRandom } from './fit.js';
import { bucketOf, hashStr } from './hash.js';
import type { LabeledRows, SparseRows } from './types.js';

export const FRAPPE_FIELDS = ['user', 'item', 'daytime', 'weekday', 'isweekend', 'homework', 'cost', 'weather', 'country', 'city'] as const;

export interface FrappeOptions {
  /** Folder holding frappe.csv (default <datasets>/frappe). */
  dir?: string;
  /** Negatives per positive (default 2). */
  negatives?: number;
  /** Hashed buckets: 2^bits (default 18). */
  bits?: number;
  seed?: number;
  /** Shares of train / validation / test (default [0.7, 0.2, 0.1]). */
  split?: [number, number, number];
}

export interface FrappeData {
  dim: number;
  positives: number;
  rows: number;
  users: number;
  items: number;
  train: LabeledRows;
  validation: LabeledRows;
  test: LabeledRows;
}

export async function loadFrappe(opts: FrappeOptions = {}): Promise<FrappeData> {
  const dir = opts.dir ?? join(datasetsDir(), 'frappe');
  const neg = opts.negatives ?? 2;
  if (!Number.isInteger(neg) || neg < 0) throw new RangeError(`frappe: negatives must be an integer >= 0, got ${neg}`);
  const bits = opts.bits ?? 18;
  if (!Number.isInteger(bits) || bits < 8 || bits > 26) throw new RangeError(`frappe: bits must be an integer in [8, 26], got ${bits}`);
  let text: string;
  try {
    text = await readFile(join(dir, 'frappe.csv'), 'utf8');
  } catch (e) {
    throw new Error(`frappe: cannot read ${join(dir, 'frappe.csv')} (${(e as Error).message}); set FUNNEL_DATASETS`);
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0].split('\t').map((h) => h.trim());
  const col = FRAPPE_FIELDS.map((f) => {
    const c = header.indexOf(f);
    if (c < 0) throw new Error(`frappe: frappe.csv has no column '${f}' (header: ${header.join(', ')})`);
    return c;
  });
  const rowsIn = lines.slice(1).map((l) => l.split('\t').map((v) => v.trim()));
  const F = FRAPPE_FIELDS.length;
  const size = 2 ** bits;
  const items: string[] = [];
  const itemIndex = new Map<string, number>();
  const userItems = new Map<string, Set<string>>();
  for (const r of rowsIn) {
    const u = r[col[0]];
    const it = r[col[1]];
    if (!itemIndex.has(it)) {
      itemIndex.set(it, items.length);
      items.push(it);
    }
    let s = userItems.get(u);
    if (!s) userItems.set(u, (s = new Set()));
    s.add(it);
  }
  const rand = seededRandom(opts.seed ?? 1);
  const n = rowsIn.length * (1 + neg);
  const indices = new Int32Array(n * F);
  const labels = new Float32Array(n);
  let row = 0;
  const put = (r: string[], item: string, y: number) => {
    for (let f = 0; f < F; f++) indices[row * F + f] = bucketOf(hashStr(f, f === 1 ? item : r[col[f]]), 0, size);
    labels[row++] = y;
  };
  for (const r of rowsIn) {
    put(r, r[col[1]], 1);
    const used = userItems.get(r[col[0]])!;
    for (let k = 0; k < neg; k++) {
      let it: string;
      let tries = 0;
      do it = items[Math.floor(rand() * items.length)];
      while (used.has(it) && ++tries < 1000);
      put(r, it, 0);
    }
  }
  // shuffle rows, then split
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const shares = opts.split ?? [0.7, 0.2, 0.1];
  const total = shares[0] + shares[1] + shares[2];
  const a = Math.round((shares[0] / total) * n);
  const b = Math.round(((shares[0] + shares[1]) / total) * n);
  const part = (from: number, to: number): LabeledRows => {
    const m = to - from;
    const x: SparseRows = {
      rows: m,
      indptr: Int32Array.from({ length: m + 1 }, (_, i) => i * F),
      indices: new Int32Array(m * F),
      values: new Float32Array(m * F).fill(1),
      fields: new Uint8Array(m * F),
    };
    const y = new Float32Array(m);
    for (let q = 0; q < m; q++) {
      const r = order[from + q];
      for (let f = 0; f < F; f++) {
        x.indices[q * F + f] = indices[r * F + f];
        x.fields![q * F + f] = f;
      }
      y[q] = labels[r];
    }
    return { x, labels: { click: y } };
  };
  return { dim: size, positives: rowsIn.length, rows: n, users: userItems.size, items: items.length, train: part(0, a), validation: part(a, b), test: part(b, n) };
}
