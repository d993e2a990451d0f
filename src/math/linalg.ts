/**
 * Dense linear algebra for the randomized SVD and friends: a stable QR of tall-skinny matrices,
 * a fast CholeskyQR2 orthonormalisation through `kernels.sgemm` with a Householder fallback,
 * and small dense symmetric eigen / singular value decompositions by Jacobi rotations.
 *
 * Matrices are row-major. Factorisations run in Float64 internally; tall factors that feed the
 * kernels (Q of a QR) come back in the input's precision.
 */
import { kernels } from './kernels/index.js';

export type DenseMatrix = Float32Array | Float64Array;

function checkShape(a: ArrayLike<number>, rows: number, cols: number, who: string, name = 'a'): void {
  if (!Number.isInteger(rows) || rows < 0) throw new RangeError(`${who}: rows must be a non-negative integer, got ${rows}`);
  if (!Number.isInteger(cols) || cols < 0) throw new RangeError(`${who}: cols must be a non-negative integer, got ${cols}`);
  if (a.length < rows * cols) throw new RangeError(`${who}: ${name} has ${a.length} entries, expected ${rows}×${cols} = ${rows * cols}`);
}

/** A thin QR factorisation: A (n×k) = Q (n×k, orthonormal columns) · R (k×k, upper triangular). */
export interface QrResult<T extends DenseMatrix> {
  /** n×k row-major, orthonormal columns. */
  q: T;
  /** k×k row-major upper triangular, non-negative diagonal. */
  r: Float64Array;
}

/**
 * Householder QR of a tall n×k matrix (n >= k), in Float64. Backward stable: Q is orthonormal
 * to working precision whatever the conditioning of A, rank-deficient A included (its R then
 * has zeros on the diagonal and Q still has orthonormal columns). R's diagonal is made
 * non-negative. O(4nk²) flops; Q has the precision of the input array.
 */
export function householderQr<T extends DenseMatrix>(a: T, n: number, k: number): QrResult<T> {
  checkShape(a, n, k, 'householderQr');
  if (k > n) throw new RangeError(`householderQr: needs rows >= cols, got ${n}×${k}`);
  // Column-major Float64 working copy: column c is w[c*n .. c*n+n).
  const w = new Float64Array(n * k);
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) w[c * n + i] = a[i * k + c];
  const tau = new Float64Array(k);
  const diag = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const cj = j * n;
    let norm2 = 0;
    for (let i = j; i < n; i++) norm2 += w[cj + i] * w[cj + i];
    const x0 = w[cj + j];
    const norm = Math.sqrt(norm2);
    if (norm === 0) {
      tau[j] = 0;
      diag[j] = 0;
      continue;
    }
    const alpha = x0 > 0 ? -norm : norm; // H x = alpha e_1, no cancellation in x0 - alpha
    w[cj + j] = x0 - alpha; // v (stored in place), v_0 = x0 - alpha
    const vnorm2 = norm2 - x0 * x0 + (x0 - alpha) * (x0 - alpha);
    tau[j] = vnorm2 > 0 ? 2 / vnorm2 : 0;
    diag[j] = alpha;
    const t = tau[j];
    for (let c = j + 1; c < k; c++) {
      const cc = c * n;
      let s = 0;
      for (let i = j; i < n; i++) s += w[cj + i] * w[cc + i];
      s *= t;
      if (s !== 0) for (let i = j; i < n; i++) w[cc + i] -= s * w[cj + i];
    }
  }
  // R: diagonal from `diag`, above it the transformed columns.
  const r = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    r[j * k + j] = diag[j];
    for (let c = j + 1; c < k; c++) r[j * k + c] = w[c * n + j];
  }
  // Q = H_0 H_1 ... H_{k-1} [I_k; 0], accumulated backwards (column-major k columns).
  const q = new Float64Array(n * k);
  for (let c = 0; c < k; c++) q[c * n + c] = 1;
  for (let j = k - 1; j >= 0; j--) {
    const t = tau[j];
    if (t === 0) continue;
    const cj = j * n;
    for (let c = j; c < k; c++) {
      const cc = c * n;
      let s = 0;
      for (let i = j; i < n; i++) s += w[cj + i] * q[cc + i];
      s *= t;
      if (s !== 0) for (let i = j; i < n; i++) q[cc + i] -= s * w[cj + i];
    }
  }
  // Non-negative diagonal of R: flip column j of Q and row j of R where R_jj < 0.
  for (let j = 0; j < k; j++) {
    if (r[j * k + j] < 0) {
      for (let c = j; c < k; c++) r[j * k + c] = -r[j * k + c];
      for (let i = 0; i < n; i++) q[j * n + i] = -q[j * n + i];
    }
  }
  const out = (a instanceof Float32Array ? new Float32Array(n * k) : new Float64Array(n * k)) as T;
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) out[i * k + c] = q[c * n + i];
  return { q: out, r };
}

/**
 * Cholesky factor of a symmetric positive-definite k×k matrix (Float64): upper R with G = RᵀR,
 * or null when a pivot is not clearly positive (d_j² <= relTol · G_jj, i.e. column j is within
 * a relative distance sqrt(relTol) of the span of the previous ones).
 */
export function choleskyUpper(g: Float64Array, k: number, relTol = 0): Float64Array | null {
  checkShape(g, k, k, 'choleskyUpper', 'g');
  const r = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    let d = g[j * k + j];
    for (let p = 0; p < j; p++) d -= r[p * k + j] * r[p * k + j];
    if (!(d > relTol * g[j * k + j]) || !(d > 0)) return null;
    const rjj = Math.sqrt(d);
    r[j * k + j] = rjj;
    for (let c = j + 1; c < k; c++) {
      let s = g[j * k + c];
      for (let p = 0; p < j; p++) s -= r[p * k + j] * r[p * k + c];
      r[j * k + c] = s / rjj;
    }
  }
  return r;
}

/** Inverse of an upper triangular k×k matrix with non-zero diagonal (Float64). */
export function invertUpper(r: Float64Array, k: number): Float64Array {
  checkShape(r, k, k, 'invertUpper', 'r');
  const x = new Float64Array(k * k);
  for (let j = k - 1; j >= 0; j--) {
    const rjj = r[j * k + j];
    if (rjj === 0) throw new RangeError(`invertUpper: zero on the diagonal at ${j}`);
    x[j * k + j] = 1 / rjj;
    for (let c = j + 1; c < k; c++) {
      let s = 0;
      for (let p = j + 1; p <= c; p++) s += r[j * k + p] * x[p * k + c];
      x[j * k + c] = -s / rjj;
    }
  }
  return x;
}

/** C = A·B for Float64 row-major A (m×p), B (p×n). */
export function matmul64(a: Float64Array, b: Float64Array, m: number, p: number, n: number): Float64Array {
  checkShape(a, m, p, 'matmul64', 'a');
  checkShape(b, p, n, 'matmul64', 'b');
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let q = 0; q < p; q++) {
      const x = a[i * p + q];
      if (x === 0) continue;
      const bo = q * n;
      const co = i * n;
      for (let j = 0; j < n; j++) c[co + j] += x * b[bo + j];
    }
  }
  return c;
}

/** Gram matrix YᵀY (k×k, Float64) of a Float32 n×k Y through kernels.sgemm. */
function gram32(y: Float32Array, n: number, k: number, scratch: Float32Array): Float64Array {
  kernels.sgemm(true, false, k, k, n, 1, y, y, 0, scratch);
  const g = new Float64Array(k * k);
  // Symmetrise (the kernel's two triangles can differ in the last bit).
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) g[i * k + j] = 0.5 * (scratch[i * k + j] + scratch[j * k + i]);
  return g;
}

/**
 * CholeskyQR2 of a Float32 n×k matrix through kernels.sgemm (Gram matrix, then Y·R⁻¹, twice):
 * O(4nk²) flops in the fast kernel instead of Householder's TypeScript loops. Succeeds when Y
 * is well conditioned (κ below ~10³ in Float32); returns null otherwise, having checked the
 * orthogonality of its result (max |QᵀQ − I| <= orthTol).
 */
export function choleskyQr2(y: Float32Array, n: number, k: number, orthTol = 1e-4): QrResult<Float32Array> | null {
  checkShape(y, n, k, 'choleskyQr2', 'y');
  if (k > n) throw new RangeError(`choleskyQr2: needs rows >= cols, got ${n}×${k}`);
  if (k === 0) return { q: new Float32Array(0), r: new Float64Array(0) };
  const scratch = new Float32Array(k * k);
  let r: Float64Array | null = null;
  let cur = y;
  let q = new Float32Array(n * k);
  for (let pass = 0; pass < 2; pass++) {
    const g = gram32(cur, n, k, scratch);
    const rp = choleskyUpper(g, k, 1e-5);
    if (!rp) return null;
    const rinv = invertUpper(rp, k);
    const rinv32 = Float32Array.from(rinv);
    const next = pass === 0 ? q : new Float32Array(n * k);
    kernels.sgemm(false, false, n, k, k, 1, cur, rinv32, 0, next);
    r = r ? matmul64(rp, r, k, k, k) : rp;
    cur = next;
    q = next;
  }
  const g = gram32(q, n, k, scratch);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) if (Math.abs(g[i * k + j] - (i === j ? 1 : 0)) > orthTol) return null;
  return { q, r: r! };
}

/**
 * Orthonormalises the columns of a Float32 n×k matrix (n >= k): CholeskyQR2 through the
 * kernels when it is accurate, Householder (always stable, slower) otherwise or when
 * `method: 'householder'`. Returns Q and R with A = Q·R.
 */
export function tallSkinnyQr(y: Float32Array, n: number, k: number, method: 'auto' | 'householder' | 'cholesky' = 'auto'): QrResult<Float32Array> & { method: 'cholesky' | 'householder' } {
  checkShape(y, n, k, 'tallSkinnyQr', 'y');
  if (k > n) throw new RangeError(`tallSkinnyQr: needs rows >= cols, got ${n}×${k}`);
  if (method !== 'householder') {
    const c = choleskyQr2(y, n, k);
    if (c) return { ...c, method: 'cholesky' };
    if (method === 'cholesky') throw new RangeError('tallSkinnyQr: CholeskyQR2 failed (matrix too ill-conditioned); use method auto or householder');
  }
  return { ...householderQr(y, n, k), method: 'householder' };
}

// ---------------------------------------------------------------------------------------------
// Small dense decompositions (Jacobi rotations, Float64)
// ---------------------------------------------------------------------------------------------

/** Eigen-decomposition of a symmetric matrix: A = V·diag(values)·Vᵀ. */
export interface EigenResult {
  /** Eigenvalues, descending. */
  values: Float64Array;
  /** n×n row-major; column j is the unit eigenvector of values[j]. */
  vectors: Float64Array;
}

/**
 * Symmetric eigen-decomposition by cyclic Jacobi rotations (Float64; accurate to a few ulps of
 * the norm; O(n³) per sweep, fine for n up to a few hundred). `a` (n×n row-major) must be
 * symmetric to 1e-8 relative (RangeError otherwise); it is symmetrised before use.
 */
export function symmetricEigen(a: ArrayLike<number>, n: number, maxSweeps = 100): EigenResult {
  checkShape(a, n, n, 'symmetricEigen');
  const m = Float64Array.from({ length: n * n }, (_, q) => a[q]);
  let scale = 0;
  for (let q = 0; q < n * n; q++) scale = Math.max(scale, Math.abs(m[q]));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (Math.abs(m[i * n + j] - m[j * n + i]) > 1e-8 * (scale || 1)) throw new RangeError(`symmetricEigen: a is not symmetric at (${i}, ${j})`);
      m[i * n + j] = m[j * n + i] = 0.5 * (m[i * n + j] + m[j * n + i]);
    }
  }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += m[i * n + j] * m[i * n + j];
    let diag = 0;
    for (let i = 0; i < n; i++) diag += m[i * n + i] * m[i * n + i];
    if (off <= 1e-30 * (diag + off) || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p];
        const aqq = m[q * n + q];
        if (Math.abs(apq) < 1e-300 || Math.abs(apq) <= 1e-18 * Math.sqrt(Math.abs(app * aqq))) {
          m[p * n + q] = m[q * n + p] = 0;
          continue;
        }
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A' = Jᵀ A J on rows/columns p, q.
        for (let r = 0; r < n; r++) {
          const arp = m[r * n + p];
          const arq = m[r * n + q];
          m[r * n + p] = c * arp - s * arq;
          m[r * n + q] = s * arp + c * arq;
        }
        for (let r = 0; r < n; r++) {
          const apr = m[p * n + r];
          const aqr = m[q * n + r];
          m[p * n + r] = c * apr - s * aqr;
          m[q * n + r] = s * apr + c * aqr;
        }
        m[p * n + q] = m[q * n + p] = 0;
        for (let r = 0; r < n; r++) {
          const vrp = v[r * n + p];
          const vrq = v[r * n + q];
          v[r * n + p] = c * vrp - s * vrq;
          v[r * n + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => m[y * n + y] - m[x * n + x] || x - y);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const src = order[j];
    values[j] = m[src * n + src];
    for (let r = 0; r < n; r++) vectors[r * n + j] = v[r * n + src];
  }
  return { values, vectors };
}

/** A thin SVD: A (m×n) = U·diag(s)·Vᵀ with r = min(m, n). */
export interface SvdResult {
  /** m×r row-major, orthonormal columns. */
  u: Float64Array;
  /** r singular values, descending, >= 0. */
  s: Float64Array;
  /** n×r row-major, orthonormal columns. */
  v: Float64Array;
}

/**
 * Thin SVD of a small dense matrix by one-sided Jacobi (Hestenes) rotations in Float64: high
 * relative accuracy, O(mn·min(m,n)) per sweep; meant for min(m, n) up to a few hundred. The
 * columns of U for zero singular values are completed to an orthonormal set.
 */
export function svdSmall(a: ArrayLike<number>, m: number, n: number, maxSweeps = 60): SvdResult {
  checkShape(a, m, n, 'svdSmall');
  if (m < n) {
    const at = new Float64Array(n * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) at[j * m + i] = a[i * n + j];
    const t = svdSmall(at, n, m, maxSweeps);
    return { u: t.v, s: t.s, v: t.u };
  }
  // m >= n. Columns of A (column-major, contiguous) are rotated until mutually orthogonal.
  const w = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) w[j * m + i] = a[i * n + j];
  const vv = new Float64Array(n * n); // column-major: column j at vv[j*n..]
  for (let j = 0; j < n; j++) vv[j * n + j] = 1;
  const norms = new Float64Array(n);
  const eps = 1e-15;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let rotated = false;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += w[j * m + i] * w[j * m + i];
      norms[j] = s;
    }
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const po = p * m;
        const qo = q * m;
        const alpha = norms[p];
        const beta = norms[q];
        let gamma = 0;
        for (let i = 0; i < m; i++) gamma += w[po + i] * w[qo + i];
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const sn = c * t;
        rotateRows(w, po, qo, m, c, sn);
        norms[p] = alpha - t * gamma;
        norms[q] = beta + t * gamma;
        rotateRows(vv, p * n, q * n, n, c, sn);
      }
    }
    if (!rotated) break;
  }
  const sv = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += w[j * m + i] * w[j * m + i];
    sv[j] = Math.sqrt(s);
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((x, y) => sv[y] - sv[x] || x - y);
  const s = new Float64Array(n);
  const u = new Float64Array(m * n);
  const v = new Float64Array(n * n);
  const tiny = (sv[order[0]] || 0) * m * 1e-15;
  const zeroCols: number[] = [];
  for (let j = 0; j < n; j++) {
    const src = order[j];
    s[j] = sv[src];
    for (let i = 0; i < n; i++) v[i * n + j] = vv[src * n + i];
    if (sv[src] > tiny && sv[src] > 0) for (let i = 0; i < m; i++) u[i * n + j] = w[src * m + i] / sv[src];
    else zeroCols.push(j);
  }
  if (zeroCols.length) completeColumns(u, m, n, zeroCols);
  return { u, s, v };
}

/**
 * Fills the listed (zero) columns of the m×n row-major `u` with unit vectors orthogonal to all
 * other columns (Gram–Schmidt, twice, on candidate basis vectors).
 */
function completeColumns(u: Float64Array, m: number, n: number, cols: number[]): void {
  const filled = new Uint8Array(n).fill(1);
  for (const c of cols) filled[c] = 0;
  const x = new Float64Array(m);
  let cand = 0;
  for (const c of cols) {
    for (; cand < m; cand++) {
      x.fill(0);
      x[cand] = 1;
      for (let pass = 0; pass < 2; pass++) {
        for (let j = 0; j < n; j++) {
          if (!filled[j]) continue;
          let d = 0;
          for (let i = 0; i < m; i++) d += u[i * n + j] * x[i];
          for (let i = 0; i < m; i++) x[i] -= d * u[i * n + j];
        }
      }
      let nx = 0;
      for (let i = 0; i < m; i++) nx += x[i] * x[i];
      nx = Math.sqrt(nx);
      if (nx > 0.5) {
        for (let i = 0; i < m; i++) u[i * n + c] = x[i] / nx;
        filled[c] = 1;
        cand++;
        break;
      }
    }
  }
}

/** Givens rotation of two rows of length `len` starting at `a` and `b`: (x, y) ← (c·x − s·y, s·x + c·y). */
function rotateRows(arr: Float64Array, a: number, b: number, len: number, c: number, s: number): void {
  for (let i = 0; i < len; i++) {
    const x = arr[a + i];
    const y = arr[b + i];
    arr[a + i] = c * x - s * y;
    arr[b + i] = s * x + c * y;
  }
}
