/**
 * CBO, "Clustering Best Of" (the LED paper's production baseline, §8.1): users are clustered by
 * their interests and each cluster gets its own most-popular list.
 *
 *  1. Item vectors: given ones (e.g. RSVD / LED embeddings), or a cheap co-occurrence sketch:
 *     the rows of the cosine-normalised co-occurrence D^-½·XᵀX·D^-½ projected on `dim` random
 *     Gaussian directions (computed as Xᵀ(X·Ω), never forming XᵀX), then L2-normalised.
 *  2. A user is the L2-normalised mean of the vectors of their distinct history items.
 *  3. Spherical k-means (cosine, k-means++ seeding, seeded) over the training users.
 *  4. Cluster c scores item i by (1 − β)·share_c(i) + β·share(i), where share_c(i) is the
 *     fraction of the cluster's users having i and share(i) the global fraction (β =
 *     `globalWeight` shrinks small clusters toward global popularity and breaks ties).
 *
 * A new user is assigned to the nearest centroid; an empty history gets the global list.
 */
import { kernels } from '../../math/kernels/index.js';
import type { Progress } from '../../util/progress.js';
import { artifactArray, type ModelArtifact, writeModelArtifact } from './registry.js';
import {
  assertFitted, assertItem, distinctItems, exclusionMask, numEvents, SmallRng, type FitReport, type RecommendOptions,
  type Recommendations, type RetrievalModel, type Timelines, topK,
} from './types.js';

export interface CboOptions {
  /** Number of user clusters (default 20). */
  clusters?: number;
  /** Dimension of the co-occurrence sketch (default 64; ignored with itemVectors). */
  dim?: number;
  /** Item vectors to use instead of the sketch: numItems × dim, row-major. */
  itemVectors?: { vectors: Float32Array; dim: number };
  /** k-means iterations at most (default 30). */
  iterations?: number;
  /** Weight β of global popularity in the cluster scores (default 0.05). */
  globalWeight?: number;
  seed?: number;
}

function normalizeRows(v: Float32Array, rows: number, dim: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += v[r * dim + d] * v[r * dim + d];
    if (s > 0) {
      const inv = 1 / Math.sqrt(s);
      for (let d = 0; d < dim; d++) v[r * dim + d] *= inv;
    }
  }
}

export class CboModel implements RetrievalModel<CboOptions> {
  readonly kind = 'cbo';
  private k = 0;
  private dim = 0;
  private total = 0;
  private params: Record<string, unknown> = {};
  /** numItems × dim, L2-normalised (zero rows for unseen items). */
  private vectors: Float32Array = new Float32Array(0);
  /** clusters × dim, L2-normalised. */
  private centroids: Float32Array = new Float32Array(0);
  /** clusters × numItems scores (-Infinity for items never seen). */
  private clusterScores: Float32Array = new Float32Array(0);
  /** The global list's scores (share of users), -Infinity for items never seen. */
  private globalScores: Float32Array = new Float32Array(0);
  private sizes: Int32Array = new Int32Array(0);
  private report: FitReport | undefined;

  get numItems(): number {
    return this.total;
  }

  get name(): string {
    return `cbo(${this.k} clusters)`;
  }

  /** Cluster sizes in training. */
  clusterSizes(): Int32Array {
    return this.sizes.slice();
  }

  async fit(data: Timelines, opts: CboOptions = {}, progress?: Progress): Promise<FitReport> {
    const t0 = performance.now();
    const x = distinctItems(data);
    const n = x.numItems;
    const iterations = opts.iterations ?? 30;
    const beta = opts.globalWeight ?? 0.05;
    const seed = opts.seed ?? 1;
    const rng = new SmallRng(seed);
    if (!(beta >= 0 && beta <= 1)) throw new Error(`cbo: globalWeight must be in [0, 1], got ${beta}`);
    const counts = new Float64Array(n);
    for (let p = 0; p < numEvents(x); p++) counts[x.items[p]]++;

    // 1. Item vectors.
    let dim: number;
    let V: Float32Array;
    if (opts.itemVectors) {
      dim = opts.itemVectors.dim;
      if (opts.itemVectors.vectors.length !== n * dim) throw new Error(`cbo: itemVectors must be numItems × dim = ${n} × ${dim}`);
      V = Float32Array.from(opts.itemVectors.vectors);
    } else {
      dim = opts.dim ?? 64;
      // Ω scaled by D^-½ on the rows; V = D^-½ Xᵀ (X Ω') (the outer D^-½ disappears in the normalisation).
      const omega = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) {
        const s = counts[i] > 0 ? 1 / Math.sqrt(counts[i]) : 0;
        for (let d = 0; d < dim; d++) omega[i * dim + d] = rng.normal() * s;
      }
      const ones = new Float32Array(numEvents(x)).fill(1);
      const XO = new Float32Array(x.numUsers * dim);
      kernels.csrmm(x.numUsers, n, x.indptr, x.items, ones, dim, 1, omega, 0, XO);
      V = new Float32Array(n * dim);
      for (let u = 0; u < x.numUsers; u++) {
        for (let p = x.indptr[u]; p < x.indptr[u + 1]; p++) {
          const off = x.items[p] * dim;
          for (let d = 0; d < dim; d++) V[off + d] += XO[u * dim + d];
        }
      }
    }
    normalizeRows(V, n, dim);
    this.vectors = V;
    this.dim = dim;
    this.total = n;

    // 2. User representations (users with an empty history are left out of the clustering).
    const users: number[] = [];
    for (let u = 0; u < x.numUsers; u++) if (x.indptr[u + 1] > x.indptr[u]) users.push(u);
    const N = users.length;
    const R = new Float32Array(N * dim);
    for (let r = 0; r < N; r++) R.set(this.encode(x.items.subarray(x.indptr[users[r]], x.indptr[users[r] + 1])), r * dim);

    // 3. Spherical k-means.
    const k = Math.max(1, Math.min(opts.clusters ?? 20, N));
    const C = new Float32Array(k * dim);
    const assign = new Int32Array(N).fill(-1);
    if (N > 0) {
      // k-means++ on the cosine distance 1 − cos.
      const dist = new Float64Array(N).fill(Infinity);
      let pick = rng.int(N);
      for (let c = 0; c < k; c++) {
        C.set(R.subarray(pick * dim, (pick + 1) * dim), c * dim);
        let total = 0;
        for (let r = 0; r < N; r++) {
          let dot = 0;
          for (let d = 0; d < dim; d++) dot += R[r * dim + d] * C[c * dim + d];
          const dd = Math.max(0, 1 - dot);
          if (dd < dist[r]) dist[r] = dd;
          total += dist[r];
        }
        if (c + 1 < k) {
          let target = rng.next() * total;
          pick = N - 1;
          for (let r = 0; r < N; r++) {
            target -= dist[r];
            if (target < 0) { pick = r; break; }
          }
        }
      }
      const sims = new Float32Array(N * k);
      progress?.update(0, iterations);
      for (let it = 0; it < iterations; it++) {
        kernels.sgemm(false, true, N, k, dim, 1, R, C, 0, sims);
        let changed = 0;
        for (let r = 0; r < N; r++) {
          let best = 0;
          for (let c = 1; c < k; c++) if (sims[r * k + c] > sims[r * k + best]) best = c;
          if (assign[r] !== best) { assign[r] = best; changed++; }
        }
        // New centroids: normalised sums; an empty cluster takes the user farthest from its centroid.
        C.fill(0);
        const size = new Int32Array(k);
        for (let r = 0; r < N; r++) {
          const c = assign[r];
          size[c]++;
          for (let d = 0; d < dim; d++) C[c * dim + d] += R[r * dim + d];
        }
        for (let c = 0; c < k; c++) {
          if (size[c] > 0) continue;
          let far = 0;
          let farSim = Infinity;
          for (let r = 0; r < N; r++) {
            const s = sims[r * k + assign[r]];
            if (size[assign[r]] > 1 && s < farSim) { farSim = s; far = r; }
          }
          const old = assign[far];
          size[old]--;
          for (let d = 0; d < dim; d++) C[old * dim + d] -= R[far * dim + d];
          assign[far] = c;
          size[c] = 1;
          C.set(R.subarray(far * dim, (far + 1) * dim), c * dim);
          changed++;
        }
        normalizeRows(C, k, dim);
        progress?.update(it + 1);
        if (changed === 0) break;
      }
      progress?.done();
    }
    this.k = k;
    this.centroids = C;

    // 4. Cluster and global scores.
    const sizes = new Int32Array(k);
    for (let r = 0; r < N; r++) sizes[assign[r]]++;
    const cs = new Float32Array(k * n);
    for (let r = 0; r < N; r++) {
      const u = users[r];
      const off = assign[r] * n;
      for (let p = x.indptr[u]; p < x.indptr[u + 1]; p++) cs[off + x.items[p]]++;
    }
    const gs = new Float32Array(n);
    for (let i = 0; i < n; i++) gs[i] = counts[i] > 0 ? counts[i] / Math.max(1, N) : -Infinity;
    for (let c = 0; c < k; c++) {
      for (let i = 0; i < n; i++) {
        const off = c * n + i;
        cs[off] = counts[i] > 0 ? (1 - beta) * (sizes[c] > 0 ? cs[off] / sizes[c] : 0) + beta * gs[i] : -Infinity;
      }
    }
    this.clusterScores = cs;
    this.globalScores = gs;
    this.sizes = sizes;
    this.params = { clusters: k, dim, iterations, globalWeight: beta, seed, vectors: opts.itemVectors ? 'given' : 'cooccurrence-sketch' };
    this.report = {
      kind: this.kind, model: this.name, seconds: (performance.now() - t0) / 1000,
      users: data.numUsers, items: n, events: numEvents(data), params: this.params,
      metrics: { smallestCluster: Math.min(...sizes), largestCluster: Math.max(...sizes) },
    };
    return this.report;
  }

  private encode(history: Int32Array): Float32Array {
    const dim = this.dim;
    const out = new Float32Array(dim);
    const seen = new Set<number>();
    for (let h = 0; h < history.length; h++) {
      const i = history[h];
      if (i < 0 || i >= this.total || seen.has(i)) continue;
      seen.add(i);
      for (let d = 0; d < dim; d++) out[d] += this.vectors[i * dim + d];
    }
    normalizeRows(out, 1, dim);
    return out;
  }

  /** The normalised mean of the history's item vectors. */
  encodeUser(history: Int32Array): Float32Array {
    assertFitted(this.numItems, this.kind);
    return this.encode(history);
  }

  /** Nearest centroid of a history; -1 when the history has no known item. */
  assignCluster(history: Int32Array): number {
    assertFitted(this.numItems, this.kind);
    const u = this.encode(history);
    let best = -1;
    let bestSim = -Infinity;
    let norm = 0;
    for (let d = 0; d < this.dim; d++) norm += u[d] * u[d];
    if (norm === 0) return -1;
    for (let c = 0; c < this.k; c++) {
      let s = 0;
      for (let d = 0; d < this.dim; d++) s += u[d] * this.centroids[c * this.dim + d];
      if (s > bestSim) { bestSim = s; best = c; }
    }
    return best;
  }

  private scoresOf(history: Int32Array): Float32Array {
    const c = this.assignCluster(history);
    return c < 0 ? this.globalScores : this.clusterScores.subarray(c * this.total, (c + 1) * this.total);
  }

  score(history: Int32Array, items?: Int32Array): Float32Array {
    const s = this.scoresOf(history);
    if (!items) return s.slice();
    const out = new Float32Array(items.length);
    for (let r = 0; r < items.length; r++) out[r] = s[items[r]] ?? -Infinity;
    return out;
  }

  recommend(history: Int32Array, k: number, exclude?: Int32Array, opts?: RecommendOptions): Recommendations {
    return topK(this.scoresOf(history), k, exclusionMask(this.numItems, history, exclude, opts));
  }

  /** Cosine neighbours in the item-vector space. */
  similarItems(item: number, k: number): Recommendations {
    assertFitted(this.numItems, this.kind);
    assertItem(item, this.numItems, this.kind);
    const dim = this.dim;
    const s = new Float32Array(this.total);
    for (let j = 0; j < this.total; j++) {
      if (this.globalScores[j] === -Infinity) { s[j] = -Infinity; continue; }
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += this.vectors[item * dim + d] * this.vectors[j * dim + d];
      s[j] = dot;
    }
    s[item] = -Infinity;
    return topK(s, k);
  }

  async save(dir: string): Promise<void> {
    assertFitted(this.numItems, this.kind);
    await writeModelArtifact(
      dir,
      { kind: this.kind, name: this.name, numItems: this.total, config: { ...this.params, clusters: this.k, dim: this.dim }, ...(this.report ? { fit: this.report } : {}) },
      {
        vectors: { data: this.vectors, shape: [this.total, this.dim] },
        centroids: { data: this.centroids, shape: [this.k, this.dim] },
        clusterScores: { data: this.clusterScores, shape: [this.k, this.total] },
        globalScores: this.globalScores,
        sizes: this.sizes,
      },
    );
  }

  static fromArtifact(this: void, art: ModelArtifact): CboModel {
    const m = new CboModel();
    const cfg = art.manifest.config as { clusters: number; dim: number };
    m.k = cfg.clusters;
    m.dim = cfg.dim;
    m.total = art.manifest.numItems;
    m.params = art.manifest.config;
    m.vectors = artifactArray(art, 'vectors', Float32Array);
    m.centroids = artifactArray(art, 'centroids', Float32Array);
    m.clusterScores = artifactArray(art, 'clusterScores', Float32Array);
    m.globalScores = artifactArray(art, 'globalScores', Float32Array);
    m.sizes = artifactArray(art, 'sizes', Int32Array);
    m.report = art.manifest.fit;
    return m;
  }
}
