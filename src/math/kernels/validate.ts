/**
 * Argument checks shared by both kernel implementations: shapes are non-negative integers,
 * arrays have the right type and are long enough, index arrays stay inside their tables and
 * CSR row pointers are non-decreasing. A bad call throws before any kernel runs (the native
 * kernels trust their arguments), with a message naming the kernel and argument.
 */
import type { AdamOptions, Kernels } from './types.js';

function fail(kernel: string, msg: string): never {
  throw new RangeError(`kernels.${kernel}: ${msg}`);
}

function dim(kernel: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) fail(kernel, `${name} must be an integer in 0..2^31-1, got ${v}`);
}

function num(kernel: string, name: string, v: number): void {
  if (typeof v !== 'number') throw new TypeError(`kernels.${kernel}: ${name} must be a number, got ${typeof v}`);
}

function describe(a: unknown): string {
  return (a as { constructor?: { name?: string } } | null)?.constructor?.name ?? typeof a;
}

function f32(kernel: string, name: string, a: Float32Array | null, need: number, nullable = false): void {
  if (a === null || a === undefined) {
    if (nullable) return;
    throw new TypeError(`kernels.${kernel}: ${name} must be a Float32Array, got ${a}`);
  }
  if (!(a instanceof Float32Array)) throw new TypeError(`kernels.${kernel}: ${name} must be a Float32Array, got ${describe(a)}`);
  if (a.length < need) fail(kernel, `${name} has length ${a.length}, needs at least ${need}`);
}

function i32(kernel: string, name: string, a: Int32Array | null, need: number, nullable = false): void {
  if (a === null || a === undefined) {
    if (nullable) return;
    throw new TypeError(`kernels.${kernel}: ${name} must be an Int32Array, got ${a}`);
  }
  if (!(a instanceof Int32Array)) throw new TypeError(`kernels.${kernel}: ${name} must be an Int32Array, got ${describe(a)}`);
  if (a.length < need) fail(kernel, `${name} has length ${a.length}, needs at least ${need}`);
}

/** First i in [from, to) with idx[i] outside 0..limit-1, or -1. */
export type RangeScan = (idx: Int32Array, from: number, to: number, limit: number) => number;

export const firstOutOfRangeTs: RangeScan = (idx, from, to, limit) => {
  for (let i = from; i < to; i++) {
    const v = idx[i];
    if (v < 0 || v >= limit) return i;
  }
  return -1;
};

/** Every idx[from..to) in 0..limit-1. */
function inRange(scan: RangeScan, kernel: string, name: string, idx: Int32Array, from: number, to: number, limit: number): void {
  if (to <= from) return;
  const i = scan(idx, from, to, limit);
  if (i >= 0) fail(kernel, `${name}[${i}] = ${idx[i]} is outside 0..${limit - 1}`);
}

/** CSR structure: indptr (rows+1, non-decreasing, inside indices), indices in 0..cols-1. */
function csr(scan: RangeScan, kernel: string, rows: number, cols: number, indptr: Int32Array, indices: Int32Array, values: Float32Array | null, valuesName = 'values'): void {
  i32(kernel, 'indptr', indptr, rows + 1);
  if (indptr[0] < 0) fail(kernel, `indptr[0] = ${indptr[0]} is negative`);
  for (let r = 0; r < rows; r++) if (indptr[r + 1] < indptr[r]) fail(kernel, `indptr is decreasing at row ${r} (${indptr[r]} > ${indptr[r + 1]})`);
  const end = indptr[rows];
  i32(kernel, 'indices', indices, end);
  if (values !== null) f32(kernel, valuesName, values, end);
  inRange(scan, kernel, 'indices', indices, indptr[0], end, cols);
}

/** Rows of a table referenced through an optional index (or 0..n-1): returns rows needed. */
function rowsNeeded(scan: RangeScan, kernel: string, name: string, idx: Int32Array | null, n: number, tableRows: number): number {
  if (idx === null || idx === undefined) return n;
  i32(kernel, name, idx, n);
  inRange(scan, kernel, name, idx, 0, n, tableRows);
  return 0;
}

/** Rows a table of `len` floats holds at width d (unbounded when d = 0). */
function tableRows(a: Float32Array, d: number): number {
  return d === 0 ? 0x7fffffff : Math.floor(a.length / d);
}

function overlaps(x: ArrayBufferView, y: ArrayBufferView | null): boolean {
  if (!y || x.buffer !== y.buffer) return false;
  return x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}

function distinct(kernel: string, outName: string, out: ArrayBufferView, inputs: Record<string, ArrayBufferView | null>): void {
  for (const [name, a] of Object.entries(inputs)) if (overlaps(out, a)) fail(kernel, `${outName} overlaps ${name} (outputs must not alias inputs)`);
}

function adamOptions(o: AdamOptions): Required<AdamOptions> {
  if (!o || typeof o !== 'object') throw new TypeError('kernels.adamRows: opts must be an object');
  const r = { lr: o.lr, step: o.step, beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.999, eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0 };
  if (!Number.isFinite(r.lr)) fail('adamRows', `lr must be a finite number, got ${r.lr}`);
  if (!(r.step >= 1)) fail('adamRows', `step must be >= 1, got ${r.step}`);
  if (!(r.beta1 >= 0 && r.beta1 < 1)) fail('adamRows', `beta1 must be in [0, 1), got ${r.beta1}`);
  if (!(r.beta2 >= 0 && r.beta2 < 1)) fail('adamRows', `beta2 must be in [0, 1), got ${r.beta2}`);
  if (!(r.eps >= 0)) fail('adamRows', `eps must be >= 0, got ${r.eps}`);
  if (!Number.isFinite(r.weightDecay)) fail('adamRows', `weightDecay must be a finite number, got ${r.weightDecay}`);
  return r;
}

/**
 * `impl` behind argument checks. `rangeScan` finds out-of-range indices (default: a JavaScript
 * loop; the native kernels pass the addon's, as the check is a good part of a call's time).
 */
export function withChecks(impl: Kernels, rangeScan: RangeScan = firstOutOfRangeTs): Kernels {
  const S = rangeScan;
  const checked: Kernels = {
    name: impl.name,

    sgemm(transA, transB, m, n, k, alpha, a, b, beta, c) {
      const K = 'sgemm';
      dim(K, 'm', m); dim(K, 'n', n); dim(K, 'k', k); num(K, 'alpha', alpha); num(K, 'beta', beta);
      f32(K, 'a', a, m * k); f32(K, 'b', b, k * n); f32(K, 'c', c, m * n);
      distinct(K, 'c', c, { a, b });
      impl.sgemm(Boolean(transA), Boolean(transB), m, n, k, alpha, a, b, beta, c);
    },

    csrmm(rows, cols, indptr, indices, values, n, alpha, b, beta, c) {
      const K = 'csrmm';
      dim(K, 'rows', rows); dim(K, 'cols', cols); dim(K, 'n', n); num(K, 'alpha', alpha); num(K, 'beta', beta);
      csr(S, K, rows, cols, indptr, indices, values);
      f32(K, 'b', b, cols * n); f32(K, 'c', c, rows * n);
      distinct(K, 'c', c, { b, values });
      impl.csrmm(rows, cols, indptr, indices, values, n, alpha, b, beta, c);
    },

    mmcsr(m, rows, cols, indptr, indices, values, alpha, a, beta, c) {
      const K = 'mmcsr';
      dim(K, 'm', m); dim(K, 'rows', rows); dim(K, 'cols', cols); num(K, 'alpha', alpha); num(K, 'beta', beta);
      csr(S, K, rows, cols, indptr, indices, values);
      f32(K, 'a', a, m * rows); f32(K, 'c', c, m * cols);
      distinct(K, 'c', c, { a, values });
      impl.mmcsr(m, rows, cols, indptr, indices, values, alpha, a, beta, c);
    },

    dotRows(n, d, x, xIdx, y, yIdx, out) {
      const K = 'dotRows';
      dim(K, 'n', n); dim(K, 'd', d);
      f32(K, 'x', x, 0); f32(K, 'y', y, 0);
      f32(K, 'x', x, rowsNeeded(S, K, 'xIdx', xIdx, n, tableRows(x, d)) * d);
      f32(K, 'y', y, rowsNeeded(S, K, 'yIdx', yIdx, n, tableRows(y, d)) * d);
      f32(K, 'out', out, n);
      distinct(K, 'out', out, { x, y });
      impl.dotRows(n, d, x, xIdx ?? null, y, yIdx ?? null, out);
    },

    axpyRows(n, d, alpha, x, xIdx, y, yIdx) {
      const K = 'axpyRows';
      dim(K, 'n', n); dim(K, 'd', d);
      if (typeof alpha !== 'number') f32(K, 'alpha', alpha, n);
      f32(K, 'x', x, 0); f32(K, 'y', y, 0);
      f32(K, 'x', x, rowsNeeded(S, K, 'xIdx', xIdx, n, tableRows(x, d)) * d);
      f32(K, 'y', y, rowsNeeded(S, K, 'yIdx', yIdx, n, tableRows(y, d)) * d);
      distinct(K, 'y', y, { x, alpha: typeof alpha === 'number' ? null : alpha });
      impl.axpyRows(n, d, alpha, x, xIdx ?? null, y, yIdx ?? null);
    },

    embeddingBag(bags, d, indptr, indices, weights, table, mode, out) {
      const K = 'embeddingBag';
      dim(K, 'bags', bags); dim(K, 'd', d);
      if (mode !== 'sum' && mode !== 'mean') fail(K, `mode must be 'sum' or 'mean', got ${String(mode)}`);
      f32(K, 'table', table, 0);
      csr(S, K, bags, tableRows(table, d), indptr, indices, weights ?? null, 'weights');
      f32(K, 'out', out, bags * d);
      distinct(K, 'out', out, { table, weights: weights ?? null });
      impl.embeddingBag(bags, d, indptr, indices, weights ?? null, table, mode, out);
    },

    embeddingBagBackward(bags, d, indptr, indices, weights, gradOut, mode, gradTable) {
      const K = 'embeddingBagBackward';
      dim(K, 'bags', bags); dim(K, 'd', d);
      if (mode !== 'sum' && mode !== 'mean') fail(K, `mode must be 'sum' or 'mean', got ${String(mode)}`);
      f32(K, 'gradTable', gradTable, 0);
      csr(S, K, bags, tableRows(gradTable, d), indptr, indices, weights ?? null, 'weights');
      f32(K, 'gradOut', gradOut, bags * d);
      distinct(K, 'gradTable', gradTable, { gradOut, weights: weights ?? null });
      impl.embeddingBagBackward(bags, d, indptr, indices, weights ?? null, gradOut, mode, gradTable);
    },

    sampledScores(nUsers, d, users, nSampled, itemIds, table, bias, out) {
      const K = 'sampledScores';
      dim(K, 'nUsers', nUsers); dim(K, 'd', d); dim(K, 'nSampled', nSampled);
      f32(K, 'users', users, nUsers * d); f32(K, 'table', table, 0);
      i32(K, 'itemIds', itemIds, nSampled);
      let limit = tableRows(table, d);
      if (bias) {
        f32(K, 'bias', bias, 0);
        limit = Math.min(limit, bias.length);
      }
      inRange(S, K, 'itemIds', itemIds, 0, nSampled, limit);
      f32(K, 'out', out, nUsers * nSampled);
      distinct(K, 'out', out, { users, table, bias: bias ?? null });
      impl.sampledScores(nUsers, d, users, nSampled, itemIds, table, bias ?? null, out);
    },

    sampledScoresBackward(nUsers, d, users, nSampled, itemIds, table, gradScores, gradUsers, gradSampled, gradBias) {
      const K = 'sampledScoresBackward';
      dim(K, 'nUsers', nUsers); dim(K, 'd', d); dim(K, 'nSampled', nSampled);
      f32(K, 'users', users, nUsers * d); f32(K, 'table', table, 0);
      i32(K, 'itemIds', itemIds, nSampled);
      inRange(S, K, 'itemIds', itemIds, 0, nSampled, tableRows(table, d));
      f32(K, 'gradScores', gradScores, nUsers * nSampled);
      f32(K, 'gradUsers', gradUsers, nUsers * d, true);
      f32(K, 'gradSampled', gradSampled, nSampled * d, true);
      f32(K, 'gradBias', gradBias, nSampled, true);
      const ins = { users, table, gradScores };
      const outs = { gradUsers: gradUsers ?? null, gradSampled: gradSampled ?? null, gradBias: gradBias ?? null };
      for (const [name, o] of Object.entries(outs)) if (o) distinct(K, name, o, { ...ins, ...outs, [name]: null });
      impl.sampledScoresBackward(nUsers, d, users, nSampled, itemIds, table, gradScores, outs.gradUsers, outs.gradSampled, outs.gradBias);
    },

    adamRows(n, d, rows, grad, param, m, v, opts) {
      const K = 'adamRows';
      dim(K, 'n', n); dim(K, 'd', d);
      const o = adamOptions(opts);
      f32(K, 'param', param, 0); f32(K, 'm', m, 0); f32(K, 'v', v, 0);
      const limit = Math.min(tableRows(param, d), tableRows(m, d), tableRows(v, d));
      const need = rowsNeeded(S, K, 'rows', rows, n, limit) * d;
      f32(K, 'param', param, need); f32(K, 'm', m, need); f32(K, 'v', v, need);
      f32(K, 'grad', grad, n * d);
      distinct(K, 'param', param, { grad, m, v });
      distinct(K, 'm', m, { grad, v });
      distinct(K, 'v', v, { grad });
      impl.adamRows(n, d, rows ?? null, grad, param, m, v, o);
    },

    bprPairs(rows, n, s, posPtr, pos, scale, gradS, gradPos, wantLoss) {
      const K = 'bprPairs';
      dim(K, 'rows', rows); dim(K, 'n', n);
      f32(K, 's', s, rows * n);
      i32(K, 'posPtr', posPtr, rows + 1);
      for (let r = 0; r < rows; r++) if (posPtr[r + 1] < posPtr[r]) fail(K, `posPtr is decreasing at row ${r}`);
      if (rows > 0 && posPtr[0] < 0) fail(K, `posPtr[0] = ${posPtr[0]} is negative`);
      f32(K, 'pos', pos, posPtr[rows]);
      f32(K, 'gradS', gradS, rows * n);
      f32(K, 'gradPos', gradPos, posPtr[rows]);
      if (!Number.isFinite(scale)) fail(K, `scale must be finite, got ${scale}`);
      return impl.bprPairs(rows, n, s, posPtr, pos, scale, gradS, gradPos, wantLoss);
    },

    topk(rows, n, scores, k, exclIndptr, exclIndices, outIdx, outScores) {
      const K = 'topk';
      dim(K, 'rows', rows); dim(K, 'n', n); dim(K, 'k', k);
      f32(K, 'scores', scores, rows * n);
      if ((exclIndptr == null) !== (exclIndices == null)) fail(K, 'exclIndptr and exclIndices must both be given or both be null');
      if (exclIndptr && exclIndices) {
        i32(K, 'exclIndptr', exclIndptr, rows + 1);
        if (exclIndptr[0] < 0) fail(K, `exclIndptr[0] = ${exclIndptr[0]} is negative`);
        for (let r = 0; r < rows; r++) if (exclIndptr[r + 1] < exclIndptr[r]) fail(K, `exclIndptr is decreasing at row ${r}`);
        i32(K, 'exclIndices', exclIndices, exclIndptr[rows]);
      }
      i32(K, 'outIdx', outIdx, rows * k); f32(K, 'outScores', outScores, rows * k);
      impl.topk(rows, n, scores, k, exclIndptr ?? null, exclIndices ?? null, outIdx, outScores);
    },
  };
  return checked;
}
