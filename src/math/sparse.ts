/**
 * Sparse matrices: CSR (compressed sparse rows) and COO (coordinate) forms, built from
 * (row, col[, value]) pairs, transposed, scaled and normalised. The CSR layout is the one of
 * the kernels (`kernels.csrmm`, `kernels.mmcsr`): Int32 `indptr`/`indices`, Float32 `values`.
 *
 * A CSR built here is *canonical*: column indices strictly increasing within each row (sorted,
 * duplicates summed). Functions that need canonical input say so; `isCanonicalCsr` checks.
 */
import type { Timelines } from '../models/retrieval/types.js';

/** rows × cols matrix in CSR form: row r holds entries indptr[r] .. indptr[r+1]-1. */
export interface CsrMatrix {
  rows: number;
  cols: number;
  /** rows + 1 offsets, indptr[0] = 0, non-decreasing. */
  indptr: Int32Array;
  /** Column index of each entry (length nnz). */
  indices: Int32Array;
  /** Value of each entry (length nnz). */
  values: Float32Array;
}

/** rows × cols matrix as parallel coordinate arrays (any order, duplicates allowed). */
export interface CooMatrix {
  rows: number;
  cols: number;
  row: Int32Array;
  col: Int32Array;
  /** Entry values; absent means every entry is 1. */
  values?: Float32Array;
}

/** Number of stored entries. */
export function nnz(m: CsrMatrix): number {
  return m.indptr[m.rows];
}

function checkDim(n: number, name: string, who: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`${who}: ${name} must be a non-negative int32, got ${n}`);
}

/**
 * Checks the shape and index ranges of a CSR matrix (RangeError naming the field). With
 * `canonical`, also requires strictly increasing columns within each row.
 */
export function validateCsr(m: CsrMatrix, who = 'csr', canonical = false): void {
  checkDim(m.rows, 'rows', who);
  checkDim(m.cols, 'cols', who);
  if (m.indptr.length !== m.rows + 1) throw new RangeError(`${who}: indptr has ${m.indptr.length} entries, expected rows + 1 = ${m.rows + 1}`);
  if (m.indptr[0] !== 0) throw new RangeError(`${who}: indptr[0] must be 0, got ${m.indptr[0]}`);
  const n = m.indptr[m.rows];
  if (m.indices.length < n) throw new RangeError(`${who}: indices has ${m.indices.length} entries, indptr says ${n}`);
  if (m.values.length < n) throw new RangeError(`${who}: values has ${m.values.length} entries, indptr says ${n}`);
  for (let r = 0; r < m.rows; r++) {
    const a = m.indptr[r];
    const b = m.indptr[r + 1];
    if (b < a) throw new RangeError(`${who}: indptr decreases at row ${r} (${a} > ${b})`);
    for (let p = a; p < b; p++) {
      const c = m.indices[p];
      if (!(c >= 0 && c < m.cols)) throw new RangeError(`${who}: indices[${p}] = ${c} out of range [0, ${m.cols}) in row ${r}`);
      if (canonical && p > a && c <= m.indices[p - 1]) throw new RangeError(`${who}: row ${r} columns not strictly increasing at entry ${p}`);
    }
  }
}

/** True when every row's columns are strictly increasing (sorted, no duplicates). */
export function isCanonicalCsr(m: CsrMatrix): boolean {
  for (let r = 0; r < m.rows; r++) {
    for (let p = m.indptr[r] + 1; p < m.indptr[r + 1]; p++) if (m.indices[p] <= m.indices[p - 1]) return false;
  }
  return true;
}

export interface CsrFromPairsOptions {
  /** Store 1 for every present (row, col) instead of the summed values (default false). */
  binary?: boolean;
  /** Drop entries whose summed value is exactly 0 (default false). */
  dropZeros?: boolean;
}

/**
 * Canonical CSR from (row, col[, value]) triplets in any order: duplicates are summed (in
 * Float64), columns sorted. Without values every pair counts 1 (so duplicates count
 * occurrences). O(nnz + rows + cols) through two counting sorts.
 */
export function csrFromPairs(
  rows: number, cols: number, rowIdx: ArrayLike<number>, colIdx: ArrayLike<number>, values?: ArrayLike<number>,
  opts: CsrFromPairsOptions = {},
): CsrMatrix {
  const who = 'csrFromPairs';
  checkDim(rows, 'rows', who);
  checkDim(cols, 'cols', who);
  const n = rowIdx.length;
  if (colIdx.length !== n) throw new RangeError(`${who}: colIdx has ${colIdx.length} entries, rowIdx ${n}`);
  if (values && values.length !== n) throw new RangeError(`${who}: values has ${values.length} entries, rowIdx ${n}`);
  // 1. Counting sort by column, then a stable counting sort by row: rows with sorted columns.
  const colPtr = new Int32Array(cols + 1);
  for (let e = 0; e < n; e++) {
    const r = rowIdx[e];
    const c = colIdx[e];
    if (!(r >= 0 && r < rows && Math.floor(r) === r)) throw new RangeError(`${who}: rowIdx[${e}] = ${r} out of range [0, ${rows})`);
    if (!(c >= 0 && c < cols && Math.floor(c) === c)) throw new RangeError(`${who}: colIdx[${e}] = ${c} out of range [0, ${cols})`);
    colPtr[c + 1]++;
  }
  for (let c = 0; c < cols; c++) colPtr[c + 1] += colPtr[c];
  const byCol = new Int32Array(n);
  {
    const fill = colPtr.slice(0, cols);
    for (let e = 0; e < n; e++) byCol[fill[colIdx[e]]++] = e;
  }
  const rowPtr = new Int32Array(rows + 1);
  for (let e = 0; e < n; e++) rowPtr[rowIdx[e] + 1]++;
  for (let r = 0; r < rows; r++) rowPtr[r + 1] += rowPtr[r];
  const order = new Int32Array(n);
  {
    const fill = rowPtr.slice(0, rows);
    for (let q = 0; q < n; q++) {
      const e = byCol[q];
      order[fill[rowIdx[e]]++] = e;
    }
  }
  // 2. Merge duplicates (adjacent now) row by row.
  const indptr = new Int32Array(rows + 1);
  const indices = new Int32Array(n);
  const vals = new Float32Array(n);
  let w = 0;
  for (let r = 0; r < rows; r++) {
    let q = rowPtr[r];
    const end = rowPtr[r + 1];
    while (q < end) {
      const c = colIdx[order[q]];
      let sum = 0;
      while (q < end && colIdx[order[q]] === c) {
        sum += values ? values[order[q]] : 1;
        q++;
      }
      if (opts.dropZeros && sum === 0) continue;
      indices[w] = c;
      vals[w] = opts.binary ? 1 : sum;
      w++;
    }
    indptr[r + 1] = w;
  }
  return { rows, cols, indptr, indices: w === n ? indices : indices.slice(0, w), values: w === n ? vals : vals.slice(0, w) };
}

/** Canonical CSR of a COO matrix (duplicates summed). */
export function csrFromCoo(m: CooMatrix, opts: CsrFromPairsOptions = {}): CsrMatrix {
  return csrFromPairs(m.rows, m.cols, m.row, m.col, m.values, opts);
}

/** COO form of a CSR matrix (row-major order). */
export function cooFromCsr(m: CsrMatrix): CooMatrix {
  const n = nnz(m);
  const row = new Int32Array(n);
  for (let r = 0; r < m.rows; r++) row.fill(r, m.indptr[r], m.indptr[r + 1]);
  return { rows: m.rows, cols: m.cols, row, col: m.indices.slice(0, n), values: m.values.slice(0, n) };
}

/**
 * The user × item matrix of Timelines as a canonical CSR: entry (u, i) counts u's events on i,
 * or is 1 with `binary`.
 */
export function csrFromTimelines(t: Timelines, binary = false): CsrMatrix {
  const n = t.indptr[t.numUsers];
  const rowIdx = new Int32Array(n);
  for (let u = 0; u < t.numUsers; u++) rowIdx.fill(u, t.indptr[u], t.indptr[u + 1]);
  return csrFromPairs(t.numUsers, t.numItems, rowIdx, t.items.subarray(0, n), undefined, { binary });
}

/**
 * The transpose (cols × rows). Rows of the result have increasing column (= original row)
 * indices, so the transpose of any CSR is canonical if the input had no duplicate entries.
 */
export function transposeCsr(m: CsrMatrix): CsrMatrix {
  const n = nnz(m);
  const indptr = new Int32Array(m.cols + 1);
  for (let p = 0; p < n; p++) indptr[m.indices[p] + 1]++;
  for (let c = 0; c < m.cols; c++) indptr[c + 1] += indptr[c];
  const fill = indptr.slice(0, m.cols);
  const indices = new Int32Array(n);
  const values = new Float32Array(n);
  for (let r = 0; r < m.rows; r++) {
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) {
      const q = fill[m.indices[p]]++;
      indices[q] = r;
      values[q] = m.values[p];
    }
  }
  return { rows: m.cols, cols: m.rows, indptr, indices, values };
}

/** Per-row sums (Float64). */
export function rowSums(m: CsrMatrix): Float64Array {
  const s = new Float64Array(m.rows);
  for (let r = 0; r < m.rows; r++) {
    let acc = 0;
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) acc += m.values[p];
    s[r] = acc;
  }
  return s;
}

/** Per-column sums (Float64). */
export function colSums(m: CsrMatrix): Float64Array {
  const s = new Float64Array(m.cols);
  const n = nnz(m);
  for (let p = 0; p < n; p++) s[m.indices[p]] += m.values[p];
  return s;
}

/** Multiplies row r by factors[r], in place; returns `m`. */
export function scaleRows(m: CsrMatrix, factors: ArrayLike<number>): CsrMatrix {
  if (factors.length !== m.rows) throw new RangeError(`scaleRows: factors has ${factors.length} entries, expected rows = ${m.rows}`);
  for (let r = 0; r < m.rows; r++) {
    const f = factors[r];
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) m.values[p] *= f;
  }
  return m;
}

/** Multiplies column c by factors[c], in place; returns `m`. */
export function scaleCols(m: CsrMatrix, factors: ArrayLike<number>): CsrMatrix {
  if (factors.length !== m.cols) throw new RangeError(`scaleCols: factors has ${factors.length} entries, expected cols = ${m.cols}`);
  const n = nnz(m);
  for (let p = 0; p < n; p++) m.values[p] *= factors[m.indices[p]];
  return m;
}

export type RowNorm = 'l1' | 'l2' | 'max';

/**
 * Scales every row to unit norm ('l1': Σ|v| = 1, the row-stochastic form of non-negative
 * matrices; 'l2': Euclidean; 'max': max |v| = 1), in place; rows of norm 0 stay 0. Returns `m`.
 */
export function normalizeRows(m: CsrMatrix, norm: RowNorm = 'l2'): CsrMatrix {
  if (norm !== 'l1' && norm !== 'l2' && norm !== 'max') throw new RangeError(`normalizeRows: norm must be 'l1', 'l2' or 'max', got '${String(norm)}'`);
  for (let r = 0; r < m.rows; r++) {
    const a = m.indptr[r];
    const b = m.indptr[r + 1];
    let s = 0;
    for (let p = a; p < b; p++) {
      const v = Math.abs(m.values[p]);
      if (norm === 'l1') s += v;
      else if (norm === 'l2') s += v * v;
      else if (v > s) s = v;
    }
    if (norm === 'l2') s = Math.sqrt(s);
    if (s > 0) for (let p = a; p < b; p++) m.values[p] /= s;
  }
  return m;
}

/** A deep copy. */
export function cloneCsr(m: CsrMatrix): CsrMatrix {
  const n = nnz(m);
  return { rows: m.rows, cols: m.cols, indptr: m.indptr.slice(), indices: m.indices.slice(0, n), values: m.values.slice(0, n) };
}

/** Entry (r, c), 0 when absent (binary search: needs sorted columns). */
export function csrGet(m: CsrMatrix, r: number, c: number): number {
  if (!(r >= 0 && r < m.rows)) throw new RangeError(`csrGet: row ${r} out of range [0, ${m.rows})`);
  let lo = m.indptr[r];
  let hi = m.indptr[r + 1] - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const x = m.indices[mid];
    if (x === c) return m.values[mid];
    if (x < c) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}

/** Dense row-major Float64 copy (tests and small matrices only). */
export function csrToDense(m: CsrMatrix): Float64Array {
  const out = new Float64Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) out[r * m.cols + m.indices[p]] += m.values[p];
  return out;
}

/** Canonical CSR of a dense row-major matrix, keeping the non-zero entries. */
export function csrFromDense(a: ArrayLike<number>, rows: number, cols: number): CsrMatrix {
  checkDim(rows, 'rows', 'csrFromDense');
  checkDim(cols, 'cols', 'csrFromDense');
  if (a.length < rows * cols) throw new RangeError(`csrFromDense: a has ${a.length} entries, expected rows × cols = ${rows * cols}`);
  let n = 0;
  for (let q = 0; q < rows * cols; q++) if (a[q] !== 0) n++;
  const indptr = new Int32Array(rows + 1);
  const indices = new Int32Array(n);
  const values = new Float32Array(n);
  let w = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = a[r * cols + c];
      if (v !== 0) {
        indices[w] = c;
        values[w++] = v;
      }
    }
    indptr[r + 1] = w;
  }
  return { rows, cols, indptr, indices, values };
}
