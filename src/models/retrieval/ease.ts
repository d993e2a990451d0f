/**
 * EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"): a dense item×item
 * weight matrix with zero diagonal in closed form,
 *
 *     P = (XᵀX + λI)⁻¹,     B = I − P · diag(1 / diag(P))      (B_ij = −P_ij / P_jj, B_jj = 0),
 *
 * scoring user u by x_u·B (the sum of the rows of B of the user's distinct history items).
 *
 * Two ways to get P, chosen by `method` ('auto' picks the smaller system):
 *  - primal: invert the m×m item Gram matrix (tiled Cholesky in src/math/spd.ts, ~m³ flops);
 *  - dual (Woodbury), when there are fewer training users U than items m:
 *        P = (I − Xᵀ K X) / λ  with  K = (λI + XXᵀ)⁻¹ (U×U),
 *    so B_ij = M_ij / (1 − M_jj) with M = XᵀKX, costing U³ + 2·nnz(X)·(U + m) instead of m³.
 *
 * The vocabulary is the items seen in training, capped to the `maxItems` most popular (B costs
 * 4·m² bytes: 9K items = 324 MB, 20K = 1.6 GB); other items are never recommended.
 */
import { kernels } from '../../math/kernels/index.js';
import { spdInverse } from '../../math/spd.js';
import type { Progress } from '../../util/progress.js';
import { artifactArray, type ModelArtifact, writeModelArtifact } from './registry.js';
import {
  assertFitted, assertItem, distinctItems, exclusionMask, numEvents, type FitReport, type RecommendOptions,
  type Recommendations, type RetrievalModel, type Timelines, topK,
} from './types.js';

export interface EaseOptions {
  /** L2 regularization λ (default 500, Steck's value for ML-20M; tune it on validation users). */
  lambda?: number;
  /** 'auto' (default): dual when training users < items, else primal. */
  method?: 'auto' | 'primal' | 'dual';
  /** Keep at most this many (most popular) items (default 20000). */
  maxItems?: number;
  /** Arithmetic of the SPD inverse (default 'float32': tile products through kernels.sgemm). */
  precision?: 'float32' | 'float64';
  /** Tile size of the SPD inverse (default: spdInverse's). */
  blockSize?: number;
  /** Refuse to fit when the estimated peak memory exceeds this (default 8 GiB). */
  maxBytes?: number;
}

export class EaseModel implements RetrievalModel<EaseOptions> {
  readonly kind = 'ease';
  private lambda = 500;
  private method: 'primal' | 'dual' = 'primal';
  private total = 0;
  /** Local → global item index, ascending. */
  private vocab: Int32Array = new Int32Array(0);
  /** Global → local (-1: outside the vocabulary). */
  private local: Int32Array = new Int32Array(0);
  /** m×m row-major, zero diagonal. */
  private B: Float32Array = new Float32Array(0);
  private report: FitReport | undefined;

  get numItems(): number {
    return this.total;
  }

  get name(): string {
    return `ease(λ=${this.lambda})`;
  }

  /** The weight matrix (vocabulary order) and the vocabulary: for tests and inspection. */
  weights(): { B: Float32Array; vocab: Int32Array } {
    return { B: this.B, vocab: this.vocab };
  }

  async fit(data: Timelines, opts: EaseOptions = {}, progress?: Progress): Promise<FitReport> {
    const t0 = performance.now();
    const lambda = opts.lambda ?? 500;
    if (!(lambda > 0)) throw new Error(`ease: lambda must be > 0, got ${lambda}`);
    const maxItems = opts.maxItems ?? 20000;
    const precision = opts.precision ?? 'float32';
    const x = distinctItems(data);
    const notes: string[] = [];

    // Vocabulary: seen items, the maxItems most popular, in index order.
    const counts = new Float64Array(x.numItems);
    for (let p = 0; p < numEvents(x); p++) counts[x.items[p]]++;
    let seen: number[] = [];
    for (let i = 0; i < x.numItems; i++) if (counts[i] > 0) seen.push(i);
    if (seen.length > maxItems) {
      notes.push(`vocabulary capped to the ${maxItems} most popular of ${seen.length} items`);
      seen.sort((a, b) => counts[b] - counts[a] || a - b);
      seen = seen.slice(0, maxItems).sort((a, b) => a - b);
    }
    const vocab = Int32Array.from(seen);
    const m = vocab.length;
    const local = new Int32Array(x.numItems).fill(-1);
    for (let l = 0; l < m; l++) local[vocab[l]] = l;

    // X restricted to the vocabulary, in local indices, without empty users.
    const rows: number[] = [0];
    const cols: number[] = [];
    for (let u = 0; u < x.numUsers; u++) {
      const before = cols.length;
      for (let p = x.indptr[u]; p < x.indptr[u + 1]; p++) {
        const l = local[x.items[p]];
        if (l >= 0) cols.push(l);
      }
      if (cols.length > before) rows.push(cols.length);
    }
    const U = rows.length - 1;
    const xIndptr = Int32Array.from(rows);
    const xCols = Int32Array.from(cols);
    const method = opts.method === undefined || opts.method === 'auto' ? (U < m ? 'dual' : 'primal') : opts.method;
    if (method !== 'primal' && method !== 'dual') throw new Error(`ease: unknown method '${opts.method}'`);
    // Peak memory: primal G/P/B in place (m², ×2 in float64) + tiles (m²/2); dual M, Y, Z + K.
    const word = precision === 'float64' ? 8 : 4;
    const peak = method === 'primal' ? m * m * word * 1.5 + (word === 8 ? m * m * 4 : 0) : m * m * 4 + 2 * m * U * 4 + U * U * word * 1.5;
    const maxBytes = opts.maxBytes ?? 8 * 2 ** 30;
    if (peak > maxBytes) {
      throw new Error(
        `ease: ${m} items (${method}) need about ${(peak / 2 ** 30).toFixed(1)} GiB, over maxBytes ` +
          `${(maxBytes / 2 ** 30).toFixed(1)} GiB; lower maxItems or raise maxBytes`,
      );
    }

    let B: Float32Array;
    if (m === 0) B = new Float32Array(0);
    else if (method === 'primal') B = this.primal(xIndptr, xCols, U, m, lambda, precision, opts.blockSize, progress);
    else B = this.dual(xIndptr, xCols, U, m, lambda, precision, opts.blockSize, progress);

    this.lambda = lambda;
    this.method = method;
    this.total = x.numItems;
    this.vocab = vocab;
    this.local = local;
    this.B = B;
    this.report = {
      kind: this.kind, model: this.name, seconds: (performance.now() - t0) / 1000,
      users: data.numUsers, items: x.numItems, events: numEvents(data),
      params: { lambda, method, maxItems, precision, vocabulary: m, trainingUsers: U },
      ...(notes.length ? { notes } : {}),
    };
    return this.report;
  }

  private primal(
    xIndptr: Int32Array, xCols: Int32Array, U: number, m: number, lambda: number,
    precision: 'float32' | 'float64', blockSize: number | undefined, progress?: Progress,
  ): Float32Array {
    const G = precision === 'float64' ? new Float64Array(m * m) : new Float32Array(m * m);
    for (let u = 0; u < U; u++) {
      const a = xIndptr[u];
      const b = xIndptr[u + 1];
      for (let p = a; p < b; p++) {
        const off = xCols[p] * m;
        for (let q = a; q < b; q++) G[off + xCols[q]] += 1;
      }
    }
    for (let l = 0; l < m; l++) G[l * m + l] += lambda;
    const P = spdInverse(G, m, { inPlace: true, ...(blockSize ? { blockSize } : {}), ...(progress ? { progress } : {}) });
    const B = P instanceof Float32Array ? P : new Float32Array(m * m);
    const diag = new Float64Array(m);
    for (let j = 0; j < m; j++) diag[j] = P[j * m + j];
    for (let i = 0; i < m; i++) {
      const off = i * m;
      for (let j = 0; j < m; j++) B[off + j] = i === j ? 0 : -P[off + j] / diag[j];
    }
    return B;
  }

  private dual(
    xIndptr: Int32Array, xCols: Int32Array, U: number, m: number, lambda: number,
    precision: 'float32' | 'float64', blockSize: number | undefined, progress?: Progress,
  ): Float32Array {
    // Xᵀ in CSR (item → users, ascending).
    const tIndptr = new Int32Array(m + 1);
    for (let p = 0; p < xCols.length; p++) tIndptr[xCols[p] + 1]++;
    for (let l = 0; l < m; l++) tIndptr[l + 1] += tIndptr[l];
    const fill = tIndptr.slice(0, m);
    const tUsers = new Int32Array(xCols.length);
    for (let u = 0; u < U; u++) for (let p = xIndptr[u]; p < xIndptr[u + 1]; p++) tUsers[fill[xCols[p]]++] = u;

    // K = (XXᵀ + λI)⁻¹, U×U.
    const K0 = precision === 'float64' ? new Float64Array(U * U) : new Float32Array(U * U);
    for (let l = 0; l < m; l++) {
      const a = tIndptr[l];
      const b = tIndptr[l + 1];
      for (let p = a; p < b; p++) {
        const off = tUsers[p] * U;
        for (let q = a; q < b; q++) K0[off + tUsers[q]] += 1;
      }
    }
    for (let u = 0; u < U; u++) K0[u * U + u] += lambda;
    const K = spdInverse(K0, U, { inPlace: true, ...(blockSize ? { blockSize } : {}), ...(progress ? { progress } : {}) });
    const K32 = K instanceof Float32Array ? K : Float32Array.from(K);

    // Y = XᵀK (m×U), Z = Yᵀ = KX (U×m), M = XᵀZ (m×m).
    const ones = new Float32Array(xCols.length).fill(1);
    const Y = new Float32Array(m * U);
    kernels.csrmm(m, U, tIndptr, tUsers, ones, U, 1, K32, 0, Y);
    const Z = new Float32Array(U * m);
    for (let l = 0; l < m; l++) for (let u = 0; u < U; u++) Z[u * m + l] = Y[l * U + u];
    const M = new Float32Array(m * m);
    kernels.csrmm(m, U, tIndptr, tUsers, ones, m, 1, Z, 0, M);

    // Exact diagonal in Float64: M_jj = Σ_{u,v ∈ users(j)} K_uv; then B_ij = M_ij / (1 − M_jj).
    const scale = new Float64Array(m);
    for (let l = 0; l < m; l++) {
      let s = 0;
      for (let p = tIndptr[l]; p < tIndptr[l + 1]; p++) {
        const off = tUsers[p] * U;
        for (let q = tIndptr[l]; q < tIndptr[l + 1]; q++) s += K[off + tUsers[q]];
      }
      scale[l] = 1 / (1 - s);
    }
    for (let i = 0; i < m; i++) {
      const off = i * m;
      for (let j = 0; j < m; j++) M[off + j] = i === j ? 0 : M[off + j] * scale[j];
    }
    return M;
  }

  private dense(history: Int32Array): Float32Array {
    assertFitted(this.numItems, this.kind);
    const m = this.vocab.length;
    const acc = new Float32Array(m);
    const used = new Uint8Array(m);
    for (let h = 0; h < history.length; h++) {
      const g = history[h];
      if (g < 0 || g >= this.total) continue;
      const l = this.local[g];
      if (l < 0 || used[l]) continue;
      used[l] = 1;
      const row = this.B.subarray(l * m, (l + 1) * m);
      for (let j = 0; j < m; j++) acc[j] += row[j];
    }
    const s = new Float32Array(this.total).fill(-Infinity);
    for (let l = 0; l < m; l++) s[this.vocab[l]] = acc[l];
    return s;
  }

  score(history: Int32Array, items?: Int32Array): Float32Array {
    const s = this.dense(history);
    if (!items) return s;
    const out = new Float32Array(items.length);
    for (let r = 0; r < items.length; r++) out[r] = s[items[r]] ?? -Infinity;
    return out;
  }

  encodeUser(): undefined {
    return undefined;
  }

  recommend(history: Int32Array, k: number, exclude?: Int32Array, opts?: RecommendOptions): Recommendations {
    return topK(this.dense(history), k, exclusionMask(this.numItems, history, exclude, opts));
  }

  /** Items with the largest weights B[item, j] (what the item predicts). */
  similarItems(item: number, k: number): Recommendations {
    assertFitted(this.numItems, this.kind);
    assertItem(item, this.numItems, this.kind);
    const l = this.local[item];
    if (l < 0) return { items: new Int32Array(0), scores: new Float32Array(0) };
    const m = this.vocab.length;
    const row = this.B.slice(l * m, (l + 1) * m);
    row[l] = -Infinity;
    const best = topK(row, k);
    for (let r = 0; r < best.items.length; r++) best.items[r] = this.vocab[best.items[r]];
    return best;
  }

  async save(dir: string): Promise<void> {
    assertFitted(this.numItems, this.kind);
    const m = this.vocab.length;
    await writeModelArtifact(
      dir,
      { kind: this.kind, name: this.name, numItems: this.total, config: { lambda: this.lambda, method: this.method }, ...(this.report ? { fit: this.report } : {}) },
      { vocab: this.vocab, B: { data: this.B, shape: [m, m] } },
    );
  }

  static fromArtifact(this: void, art: ModelArtifact): EaseModel {
    const e = new EaseModel();
    const cfg = art.manifest.config as { lambda: number; method: 'primal' | 'dual' };
    e.lambda = cfg.lambda;
    e.method = cfg.method;
    e.total = art.manifest.numItems;
    e.vocab = artifactArray(art, 'vocab', Int32Array);
    e.B = artifactArray(art, 'B', Float32Array);
    if (e.B.length !== e.vocab.length * e.vocab.length) throw new Error('ease artifact: B does not match the vocabulary size');
    e.local = new Int32Array(e.total).fill(-1);
    for (let l = 0; l < e.vocab.length; l++) e.local[e.vocab[l]] = l;
    e.report = art.manifest.fit;
    return e;
  }
}
