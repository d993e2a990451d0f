/**
 * One-off measurement behind the choice of HNSW library and space (see src/index/hnsw.ts):
 * Funnel's graph (hnswlib vendored in the native addon: -march=native, batch prefetch) vs the
 * npm packages hnswlib-node and usearch (devDependencies, only for this comparison), MIPS-with-
 * bias reduced to L2 by norm augmentation vs the inner-product space directly. Not dispatched
 * by bench/run.ts (leading underscore):
 *
 *   node --import tsx bench/_ann-compare.ts [items=100000] [dim=64] [queries=200] [k=100]
 */
import hnswlib from 'hnswlib-node';
import { newGraph } from '../src/index/graph.js';
import { Index, MetricKind, ScalarKind } from 'usearch';
import { syntheticCatalog, syntheticQueries } from '../src/index/synthetic.js';
import { ExactIndex } from '../src/index/exact.js';
import { augmentItems, augmentQuery } from '../src/index/mips.js';

const [nArg, dArg, qArg, kArg] = process.argv.slice(2).map(Number);
const n = nArg || 100_000;
const d = dArg || 64;
const nq = qArg || 200;
const k = kArg || 100;
const cat = syntheticCatalog({ items: n, dim: d, seed: 1 });
const queries = syntheticQueries(cat, nq, 2);
const exact = ExactIndex.build(cat.vectors, cat.biases, d);
const truth = queries.map((q) => new Set(exact.search(q, k).ids));
const recall = (got: ArrayLike<number>[]): number => {
  let hit = 0;
  got.forEach((g, i) => {
    for (let p = 0; p < g.length; p++) if (truth[i].has(g[p])) hit++;
  });
  return hit / (nq * k);
};
const tq0 = performance.now();
for (const q of queries) exact.search(q, k);
console.log(`exact: ${((performance.now() - tq0) / nq).toFixed(3)} ms/query`);

const M = 16;
const efC = 100;
const aug = augmentItems(cat.vectors, cat.biases, d);
const ipItems = new Float32Array(n * (d + 1));
for (let i = 0; i < n; i++) {
  ipItems.set(cat.vectors.subarray(i * d, (i + 1) * d), i * (d + 1));
  ipItems[i * (d + 1) + d] = cat.biases[i];
}
const ipQuery = (q: Float32Array) => {
  const o = new Float32Array(d + 1);
  o.set(q);
  o[d] = 1;
  return o;
};

for (const space of ['l2', 'ip'] as const) {
  const D = space === 'l2' ? aug.dim : d + 1;
  const X = space === 'l2' ? aug.vectors : ipItems;
  const Q = queries.map((q) => (space === "l2" ? (augmentQuery(q, d) as Float32Array) : ipQuery(q)));
  // hnswlib-node
  {
    const h = new hnswlib.HierarchicalNSW(space, D);
    const t0 = performance.now();
    h.initIndex(n, M, efC, 1);
    const row: number[] = new Array(D);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < D; j++) row[j] = X[i * D + j];
      h.addPoint(row, i);
    }
    const build = (performance.now() - t0) / 1000;
    for (const ef of [100, 200, 400]) {
      h.setEf(ef);
      const qs = Q.map((q) => Array.from(q));
      const t1 = performance.now();
      const got = qs.map((q) => h.searchKnn(q, k).neighbors);
      const ms = (performance.now() - t1) / nq;
      console.log(`hnswlib ${space} M=${M} efC=${efC}: build ${build.toFixed(1)} s, ef=${ef}: ${ms.toFixed(3)} ms/query, recall@${k} ${recall(got).toFixed(4)}`);
    }
  }
  // Funnel's graph (L2 only: the vendored build has no inner-product space)
  if (space === 'l2') {
    const g = newGraph(D);
    const t0 = performance.now();
    g.initIndex(n, M, efC, 1);
    for (let i = 0; i < n; i++) g.addPoint(X.subarray(i * D, (i + 1) * D), i);
    const build = (performance.now() - t0) / 1000;
    const labels = new Int32Array(k);
    for (const ef of [100, 200, 400]) {
      g.setEf(ef);
      const t1 = performance.now();
      const got = Q.map((q) => labels.slice(0, g.search(q, k, labels, null)));
      const ms = (performance.now() - t1) / nq;
      console.log(`funnel ${space} M=${M} efC=${efC}: build ${build.toFixed(1)} s, ef=${ef}: ${ms.toFixed(3)} ms/query, recall@${k} ${recall(got).toFixed(4)}`);
    }
  }
  // usearch
  for (const threads of [1, 2]) {
    const t0 = performance.now();
    const u = new Index({ dimensions: D, metric: space === 'l2' ? MetricKind.L2sq : MetricKind.IP, quantization: ScalarKind.F32, connectivity: M, expansion_add: efC, expansion_search: 200, multi: false });
    const keys = new BigUint64Array(n);
    for (let i = 0; i < n; i++) keys[i] = BigInt(i);
    u.add(keys, X, threads);
    const build = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const got = Q.map((q) => Array.from(u.search(q, k, 1).keys, Number));
    const ms = (performance.now() - t1) / nq;
    console.log(`usearch ${space} M=${M} efC=${efC} threads=${threads}: build ${build.toFixed(1)} s, ef=200: ${ms.toFixed(3)} ms/query, recall@${k} ${recall(got).toFixed(4)}`);
  }
}
