/**
 * Item-based k-nearest-neighbours: a sparse item×item similarity keeping the k best neighbours
 * of every item; a user's score for item j is the sum over the distinct items i of their history
 * of sim(i, j).
 *
 * Similarities, from the binary user×item matrix X (C = XᵀX, n_i = C_ii users of item i):
 *  - 'cooccurrence': C_ij
 *  - 'cosine':       C_ij / (sqrt(n_i · n_j) + shrink)
 *  - 'pmi':          positive PMI with context smoothing (LED paper §5.1): with row marginals
 *                    r_i = Σ_{j≠i} C_ij, D = Σ_i r_i, p(i,j) = C_ij/D, p(i) = r_i/D and the smoothed
 *                    context p_α(j) = r_j^α / Σ_l r_l^α,  PMI_ij = log(p(i,j) / (p(i)·p_α(j)));
 *                    only positive values are kept. Not symmetric when α ≠ 1 (row i = history
 *                    item, column j = candidate).
 *
 * The co-occurrence rows are computed here by a private sparse accumulation (Σ_u |u|² work);
 * switch to src/math/cooccurrence.ts + pmi.ts once they land.
 */
import type { Progress } from '../../util/progress.js';
import { artifactArray, type ModelArtifact, writeModelArtifact } from './registry.js';
import {
  assertFitted, assertItem, distinctItems, exclusionMask, itemUsers, numEvents, type FitReport, type RecommendOptions,
  type Recommendations, type RetrievalModel, type Timelines, topK,
} from './types.js';

export type ItemSimilarity = 'cooccurrence' | 'cosine' | 'pmi';

export interface ItemKnnOptions {
  /** Default 'cosine'. */
  similarity?: ItemSimilarity;
  /** Neighbours kept per item (default 100). */
  k?: number;
  /** Cosine shrinkage term added to the denominator (default 0). */
  shrink?: number;
  /** PMI context smoothing exponent (default 0.75, as the LED paper). */
  alpha?: number;
  /**
   * Minimum co-occurrence count for a pair to be neighbours (default 1; 3 for 'pmi', whose
   * rare pairs otherwise dominate: on MovieLens, validation NDCG@100 drops by a third at 1).
   */
  minCount?: number;
}

/**
 * Calls `row(i, touched, count)` for every item i with its co-occurrence row: `touched[0..count)`
 * lists the items j (j ≠ i, sorted ascending) with C_ij > 0 and `acc[j]` holds C_ij. The buffers
 * are reused between calls. `x` must be binary (distinct items per user).
 */
export function forEachCooccurrenceRow(
  x: Timelines,
  row: (i: number, touched: Int32Array, count: number, acc: Float64Array) => void,
  progress?: Progress,
): void {
  const iu = itemUsers(x);
  const acc = new Float64Array(x.numItems);
  const touched = new Int32Array(x.numItems);
  progress?.update(0, x.numItems);
  for (let i = 0; i < x.numItems; i++) {
    let count = 0;
    for (let q = iu.indptr[i]; q < iu.indptr[i + 1]; q++) {
      const u = iu.users[q];
      for (let p = x.indptr[u]; p < x.indptr[u + 1]; p++) {
        const j = x.items[p];
        if (j === i) continue;
        if (acc[j] === 0) touched[count++] = j;
        acc[j]++;
      }
    }
    const t = touched.subarray(0, count);
    t.sort();
    row(i, touched, count, acc);
    for (let q = 0; q < count; q++) acc[touched[q]] = 0;
    if ((i & 255) === 0) progress?.update(i);
  }
  progress?.update(x.numItems);
}

export class ItemKnnModel implements RetrievalModel<ItemKnnOptions> {
  readonly kind = 'itemknn';
  private opts: Required<ItemKnnOptions> = { similarity: 'cosine', k: 100, shrink: 0, alpha: 0.75, minCount: 1 };
  /** Neighbour lists: CSR numItems × k, best first. */
  private indptr: Int32Array = new Int32Array(1);
  private neighbours: Int32Array = new Int32Array(0);
  private sims: Float32Array = new Float32Array(0);
  /** Users per item in training (0: unknown item, never recommended). */
  private counts: Float32Array = new Float32Array(0);
  private report: FitReport | undefined;

  get numItems(): number {
    return this.counts.length;
  }

  get name(): string {
    const o = this.opts;
    const extra = (o.shrink ? `, shrink=${o.shrink}` : '') + (o.minCount !== 1 ? `, minCount=${o.minCount}` : '') +
      (o.similarity === 'pmi' && o.alpha !== 0.75 ? `, α=${o.alpha}` : '');
    return `item-knn(${o.similarity}, k=${o.k}${extra})`;
  }

  async fit(data: Timelines, opts: ItemKnnOptions = {}, progress?: Progress): Promise<FitReport> {
    const t0 = performance.now();
    const o: Required<ItemKnnOptions> = {
      similarity: opts.similarity ?? 'cosine',
      k: opts.k ?? 100,
      shrink: opts.shrink ?? 0,
      alpha: opts.alpha ?? 0.75,
      minCount: opts.minCount ?? (opts.similarity === 'pmi' ? 3 : 1),
    };
    if (!['cooccurrence', 'cosine', 'pmi'].includes(o.similarity)) throw new Error(`itemknn: unknown similarity '${o.similarity}'`);
    if (!Number.isInteger(o.k) || o.k < 1) throw new Error(`itemknn: k must be a positive integer, got ${o.k}`);
    const x = distinctItems(data);
    const n = x.numItems;
    const counts = new Float64Array(n);
    for (let p = 0; p < numEvents(x); p++) counts[x.items[p]]++;

    // PMI marginals need a first pass over the rows (r_i = Σ_{j≠i} C_ij = Σ_{u∋i} (|u| - 1)).
    const r = new Float64Array(n);
    let logZ = 0;
    if (o.similarity === 'pmi') {
      for (let u = 0; u < x.numUsers; u++) {
        const len = x.indptr[u + 1] - x.indptr[u];
        for (let p = x.indptr[u]; p < x.indptr[u + 1]; p++) r[x.items[p]] += len - 1;
      }
      let z = 0;
      for (let i = 0; i < n; i++) if (r[i] > 0) z += Math.pow(r[i], o.alpha);
      logZ = Math.log(z);
    }
    const logRa = o.similarity === 'pmi' ? r.map((v) => (v > 0 ? o.alpha * Math.log(v) : 0)) : r;

    const indptr = new Int32Array(n + 1);
    let cap = Math.min(n * o.k, 1 << 20);
    let nbrs = new Int32Array(cap);
    let vals = new Float32Array(cap);
    let sims = new Float64Array(n);
    forEachCooccurrenceRow(x, (i, touched, count, acc) => {
      if (sims.length < count) sims = new Float64Array(count);
      const logRi = o.similarity === 'pmi' ? Math.log(r[i]) : 0;
      for (let q = 0; q < count; q++) {
        const j = touched[q];
        const c = acc[j];
        let s: number;
        if (c < o.minCount) s = -Infinity;
        else if (o.similarity === 'cooccurrence') s = c;
        else if (o.similarity === 'cosine') s = c / (Math.sqrt(counts[i] * counts[j]) + o.shrink);
        else {
          s = Math.log(c) + logZ - logRi - logRa[j];
          if (!(s > 0)) s = -Infinity;
        }
        sims[q] = s;
      }
      const best = topK(sims.subarray(0, count), o.k);
      const start = indptr[i];
      const need = start + best.items.length;
      if (need > cap) {
        while (cap < need) cap *= 2;
        const nn = new Int32Array(cap); nn.set(nbrs); nbrs = nn;
        const nv = new Float32Array(cap); nv.set(vals); vals = nv;
      }
      for (let q = 0; q < best.items.length; q++) {
        nbrs[start + q] = touched[best.items[q]];
        vals[start + q] = best.scores[q];
      }
      indptr[i + 1] = need;
    }, progress);
    progress?.done();

    this.opts = o;
    this.indptr = indptr;
    this.neighbours = nbrs.slice(0, indptr[n]);
    this.sims = vals.slice(0, indptr[n]);
    this.counts = Float32Array.from(counts);
    this.report = {
      kind: this.kind, model: this.name, seconds: (performance.now() - t0) / 1000,
      users: data.numUsers, items: n, events: numEvents(data), params: { ...o },
      metrics: { neighbourPairs: indptr[n] },
    };
    return this.report;
  }

  /**
   * The neighbour lists as CSR arrays (item i's neighbours, best first, are
   * neighbours[indptr[i]..indptr[i + 1]) with their similarities in sims), for per-request
   * loops that would otherwise create two subarrays per item read. Read-only.
   */
  csr(): { indptr: Int32Array; neighbours: Int32Array; sims: Float32Array } {
    assertFitted(this.numItems, this.kind);
    return { indptr: this.indptr, neighbours: this.neighbours, sims: this.sims };
  }

  /** Neighbours of `item`, best first (a view). */
  neighboursOf(item: number): Recommendations {
    assertFitted(this.numItems, this.kind);
    assertItem(item, this.numItems, this.kind);
    const a = this.indptr[item];
    const b = this.indptr[item + 1];
    return { items: this.neighbours.subarray(a, b), scores: this.sims.subarray(a, b) };
  }

  private denseScores(history: Int32Array): Float32Array {
    assertFitted(this.numItems, this.kind);
    const n = this.numItems;
    const s = new Float32Array(n);
    const seen = new Uint8Array(n);
    for (let h = 0; h < history.length; h++) {
      const i = history[h];
      if (i < 0 || i >= n || seen[i]) continue;
      seen[i] = 1;
      for (let p = this.indptr[i]; p < this.indptr[i + 1]; p++) s[this.neighbours[p]] += this.sims[p];
    }
    for (let i = 0; i < n; i++) if (this.counts[i] === 0) s[i] = -Infinity;
    return s;
  }

  score(history: Int32Array, items?: Int32Array): Float32Array {
    const s = this.denseScores(history);
    if (!items) return s;
    const out = new Float32Array(items.length);
    for (let r = 0; r < items.length; r++) out[r] = s[items[r]] ?? -Infinity;
    return out;
  }

  encodeUser(): undefined {
    return undefined;
  }

  recommend(history: Int32Array, k: number, exclude?: Int32Array, opts?: RecommendOptions): Recommendations {
    return topK(this.denseScores(history), k, exclusionMask(this.numItems, history, exclude, opts));
  }

  similarItems(item: number, k: number): Recommendations {
    const nb = this.neighboursOf(item);
    const m = Math.max(0, Math.min(k, nb.items.length));
    return { items: nb.items.slice(0, m), scores: nb.scores.slice(0, m) };
  }

  async save(dir: string): Promise<void> {
    assertFitted(this.numItems, this.kind);
    await writeModelArtifact(
      dir,
      { kind: this.kind, name: this.name, numItems: this.numItems, config: { ...this.opts }, ...(this.report ? { fit: this.report } : {}) },
      { indptr: this.indptr, neighbours: this.neighbours, sims: this.sims, counts: this.counts },
    );
  }

  static fromArtifact(this: void, art: ModelArtifact): ItemKnnModel {
    const m = new ItemKnnModel();
    m.opts = art.manifest.config as Required<ItemKnnOptions>;
    m.indptr = artifactArray(art, 'indptr', Int32Array);
    m.neighbours = artifactArray(art, 'neighbours', Int32Array);
    m.sims = artifactArray(art, 'sims', Float32Array);
    m.counts = artifactArray(art, 'counts', Float32Array);
    m.report = art.manifest.fit;
    return m;
  }
}
