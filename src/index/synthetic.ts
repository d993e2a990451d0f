/**
 * A seeded synthetic catalogue for index tests and benchmarks, shaped like trained LED item
 * vectors: items gather around taste clusters, norms vary (popular items have longer vectors
 * and larger biases), and queries are the mean of a short history within one cluster (how LED
 * encodes a user).
 */
import { SmallRng } from '../models/retrieval/types.js';
import type { VectorIndex } from './types.js';

export interface SyntheticCatalog {
  dim: number;
  /** items × dim, row-major. */
  vectors: Float32Array;
  biases: Float32Array;
  /** Cluster of each item. */
  cluster: Int32Array;
  clusters: number;
}

export interface SyntheticCatalogOptions {
  items: number;
  dim: number;
  /** Default: max(8, items / 1000). */
  clusters?: number;
  seed?: number;
  /** Spread of items around their cluster centre relative to the centre's norm (default 0.6). */
  spread?: number;
  /** Log-normal σ of item popularity, which scales vector norms and biases (default 0.4). */
  popularity?: number;
}

export function syntheticCatalog(o: SyntheticCatalogOptions): SyntheticCatalog {
  const { items: n, dim: d } = o;
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(d) || d <= 0) throw new RangeError(`synthetic catalog: items must be an integer >= 0 and dim > 0, got ${n}, ${d}`);
  const C = o.clusters ?? Math.max(8, Math.round(n / 1000));
  const rng = new SmallRng(o.seed ?? 1);
  const spread = o.spread ?? 0.6;
  const popSigma = o.popularity ?? 0.4;
  const s = 1 / Math.sqrt(d);
  const centres = new Float32Array(C * d);
  for (let p = 0; p < centres.length; p++) centres[p] = rng.normal() * s;
  const vectors = new Float32Array(n * d);
  const biases = new Float32Array(n);
  const cluster = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.int(C);
    cluster[i] = c;
    const pop = Math.exp(popSigma * rng.normal()); // popularity: longer vectors, larger bias
    const o1 = i * d;
    const oc = c * d;
    for (let j = 0; j < d; j++) vectors[o1 + j] = pop * (centres[oc + j] + spread * s * rng.normal());
    biases[i] = 0.3 * Math.log(pop) + 0.1 * rng.normal();
  }
  return { dim: d, vectors, biases, cluster, clusters: C };
}

/** `count` queries: each the mean of 5-30 items of one random cluster (a user's history). */
export function syntheticQueries(cat: SyntheticCatalog, count: number, seed = 2): Float32Array[] {
  const rng = new SmallRng(seed);
  const d = cat.dim;
  const n = cat.biases.length;
  const byCluster: number[][] = Array.from({ length: cat.clusters }, () => []);
  for (let i = 0; i < n; i++) byCluster[cat.cluster[i]].push(i);
  const out: Float32Array[] = [];
  for (let q = 0; q < count; q++) {
    const u = new Float32Array(d);
    let members = byCluster[rng.int(cat.clusters)];
    if (members.length === 0) members = [rng.int(Math.max(1, n))];
    const h = 5 + rng.int(26);
    for (let t = 0; t < h; t++) {
      const i = members[rng.int(members.length)];
      for (let j = 0; j < d; j++) u[j] += cat.vectors[i * d + j] / h;
    }
    out.push(u);
  }
  return out;
}

/** Recall@k of `index` against `exact` over `queries`: the share of the exact top k it returns. */
export function recallAgainstExact(index: Pick<VectorIndex, 'search'>, exact: Pick<VectorIndex, 'search'>, queries: readonly Float32Array[], k: number): number {
  let hit = 0;
  for (const q of queries) {
    const want = new Set(exact.search(q, k).ids);
    for (const id of index.search(q, k).ids) if (want.has(id)) hit++;
  }
  return hit / (k * queries.length);
}
