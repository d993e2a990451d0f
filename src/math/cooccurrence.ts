/**
 * Item × item co-occurrence counts within user timelines, as a canonical CSR matrix
 * (numItems × numItems, symmetric, diagonal excluded, Float32 counts).
 *
 * Two notions of "co-occur":
 *  - whole timeline (default): C_ij = number of users whose timeline holds both i and j
 *    (`binary`, the default), or Σ_u n_u(i)·n_u(j) over event multiplicities (binary: false);
 *  - sliding window of w events: C_ij = number of position pairs (p, q) of one timeline with
 *    0 < |p − q| <= w, item i at p and item j at q (each unordered pair adds 1 to C_ij and to
 *    C_ji). Cost O(events · w) instead of O(Σ_u |u|²): the choice for long timelines.
 *
 * Rows are accumulated one at a time into a dense Int32 scratch of numItems counters plus a
 * touched list (the classic SpGEMM "SPA"), from an item → users (or item → event windows)
 * inverted index, so the working memory besides the output is O(events + numItems). Rows are
 * emitted unsorted and made canonical by one transpose (the matrix is symmetric), not by
 * per-row sorts. `minCount` and `maxPerRow` bound the output on large data.
 */
import type { Progress } from '../util/progress.js';
import { distinctItems, itemUsers, numEvents, type Timelines } from '../models/retrieval/types.js';
import type { CsrMatrix } from './sparse.js';

export interface CooccurrenceOptions {
  /**
   * Sliding window: events at most `window` positions apart in a timeline co-occur. 0 or
   * absent: the whole timeline.
   */
  window?: number;
  /** Whole-timeline mode: count each pair at most once per user (default true). */
  binary?: boolean;
  /** Keep only pairs with C_ij >= minCount (default 1). The result stays symmetric. */
  minCount?: number;
  /**
   * Keep at most this many entries per row, the largest counts (ties to the smaller column).
   * The result is then symmetrised by union (an entry kept in row i or in row j is kept in
   * both), so rows can hold more than maxPerRow entries. Default: no limit.
   */
  maxPerRow?: number;
  progress?: Progress;
}

/**
 * Row-wise output in fixed-size chunks (a row never spans two chunks): no copy on growth, and
 * the final canonical CSR is written once, by `symmetricCanonical`.
 */
class ChunkedRows {
  readonly idx: Int32Array[] = [];
  readonly val: Float32Array[] = [];
  /** Entries used in each chunk. */
  readonly used: number[] = [];
  private cur = -1;
  constructor(private readonly chunk: number) {}
  /** Room for `count` entries of one row: returns [chunk, offset]. */
  reserve(count: number): [Int32Array, Float32Array, number] {
    if (this.cur < 0 || this.used[this.cur] + count > this.idx[this.cur].length) {
      const size = Math.max(this.chunk, count);
      this.idx.push(new Int32Array(size));
      this.val.push(new Float32Array(size));
      this.used.push(0);
      this.cur++;
    }
    return [this.idx[this.cur], this.val[this.cur], this.used[this.cur]];
  }
  commit(count: number): void {
    this.used[this.cur] += count;
  }
}

/**
 * The canonical CSR of a symmetric matrix given row by row with unsorted columns (rowLen[i]
 * entries for row i, in chunk order): its transpose, which equals it and comes out with sorted
 * columns from one counting pass and one scatter (O(nnz), no per-row sort).
 */
function symmetricCanonical(n: number, rowLen: Int32Array, out: ChunkedRows): CsrMatrix {
  const indptr = new Int32Array(n + 1);
  let total = 0;
  for (let c = 0; c < out.idx.length; c++) {
    const idx = out.idx[c];
    const used = out.used[c];
    for (let p = 0; p < used; p++) indptr[idx[p] + 1]++;
    total += used;
  }
  for (let i = 0; i < n; i++) indptr[i + 1] += indptr[i];
  const fill = indptr.slice(0, n);
  const indices = new Int32Array(total);
  const values = new Float32Array(total);
  let row = 0;
  let left = 0;
  for (let c = 0; c < out.idx.length; c++) {
    const idx = out.idx[c];
    const val = out.val[c];
    const used = out.used[c];
    for (let p = 0; p < used; p++) {
      while (left === 0) left = rowLen[row++];
      left--;
      const q = fill[idx[p]]++;
      indices[q] = row - 1;
      values[q] = val[p];
    }
    // Free the chunk as soon as it is consumed.
    out.idx[c] = new Int32Array(0);
    out.val[c] = new Float32Array(0);
  }
  return { rows: n, cols: n, indptr, indices, values };
}

/**
 * Co-occurrence counts of the items of `t` (see the module comment). Items never seen have
 * empty rows. Throws a RangeError for a bad option.
 */
export function cooccurrence(t: Timelines, opts: CooccurrenceOptions = {}): CsrMatrix {
  const window = opts.window ?? 0;
  const minCount = opts.minCount ?? 1;
  const maxPerRow = opts.maxPerRow ?? Infinity;
  if (!Number.isInteger(window) || window < 0) throw new RangeError(`cooccurrence: window must be a non-negative integer, got ${window}`);
  if (!(minCount >= 1) || !Number.isFinite(minCount)) throw new RangeError(`cooccurrence: minCount must be a finite number >= 1, got ${minCount}`);
  if (!(maxPerRow >= 1) || (maxPerRow !== Infinity && !Number.isInteger(maxPerRow))) {
    throw new RangeError(`cooccurrence: maxPerRow must be a positive integer, got ${maxPerRow}`);
  }
  if (window > 0 && opts.binary === true) throw new RangeError('cooccurrence: binary counting applies to the whole-timeline mode only (window = 0)');
  const I = t.numItems;
  const acc = new Int32Array(I);
  const touched = new Int32Array(I);
  const rowLen = new Int32Array(I);
  const out = new ChunkedRows(1 << 22);
  const limited = maxPerRow !== Infinity;
  const progress = opts.progress;
  progress?.update(0, I);

  // Emits the accumulated row i (touched[0..count), unsorted) and clears the scratch.
  let keepIdx = new Int32Array(0);
  let keepCnt = new Float64Array(0);
  const emit = (i: number, count: number) => {
    let kept = 0;
    if (limited && maxPerRow < count) {
      // The maxPerRow largest counts >= minCount, ties to the smaller column.
      if (keepIdx.length < count) {
        keepIdx = new Int32Array(count);
        keepCnt = new Float64Array(count);
      }
      let m = 0;
      for (let q = 0; q < count; q++) {
        const j = touched[q];
        if (acc[j] >= minCount) {
          keepIdx[m] = j;
          keepCnt[m++] = acc[j];
        }
      }
      const order = Array.from({ length: m }, (_, q) => q);
      if (m > maxPerRow) order.sort((a, b) => keepCnt[b] - keepCnt[a] || keepIdx[a] - keepIdx[b]);
      kept = Math.min(m, maxPerRow);
      const [oi, ov, o] = out.reserve(kept);
      for (let q = 0; q < kept; q++) {
        oi[o + q] = keepIdx[order[q]];
        ov[o + q] = keepCnt[order[q]];
      }
    } else {
      const [oi, ov, o] = out.reserve(count);
      let w = o;
      for (let q = 0; q < count; q++) {
        const j = touched[q];
        const c = acc[j];
        if (c >= minCount) {
          oi[w] = j;
          ov[w++] = c;
        }
      }
      kept = w - o;
    }
    out.commit(kept);
    rowLen[i] = kept;
    for (let q = 0; q < count; q++) acc[touched[q]] = 0;
    if ((i & 255) === 0) progress?.update(i);
  };

  if (window === 0) {
    const x = opts.binary === false ? t : distinctItems(t);
    const iu = itemUsers(x);
    const xp = x.indptr;
    const xi = x.items;
    const up = iu.indptr;
    const us = iu.users;
    for (let i = 0; i < I; i++) {
      let count = 0;
      for (let q = up[i]; q < up[i + 1]; q++) {
        const u = us[q];
        const b = xp[u + 1];
        for (let p = xp[u]; p < b; p++) {
          const j = xi[p];
          if (j === i) continue;
          if (acc[j]++ === 0) touched[count++] = j;
        }
      }
      emit(i, count);
    }
  } else {
    // Item → its events' windows [lo, lo + len) (the event itself included), clipped to the
    // user's timeline: one sequential list per item, one random read of the timeline each.
    const n = numEvents(t);
    const items = t.items;
    const posPtr = new Int32Array(I + 1);
    for (let p = 0; p < n; p++) posPtr[items[p] + 1]++;
    for (let i = 0; i < I; i++) posPtr[i + 1] += posPtr[i];
    const winLo = new Int32Array(n);
    const Len = 2 * window + 1 <= 255 ? Uint8Array : 2 * window + 1 <= 65535 ? Uint16Array : Int32Array;
    const winLen = new Len(n);
    const fill = posPtr.slice(0, I);
    for (let u = 0; u < t.numUsers; u++) {
      const a = t.indptr[u];
      const b = t.indptr[u + 1];
      for (let p = a; p < b; p++) {
        const q = fill[items[p]]++;
        const lo = p - window > a ? p - window : a;
        const hi = p + window < b - 1 ? p + window : b - 1;
        winLo[q] = lo;
        winLen[q] = hi - lo + 1;
      }
    }
    for (let i = 0; i < I; i++) {
      let count = 0;
      for (let q = posPtr[i]; q < posPtr[i + 1]; q++) {
        const lo = winLo[q];
        const hi = lo + winLen[q];
        for (let r = lo; r < hi; r++) {
          const j = items[r];
          if (j === i) continue; // the event itself, and repeats of i (the diagonal)
          if (acc[j]++ === 0) touched[count++] = j;
        }
      }
      emit(i, count);
    }
  }
  progress?.update(I);
  const m = symmetricCanonical(I, rowLen, out);
  progress?.done();
  // With maxPerRow the kept pattern is not symmetric: the canonical form above is then the
  // transpose (sorted), and the union with its own transpose restores the symmetry.
  return limited ? symmetriseUnion(m) : m;
}

/** Growable (indices, values) buffers. */
class Output {
  indices: Int32Array;
  values: Float32Array;
  n = 0;
  constructor(capacity: number) {
    this.indices = new Int32Array(Math.max(16, capacity));
    this.values = new Float32Array(Math.max(16, capacity));
  }
  reserve(extra: number): void {
    const need = this.n + extra;
    if (need <= this.indices.length) return;
    let cap = this.indices.length;
    while (cap < need) cap = Math.ceil(cap * 1.5);
    const i = new Int32Array(cap);
    i.set(this.indices.subarray(0, this.n));
    const v = new Float32Array(cap);
    v.set(this.values.subarray(0, this.n));
    this.indices = i;
    this.values = v;
  }
}

/**
 * max(A, Aᵀ) for a canonical square CSR whose stored entries agree where both (i, j) and (j, i)
 * are present (true of co-occurrence counts): the union of the two patterns.
 */
function symmetriseUnion(a: CsrMatrix): CsrMatrix {
  const n = a.rows;
  const nz = a.indptr[n];
  // Transpose pattern.
  const tp = new Int32Array(n + 1);
  for (let p = 0; p < nz; p++) tp[a.indices[p] + 1]++;
  for (let i = 0; i < n; i++) tp[i + 1] += tp[i];
  const fill = tp.slice(0, n);
  const ti = new Int32Array(nz);
  const tv = new Float32Array(nz);
  for (let r = 0; r < n; r++) {
    for (let p = a.indptr[r]; p < a.indptr[r + 1]; p++) {
      const q = fill[a.indices[p]]++;
      ti[q] = r;
      tv[q] = a.values[p];
    }
  }
  // Merge row r of A with row r of Aᵀ (both sorted).
  const indptr = new Int32Array(n + 1);
  const out = new Output(nz * 2);
  for (let r = 0; r < n; r++) {
    let p = a.indptr[r];
    const pe = a.indptr[r + 1];
    let q = tp[r];
    const qe = tp[r + 1];
    out.reserve(pe - p + qe - q);
    while (p < pe || q < qe) {
      const cp = p < pe ? a.indices[p] : 0x7fffffff;
      const cq = q < qe ? ti[q] : 0x7fffffff;
      if (cp === cq) {
        out.indices[out.n] = cp;
        out.values[out.n++] = Math.max(a.values[p++], tv[q++]);
      } else if (cp < cq) {
        out.indices[out.n] = cp;
        out.values[out.n++] = a.values[p++];
      } else {
        out.indices[out.n] = cq;
        out.values[out.n++] = tv[q++];
      }
    }
    indptr[r + 1] = out.n;
  }
  return { rows: n, cols: n, indptr, indices: out.indices.slice(0, out.n), values: out.values.slice(0, out.n) };
}
