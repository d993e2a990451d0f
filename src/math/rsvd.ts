/**
 * Randomized SVD of a sparse matrix (Halko, Martinsson & Tropp 2011, Algorithm 4.4: randomized
 * subspace iteration), the pre-training step of the LED paper (§5.1).
 *
 * With l = rank + oversample columns:
 *   1. Y = A·Ω for a Gaussian Ω (cols × l); Q = orth(Y)                       (range finder)
 *   2. q times: Q' = orth(Aᵀ·Q); Q = orth(A·Q')         (power iterations, re-orthonormalised)
 *   3. Bᵀ = Aᵀ·Q (cols × l) = Q_b·R (QR); R = U_r·Σ·V_rᵀ (small Jacobi SVD)
 *   4. A ≈ Q·B = (Q·V_r)·Σ·(Q_b·U_r)ᵀ: U = Q·V_r, V = Q_b·U_r, first `rank` columns.
 *
 * Every O(nnz·l) product is a `kernels.csrmm` (Aᵀ products on an explicit transpose: given by
 * the caller as `transposed`, e.g. from `pmiWithTranspose`, or built once; or through
 * `kernels.mmcsr` with `transpose: 'mmcsr'` to save its memory, ~10× slower; none at all for a
 * `symmetric` A), every O(n·l²) step a `kernels.sgemm` (CholeskyQR2 orthonormalisation, with a
 * Householder fallback for ill-conditioned or rank-deficient blocks). The native kernels are
 * multithreaded, so this runs on every core.
 *
 * Measured (2 shared cores, native kernels): d = 128 on a 20K×20K matrix with 10M non-zeros
 * in ~1 s (bench/kernels.ts); d = 64 on the 100K-item PPMI matrix of 50M synthetic events
 * (34M non-zeros) in ~8 s (bench/retrieval.ts --dataset synthetic).
 */
import { kernels } from './kernels/index.js';
import { svdSmall, tallSkinnyQr } from './linalg.js';
import { Rng } from './rng.js';
import { transposeCsr, validateCsr, type CsrMatrix } from './sparse.js';
import type { Progress } from '../util/progress.js';

export interface RsvdOptions {
  /** Number of singular triplets wanted (d). */
  rank: number;
  /**
   * Extra random columns of the range finder (default 10). The sketch width rank + oversample
   * is rounded up to a multiple of 16 (the kernels' vector width; capped by the matrix size):
   * csrmm runs ~1.3× faster at l = 80 than at l = 74, and the extra columns only add accuracy.
   */
  oversample?: number;
  /** Power (subspace) iterations (default 3). More help slowly decaying spectra. */
  powerIterations?: number;
  /** A is symmetric (Aᵀ = A): Aᵀ products reuse A (no transpose built). Needs a square A. */
  symmetric?: boolean;
  /**
   * How Aᵀ·X is computed when A is not symmetric: 'explicit' (default) builds Aᵀ once (as much
   * memory as A) and uses csrmm, ~10× faster than 'mmcsr', which uses kernels.mmcsr on A.
   */
  transpose?: 'explicit' | 'mmcsr';
  /** Aᵀ when the caller already has it (e.g. from `pmiWithTranspose`): used as is. */
  transposed?: CsrMatrix;
  /** Also return the right singular vectors V (default false). */
  computeV?: boolean;
  /** Seed of the Gaussian test matrix (default 1): equal seeds give equal results. */
  seed?: number;
  progress?: Progress;
}

export interface RsvdResult {
  rows: number;
  cols: number;
  rank: number;
  /** rows × rank, row-major: the left singular vectors (orthonormal columns). */
  u: Float32Array;
  /** rank singular values, descending. */
  s: Float64Array;
  /** cols × rank, row-major: the right singular vectors, when `computeV`. */
  v?: Float32Array;
  /** What the run did. */
  stats: {
    seconds: number;
    /** Sparse products (each nnz × l multiply-adds). */
    products: number;
    /** Orthonormalisations by CholeskyQR2 / by Householder. */
    qrCholesky: number;
    qrHouseholder: number;
    /** Columns of the sketch (rank + oversample rounded up to a multiple of 16, capped by the matrix size). */
    sketch: number;
  };
}

/** Row-major transpose of an r×c Float32 matrix into `out` (c×r). */
function transposeDense(a: Float32Array, r: number, c: number, out: Float32Array): Float32Array {
  const B = 32;
  for (let i0 = 0; i0 < r; i0 += B) {
    const i1 = Math.min(r, i0 + B);
    for (let j0 = 0; j0 < c; j0 += B) {
      const j1 = Math.min(c, j0 + B);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[j * r + i] = a[i * c + j];
    }
  }
  return out;
}

/**
 * Randomized SVD of the CSR matrix `a`: the `rank` leading singular values and left (and
 * optionally right) singular vectors. Deterministic for a given seed (the kernels' results do
 * not depend on the thread count). Throws a RangeError naming the option for bad input.
 */
export function rsvd(a: CsrMatrix, opts: RsvdOptions): RsvdResult {
  const t0 = performance.now();
  const rank = opts.rank;
  const oversample = opts.oversample ?? 10;
  const iters = opts.powerIterations ?? 3;
  const symmetric = opts.symmetric ?? false;
  const transposeMode = opts.transpose ?? 'explicit';
  validateCsr(a, 'rsvd: a');
  const { rows, cols } = a;
  const minDim = Math.min(rows, cols);
  if (!Number.isInteger(rank) || rank < 1 || rank > minDim) throw new RangeError(`rsvd: rank must be an integer in [1, min(rows, cols) = ${minDim}], got ${rank}`);
  if (!Number.isInteger(oversample) || oversample < 0) throw new RangeError(`rsvd: oversample must be a non-negative integer, got ${oversample}`);
  if (!Number.isInteger(iters) || iters < 0) throw new RangeError(`rsvd: powerIterations must be a non-negative integer, got ${iters}`);
  if (symmetric && rows !== cols) throw new RangeError(`rsvd: symmetric needs a square matrix, got ${rows}×${cols}`);
  if (transposeMode !== 'explicit' && transposeMode !== 'mmcsr') throw new RangeError(`rsvd: transpose must be 'explicit' or 'mmcsr', got '${String(transposeMode)}'`);
  const l = Math.min(Math.ceil((rank + oversample) / 16) * 16, minDim);
  const progress = opts.progress;
  const totalSteps = 2 * iters + 2;
  let steps = 0;
  progress?.update(0, totalSteps);
  const stats = { seconds: 0, products: 0, qrCholesky: 0, qrHouseholder: 0, sketch: l };

  // Products with A and Aᵀ.
  if (opts.transposed) {
    validateCsr(opts.transposed, 'rsvd: transposed');
    if (opts.transposed.rows !== cols || opts.transposed.cols !== rows) {
      throw new RangeError(`rsvd: transposed must be ${cols}×${rows} (Aᵀ), got ${opts.transposed.rows}×${opts.transposed.cols}`);
    }
  }
  const at = symmetric ? a : opts.transposed ?? (transposeMode === 'explicit' ? transposeCsr(a) : null);
  const mulA = (x: Float32Array, out: Float32Array) => {
    kernels.csrmm(rows, cols, a.indptr, a.indices, a.values, l, 1, x, 0, out);
    stats.products++;
    progress?.update(++steps);
  };
  let xt: Float32Array | undefined;
  let zt: Float32Array | undefined;
  const mulAt = (x: Float32Array, out: Float32Array) => {
    if (at) kernels.csrmm(cols, rows, at.indptr, at.indices, at.values, l, 1, x, 0, out);
    else {
      xt ??= new Float32Array(l * rows);
      zt ??= new Float32Array(l * cols);
      transposeDense(x, rows, l, xt);
      kernels.mmcsr(l, rows, cols, a.indptr, a.indices, a.values, 1, xt, 0, zt);
      transposeDense(zt, l, cols, out);
    }
    stats.products++;
    progress?.update(++steps);
  };
  const orth = (y: Float32Array, n: number) => {
    const r = tallSkinnyQr(y, n, l);
    if (r.method === 'cholesky') stats.qrCholesky++;
    else stats.qrHouseholder++;
    return r;
  };

  // 1. Range finder.
  const rng = new Rng(opts.seed ?? 1);
  const omega = new Float32Array(cols * l);
  rng.fillNormal(omega);
  const y = new Float32Array(rows * l);
  const z = new Float32Array(cols * l);
  mulA(omega, y);
  let q = orth(y, rows).q;
  // 2. Power iterations.
  for (let it = 0; it < iters; it++) {
    mulAt(q, z);
    const qz = orth(z, cols).q;
    mulA(qz, y);
    q = orth(y, rows).q;
  }
  // 3. Bᵀ = Aᵀ·Q = Q_b·R, R = U_r Σ V_rᵀ.
  mulAt(q, z);
  const qrB = orth(z, cols);
  const small = svdSmall(qrB.r, l, l);
  // 4. U = Q·V_r[:, :rank], V = Q_b·U_r[:, :rank].
  const pick = (m: Float64Array) => {
    const out = new Float32Array(l * rank);
    for (let i = 0; i < l; i++) for (let j = 0; j < rank; j++) out[i * rank + j] = m[i * l + j];
    return out;
  };
  const u = new Float32Array(rows * rank);
  kernels.sgemm(false, false, rows, rank, l, 1, q, pick(small.v), 0, u);
  let v: Float32Array | undefined;
  if (opts.computeV) {
    v = new Float32Array(cols * rank);
    kernels.sgemm(false, false, cols, rank, l, 1, qrB.q, pick(small.u), 0, v);
  }
  // Deterministic signs: the largest-magnitude entry of each column of U is positive.
  for (let j = 0; j < rank; j++) {
    let best = 0;
    for (let i = 0; i < rows; i++) if (Math.abs(u[i * rank + j]) > Math.abs(best)) best = u[i * rank + j];
    if (best < 0) {
      for (let i = 0; i < rows; i++) u[i * rank + j] = -u[i * rank + j];
      if (v) for (let i = 0; i < cols; i++) v[i * rank + j] = -v[i * rank + j];
    }
  }
  progress?.done();
  stats.seconds = (performance.now() - t0) / 1000;
  return { rows, cols, rank, u, s: small.s.slice(0, rank), ...(v ? { v } : {}), stats };
}
