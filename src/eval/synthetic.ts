/**
 * Large synthetic Timelines generated straight into typed arrays, for the scale benchmarks
 * (1M users × 100K items × 50M events in a few seconds, without a CSV round trip).
 *
 * Items have power-law popularity (Zipf exponent `zipf`) and belong to one of `clusters`
 * taste clusters; each user has 1–3 tastes and draws each event from one of them with
 * probability `tasteShare` (by popularity within the cluster), else from the global
 * popularity. Timeline lengths are geometric around the mean (≥ 2). Seeded and deterministic.
 */
import { SmallRng, type Timelines } from '../models/retrieval/types.js';
import type { Progress } from '../util/progress.js';

export interface SyntheticTimelinesOptions {
  users: number;
  items: number;
  events: number;
  clusters?: number;
  zipf?: number;
  tasteShare?: number;
  seed?: number;
  progress?: Progress;
}

function cumulative(weights: Float64Array): Float64Array {
  const c = new Float64Array(weights.length);
  let acc = 0;
  for (let i = 0; i < weights.length; i++) c[i] = acc += weights[i];
  for (let i = 0; i < c.length; i++) c[i] /= acc;
  return c;
}

function draw(cdf: Float64Array, r: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < r) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function syntheticTimelines(opts: SyntheticTimelinesOptions): Timelines {
  const { users, items, events } = opts;
  const C = Math.max(1, Math.min(opts.clusters ?? 100, items));
  const zipf = opts.zipf ?? 0.9;
  const share = opts.tasteShare ?? 0.8;
  const rng = new SmallRng(opts.seed ?? 1);
  if (users <= 0 || items <= 0 || events < users) throw new Error('syntheticTimelines: need users > 0, items > 0, events >= users');
  // Popularity: a random permutation of Zipf weights, so popularity and cluster are independent.
  const perm = Int32Array.from({ length: items }, (_, i) => i);
  for (let i = items - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  const weight = new Float64Array(items);
  for (let r = 0; r < items; r++) weight[perm[r]] = 1 / Math.pow(r + 1, zipf);
  const global = cumulative(weight);
  // Per-cluster item lists (item i is in cluster i % C) with their cumulative popularity.
  const clusterItems: Int32Array[] = [];
  const clusterCdf: Float64Array[] = [];
  for (let c = 0; c < C; c++) {
    const n = Math.ceil((items - c) / C);
    const list = new Int32Array(n);
    const w = new Float64Array(n);
    for (let q = 0; q < n; q++) {
      list[q] = c + q * C;
      w[q] = weight[list[q]];
    }
    clusterItems.push(list);
    clusterCdf.push(cumulative(w));
  }
  // Lengths: geometric-ish around the mean, at least 2, scaled to the requested total.
  const mean = events / users;
  const len = new Int32Array(users);
  let total = 0;
  for (let u = 0; u < users; u++) {
    const l = Math.max(2, Math.round(-Math.log(1 - rng.next() * 0.999) * mean));
    len[u] = l;
    total += l;
  }
  const scale = events / total;
  total = 0;
  for (let u = 0; u < users; u++) {
    len[u] = Math.max(2, Math.round(len[u] * scale));
    total += len[u];
  }
  const indptr = new Int32Array(users + 1);
  for (let u = 0; u < users; u++) indptr[u + 1] = indptr[u] + len[u];
  const out = new Int32Array(total);
  const tastes = new Int32Array(3);
  opts.progress?.update(0, users);
  for (let u = 0; u < users; u++) {
    const nt = 1 + rng.int(3);
    for (let t = 0; t < nt; t++) tastes[t] = rng.int(C);
    for (let p = indptr[u]; p < indptr[u + 1]; p++) {
      if (rng.next() < share) {
        const c = tastes[rng.int(nt)];
        out[p] = clusterItems[c][draw(clusterCdf[c], rng.next())];
      } else out[p] = draw(global, rng.next());
    }
    if ((u & 0xffff) === 0) opts.progress?.update(u);
  }
  opts.progress?.done();
  return { numUsers: users, numItems: items, indptr, items: out };
}
