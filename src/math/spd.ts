/**
 * Symmetric positive-definite (SPD) matrices: tiled Cholesky factorization and inverse.
 *
 * The matrix is cut into nb×nb tiles (padded to a multiple of nb with an identity block, whose
 * inverse is the identity, so every tile is square and packed). The O(n³) work is in tile
 * matrix products:
 *
 *   1. Cholesky A = L·Lᵀ (right-looking: factor the diagonal tile in Float64, solve the panel by
 *      multiplying with the inverted diagonal tile, update the trailing tiles),      n³/3 flops
 *   2. W = L⁻¹ in place (TRTRI),                                                       n³/3 flops
 *   3. A⁻¹ = Wᵀ·W in place (LAUUM),                                                    n³/3 flops
 *
 * In Float32 the tile products go through `kernels.sgemm` (the native addon when it is loaded,
 * its TypeScript twin otherwise); Float64 uses a private TypeScript dgemm. Small per-tile steps
 * (diagonal factorization and triangular inverse) always run in Float64.
 */
import { kernels } from './kernels/index.js';
import type { Progress } from '../util/progress.js';

export type DenseArray = Float32Array | Float64Array;

export class NotPositiveDefiniteError extends Error {
  constructor(readonly index: number, readonly pivot: number) {
    super(`matrix is not positive definite (pivot ${pivot} at row ${index})`);
    this.name = 'NotPositiveDefiniteError';
  }
}

export interface SpdOptions {
  /** Tile size (default 256 with the native kernels, 128 with the TypeScript twin). */
  blockSize?: number;
  /** Write the result into the input array instead of a new one (saves n² memory). */
  inPlace?: boolean;
  progress?: Progress;
}

type Gemm<T extends DenseArray> = (
  transA: boolean, m: number, n: number, k: number, alpha: number, a: T, b: T, beta: number, c: T,
) => void;

/** Plain Float64 C = alpha·op(A)·B + beta·C (row-major; op(A) = Aᵀ when transA). */
function dgemm(transA: boolean, m: number, n: number, k: number, alpha: number, a: Float64Array, b: Float64Array, beta: number, c: Float64Array): void {
  if (beta !== 1) for (let i = 0; i < m * n; i++) c[i] = beta === 0 ? 0 : c[i] * beta;
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const aip = alpha * (transA ? a[p * m + i] : a[i * k + p]);
      if (aip === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j] += aip * b[bp + j];
    }
  }
}

const sgemm: Gemm<Float32Array> = (transA, m, n, k, alpha, a, b, beta, c) => kernels.sgemm(transA, false, m, n, k, alpha, a, b, beta, c);

/** Lower-triangular tile storage of an N×N matrix (N = nt·nb), tile (i, j) for i >= j. */
class Tiles<T extends DenseArray> {
  readonly tiles: T[];
  constructor(readonly nt: number, readonly nb: number, make: (len: number) => T) {
    this.tiles = [];
    for (let t = 0; t < (nt * (nt + 1)) / 2; t++) this.tiles.push(make(nb * nb));
  }
  at(i: number, j: number): T {
    return this.tiles[(i * (i + 1)) / 2 + j];
  }
  set(i: number, j: number, t: T): void {
    this.tiles[(i * (i + 1)) / 2 + j] = t;
  }
}

function loadTiles<T extends DenseArray>(a: T, n: number, nb: number, make: (len: number) => T): Tiles<T> {
  const nt = Math.ceil(n / nb);
  const tiles = new Tiles<T>(nt, nb, make);
  for (let ti = 0; ti < nt; ti++) {
    for (let tj = 0; tj <= ti; tj++) {
      const t = tiles.at(ti, tj);
      for (let r = 0; r < nb; r++) {
        const gi = ti * nb + r;
        for (let c = 0; c < nb; c++) {
          const gj = tj * nb + c;
          // Lower triangle of A; symmetric mirror above the diagonal of diagonal tiles.
          let v: number;
          if (gi < n && gj < n) v = gi >= gj ? a[gi * n + gj] : a[gj * n + gi];
          else v = gi === gj ? 1 : 0;
          t[r * nb + c] = v;
        }
      }
    }
  }
  return tiles;
}

/** In-place Float64 Cholesky of one nb×nb tile (lower; the upper part is zeroed). */
function potrfTile(t: DenseArray, nb: number, offset: number): void {
  const l = Float64Array.from(t);
  for (let j = 0; j < nb; j++) {
    let d = l[j * nb + j];
    for (let p = 0; p < j; p++) d -= l[j * nb + p] * l[j * nb + p];
    if (!(d > 0)) throw new NotPositiveDefiniteError(offset + j, d);
    const s = Math.sqrt(d);
    l[j * nb + j] = s;
    for (let i = j + 1; i < nb; i++) {
      let v = l[i * nb + j];
      for (let p = 0; p < j; p++) v -= l[i * nb + p] * l[j * nb + p];
      l[i * nb + j] = v / s;
    }
    for (let c = j + 1; c < nb; c++) l[j * nb + c] = 0;
  }
  t.set(l);
}

/** Inverse of a lower-triangular nb×nb tile, in Float64 (result lower-triangular). */
function trtriTile(t: DenseArray, nb: number): Float64Array {
  const w = new Float64Array(nb * nb);
  for (let j = 0; j < nb; j++) {
    w[j * nb + j] = 1 / t[j * nb + j];
    for (let i = j + 1; i < nb; i++) {
      let s = 0;
      for (let p = j; p < i; p++) s += t[i * nb + p] * w[p * nb + j];
      w[i * nb + j] = -s / t[i * nb + i];
    }
  }
  return w;
}

function transposeTile<T extends DenseArray>(src: T, nb: number, dst: T): T {
  for (let r = 0; r < nb; r++) for (let c = 0; c < nb; c++) dst[c * nb + r] = src[r * nb + c];
  return dst;
}

interface Factor<T extends DenseArray> {
  tiles: Tiles<T>;
  /** Inverses of the diagonal tiles of L (lower-triangular). */
  invDiag: T[];
}

function choleskyTiles<T extends DenseArray>(
  tiles: Tiles<T>, gemm: Gemm<T>, make: (len: number) => T, tick: (n: number) => void,
): Factor<T> {
  const { nt, nb } = tiles;
  const invDiag: T[] = [];
  const tmp = make(nb * nb);
  const panelT: T[] = [];
  for (let k = 0; k < nt; k++) {
    const dk = tiles.at(k, k);
    potrfTile(dk, nb, k * nb);
    const inv = make(nb * nb);
    inv.set(trtriTile(dk, nb));
    invDiag.push(inv);
    // Panel: L_ik = A_ik · L_kk⁻ᵀ.
    const invT = transposeTile(inv, nb, make(nb * nb));
    for (let i = k + 1; i < nt; i++) {
      const t = tiles.at(i, k);
      gemm(false, nb, nb, nb, 1, t, invT, 0, tmp);
      t.set(tmp);
      panelT[i] = transposeTile(t, nb, panelT[i] ?? make(nb * nb));
    }
    tick(nt - k - 1);
    // Trailing update: A_ij -= L_ik · L_jkᵀ for k < j <= i.
    for (let i = k + 1; i < nt; i++) {
      const lik = tiles.at(i, k);
      for (let j = k + 1; j <= i; j++) gemm(false, nb, nb, nb, -1, lik, panelT[j], 1, tiles.at(i, j));
      tick(i - k);
    }
  }
  return { tiles, invDiag };
}

/** In place: L → W = L⁻¹ (lower). */
function trtriTiles<T extends DenseArray>(f: Factor<T>, gemm: Gemm<T>, make: (len: number) => T, tick: (n: number) => void): void {
  const { tiles, invDiag } = f;
  const { nt, nb } = tiles;
  const s = make(nb * nb);
  for (let j = 0; j < nt; j++) {
    for (let i = j + 1; i < nt; i++) {
      // S = Σ_{p=j}^{i-1} L_ip · W_pj, with W_jj = invDiag[j] and W_pj (p > j) already in place.
      gemm(false, nb, nb, nb, 1, tiles.at(i, j), invDiag[j], 0, s);
      for (let p = j + 1; p < i; p++) gemm(false, nb, nb, nb, 1, tiles.at(i, p), tiles.at(p, j), 1, s);
      gemm(false, nb, nb, nb, -1, invDiag[i], s, 0, tiles.at(i, j));
      tick(i - j + 1);
    }
    tiles.set(j, j, invDiag[j]);
  }
}

/** In place: W → Wᵀ·W (lower triangle of the symmetric result). */
function lauumTiles<T extends DenseArray>(tiles: Tiles<T>, gemm: Gemm<T>, make: (len: number) => T, tick: (n: number) => void): void {
  const { nt, nb } = tiles;
  const r = make(nb * nb);
  for (let i = 0; i < nt; i++) {
    for (let j = 0; j <= i; j++) {
      gemm(true, nb, nb, nb, 1, tiles.at(i, i), tiles.at(i, j), 0, r);
      for (let p = i + 1; p < nt; p++) gemm(true, nb, nb, nb, 1, tiles.at(p, i), tiles.at(p, j), 1, r);
      tiles.at(i, j).set(r);
      tick(nt - i);
    }
  }
}

function setup<T extends DenseArray>(a: T, n: number, opts: SpdOptions) {
  if (!Number.isInteger(n) || n < 0) throw new Error(`spd: bad size ${n}`);
  if (a.length < n * n) throw new Error(`spd: array has ${a.length} entries, expected ${n}×${n}`);
  // 256 suits the native sgemm (threads amortised; the Float64 diagonal-tile work is n·nb²);
  // 128 the TypeScript twin (cache-sized tiles). Measured on n = 3000.
  const nb = Math.max(1, Math.min(opts.blockSize ?? (kernels.name === 'native' ? 256 : 128), n || 1));
  const f32 = a instanceof Float32Array;
  const make = (f32 ? (len: number) => new Float32Array(len) : (len: number) => new Float64Array(len)) as (len: number) => T;
  const gemm = (f32 ? sgemm : dgemm) as unknown as Gemm<T>;
  return { nb, make, gemm };
}

/**
 * The Cholesky factor L (lower-triangular, n×n row-major, zeros above the diagonal) of the SPD
 * matrix `a` (only its lower triangle is read). Throws NotPositiveDefiniteError.
 */
export function cholesky<T extends DenseArray>(a: T, n: number, opts: SpdOptions = {}): T {
  const { nb, make, gemm } = setup(a, n, opts);
  const tiles = loadTiles(a, n, nb, make);
  const nt = tiles.nt;
  const total = (nt * (nt + 1)) / 2 + (nt * (nt * nt - 1)) / 6;
  let done = 0;
  opts.progress?.update(0, total);
  choleskyTiles(tiles, gemm, make, (k) => opts.progress?.update((done += k)));
  opts.progress?.done();
  const out = opts.inPlace ? a : make(n * n);
  out.fill(0);
  for (let ti = 0; ti < nt; ti++) {
    for (let tj = 0; tj <= ti; tj++) {
      const t = tiles.at(ti, tj);
      for (let r = 0; r < nb && ti * nb + r < n; r++) {
        for (let c = 0; c < nb && tj * nb + c < n; c++) out[(ti * nb + r) * n + tj * nb + c] = t[r * nb + c];
      }
    }
  }
  return out;
}

/**
 * The inverse of the SPD matrix `a` (n×n row-major; only its lower triangle is read), as a full
 * symmetric n×n matrix of the same type. About n³ flops; n² + n²/2 memory (n²/2 with inPlace).
 * Throws NotPositiveDefiniteError when a pivot is not positive.
 */
export function spdInverse<T extends DenseArray>(a: T, n: number, opts: SpdOptions = {}): T {
  const { nb, make, gemm } = setup(a, n, opts);
  if (n === 0) return make(0);
  const tiles = loadTiles(a, n, nb, make);
  const nt = tiles.nt;
  // Tile products per phase: ~nt³/6 each (progress in tile products).
  const total = 3 * Math.max(1, (nt * (nt + 1) * (nt + 2)) / 6);
  let done = 0;
  const tick = (k: number) => opts.progress?.update((done = Math.min(total, done + k)));
  opts.progress?.update(0, total);
  const f = choleskyTiles(tiles, gemm, make, tick);
  trtriTiles(f, gemm, make, tick);
  lauumTiles(tiles, gemm, make, tick);
  opts.progress?.update(total);
  opts.progress?.done();
  const out = opts.inPlace ? a : make(n * n);
  for (let ti = 0; ti < nt; ti++) {
    for (let tj = 0; tj <= ti; tj++) {
      const t = tiles.at(ti, tj);
      for (let r = 0; r < nb; r++) {
        const gi = ti * nb + r;
        if (gi >= n) break;
        for (let c = 0; c < nb; c++) {
          const gj = tj * nb + c;
          if (gj >= n || gj > gi) break;
          const v = t[r * nb + c];
          out[gi * n + gj] = v;
          out[gj * n + gi] = v;
        }
      }
    }
  }
  return out;
}
