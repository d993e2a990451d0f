/**
 * Pointwise mutual information of a co-occurrence matrix, with context-distribution smoothing
 * (Levy, Goldberg & Dagan 2015; the LED paper §5.1).
 *
 * For non-negative counts C (rows i: "word"/history item, columns j: "context"/candidate), with
 * row marginals r_i = Σ_j C_ij, column marginals c_j = Σ_i C_ij and D = Σ C_ij:
 *
 *   p(i, j) = C_ij / D,   p(i) = r_i / D,   p_α(j) = c_j^α / Σ_l c_l^α
 *   PMI_ij  = log( p(i, j) / (p(i) · p_α(j)) )
 *           = log C_ij − log r_i − α·log c_j + log Σ_l c_l^α
 *
 * α = 0.75 (default) raises the probability of rare contexts, which lowers the PMI of pairs
 * with a rare item. α = 1 gives plain PMI, symmetric when C is. Variants:
 *  - 'ppmi' (default): positive PMI, max(0, PMI_ij);
 *  - 'sppmi': shifted positive PMI, max(0, PMI_ij − log k) (k = `shift`, the number of
 *    negatives of the equivalent SGNS);
 *  - 'pmi': the raw value on every stored pair (can be negative).
 * Pairs with C_ij = 0 (not stored) have PMI −∞ and stay unstored: the result is sparse with the
 * pattern of C, minus the entries that become 0 (or ≤ 0 for the positive variants).
 */
import type { CsrMatrix } from './sparse.js';
import { validateCsr } from './sparse.js';

export type PmiVariant = 'pmi' | 'ppmi' | 'sppmi';

export interface PmiOptions {
  /** Context smoothing exponent α in (0, 1] (default 0.75). */
  alpha?: number;
  /** Default 'ppmi'. */
  variant?: PmiVariant;
  /** k of the shifted variant (subtract log k; default 1, i.e. no shift). Only with 'sppmi'. */
  shift?: number;
  /** Ignore pairs with C_ij < minCount (default: keep every stored pair). */
  minCount?: number;
}

/** The marginals PMI uses, for inspection and tests. */
export interface PmiMarginals {
  /** r_i = Σ_j C_ij. */
  rows: Float64Array;
  /** c_j = Σ_i C_ij. */
  cols: Float64Array;
  /** log Σ_l c_l^α. */
  logZ: number;
}

/** Row and column sums of the counts and the smoothed context normaliser. */
export function pmiMarginals(c: CsrMatrix, alpha = 0.75): PmiMarginals {
  const rows = new Float64Array(c.rows);
  const cols = new Float64Array(c.cols);
  for (let i = 0; i < c.rows; i++) {
    for (let p = c.indptr[i]; p < c.indptr[i + 1]; p++) {
      const v = c.values[p];
      rows[i] += v;
      cols[c.indices[p]] += v;
    }
  }
  let z = 0;
  for (let j = 0; j < c.cols; j++) if (cols[j] > 0) z += Math.pow(cols[j], alpha);
  return { rows, cols, logZ: Math.log(z) };
}

interface PmiSetup {
  alpha: number;
  variant: PmiVariant;
  minCount: number;
  /** Constant part: log Σ c^α − log k. */
  offset: number;
  marg: PmiMarginals;
}

function setup(c: CsrMatrix, opts: PmiOptions, who: string): PmiSetup {
  const alpha = opts.alpha ?? 0.75;
  const variant = opts.variant ?? 'ppmi';
  const shift = opts.shift ?? 1;
  const minCount = opts.minCount ?? 0;
  if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`${who}: alpha must be in (0, 1], got ${alpha}`);
  if (variant !== 'pmi' && variant !== 'ppmi' && variant !== 'sppmi') throw new RangeError(`${who}: variant must be 'pmi', 'ppmi' or 'sppmi', got '${String(variant)}'`);
  if (!(shift >= 1) || !Number.isFinite(shift)) throw new RangeError(`${who}: shift (k) must be a finite number >= 1, got ${shift}`);
  if (opts.shift !== undefined && variant !== 'sppmi' && shift !== 1) throw new RangeError(`${who}: shift applies to variant 'sppmi' only (got variant '${variant}')`);
  if (!(minCount >= 0) || !Number.isFinite(minCount)) throw new RangeError(`${who}: minCount must be a finite number >= 0, got ${minCount}`);
  validateCsr(c, `${who}: counts`);
  const n = c.indptr[c.rows];
  for (let p = 0; p < n; p++) if (!(c.values[p] >= 0)) throw new RangeError(`${who}: counts must be >= 0, entry ${p} is ${c.values[p]}`);
  const marg = pmiMarginals(c, alpha);
  return { alpha, variant, minCount, offset: marg.logZ - (variant === 'sppmi' ? Math.log(shift) : 0), marg };
}

/** log k for the small integer counts that dominate co-occurrence matrices. */
const LOG_TABLE_SIZE = 1 << 16;
let logTable: Float64Array | undefined;
function smallLogs(): Float64Array {
  if (!logTable) {
    logTable = new Float64Array(LOG_TABLE_SIZE);
    logTable[0] = -Infinity;
    for (let k = 1; k < LOG_TABLE_SIZE; k++) logTable[k] = Math.log(k);
  }
  return logTable;
}

/**
 * value_ij = log C_ij + rowTerm[i] − colTerm[j], filtered as the variant says; the pattern of
 * C (canonical in, canonical out).
 */
function pmiRows(c: CsrMatrix, s: PmiSetup, rowTerm: Float64Array, colTerm: Float64Array): CsrMatrix {
  const n = c.indptr[c.rows];
  const positive = s.variant !== 'pmi';
  const minCount = s.minCount;
  const logs = smallLogs();
  const indptr = new Int32Array(c.rows + 1);
  const indices = new Int32Array(n);
  const values = new Float32Array(n);
  const ci = c.indices;
  const cv = c.values;
  let w = 0;
  for (let i = 0; i < c.rows; i++) {
    const base = rowTerm[i];
    const end = c.indptr[i + 1];
    for (let p = c.indptr[i]; p < end; p++) {
      const cij = cv[p];
      if (cij <= 0 || cij < minCount) continue;
      const j = ci[p];
      const k = cij | 0;
      const v = (k === cij && k < LOG_TABLE_SIZE ? logs[k] : Math.log(cij)) - colTerm[j] + base;
      if (positive ? !(v > 0) : v === 0) continue;
      indices[w] = j;
      values[w++] = v;
    }
    indptr[i + 1] = w;
  }
  return { rows: c.rows, cols: c.cols, indptr, indices: w === n ? indices : indices.slice(0, w), values: w === n ? values : values.slice(0, w) };
}

const logOrZero = (x: number) => (x > 0 ? Math.log(x) : 0);

/**
 * The (shifted / positive) PMI matrix of the counts `c` (any non-negative CSR; canonical in,
 * canonical out). Throws a RangeError for negative counts or bad options.
 */
export function pmi(c: CsrMatrix, opts: PmiOptions = {}): CsrMatrix {
  const s = setup(c, opts, 'pmi');
  const rowTerm = Float64Array.from(s.marg.rows, (r) => s.offset - logOrZero(r));
  const colTerm = Float64Array.from(s.marg.cols, (x) => s.alpha * logOrZero(x));
  return pmiRows(c, s, rowTerm, colTerm);
}

/**
 * PMI of symmetric counts (co-occurrence) together with its transpose, both canonical, built
 * row by row from the same pattern: cheaper than `transposeCsr` (no scatter) for the Aᵀ
 * products of the randomized SVD (`rsvd(a, { transposed })`). With α < 1 PMI is not symmetric:
 * PMIᵀ_ij = log C_ij − log r_j − α·log r_i + log Σ r^α. Throws a RangeError when the counts
 * are not square or their row and column sums differ (not symmetric).
 */
export function pmiWithTranspose(c: CsrMatrix, opts: PmiOptions = {}): { pmi: CsrMatrix; transpose: CsrMatrix } {
  if (c.rows !== c.cols) throw new RangeError(`pmiWithTranspose: counts must be square, got ${c.rows}×${c.cols}`);
  const s = setup(c, opts, 'pmiWithTranspose');
  const { rows, cols } = s.marg;
  for (let i = 0; i < c.rows; i++) {
    if (Math.abs(rows[i] - cols[i]) > 1e-6 * Math.max(1, rows[i])) throw new RangeError(`pmiWithTranspose: counts are not symmetric (row ${i} sums to ${rows[i]}, column ${i} to ${cols[i]})`);
  }
  const logR = Float64Array.from(rows, logOrZero);
  const a = pmiRows(c, s, logR.map((l) => s.offset - l), logR.map((l) => s.alpha * l));
  const at = pmiRows(c, s, logR.map((l) => s.offset - s.alpha * l), logR);
  return { pmi: a, transpose: at };
}
