/**
 * The IVF index's lists / probe against the index of `npm run bench -- serve`'s artifact (IVF or HNSW)
 * (development aid): Recall@100/@200 against exact and CPU per search for real user queries
 * (history excluded, the availability mask as in serving), timed in interleaved rounds
 * (every configuration once per round) with medians: this machine's speed drifts by tens of
 * percent within minutes. IVF indexes are built in memory (k-means: ~10-30 s each at 1M items).
 *
 *   node --import tsx bench/_ivf-params.ts --lists 2048,4096 --probes 0.025,0.03,128 [--rounds 7] [--queries 500]
 *   (a probe below 1 is a share of the lists)
 */
import { parseArgs } from 'node:util';
import { annQueries, cpuMs } from './_ann-queries.js';
import { IvfIndex } from '../src/index/ivf.js';
import type { VectorIndex } from '../src/index/types.js';

const { values } = parseArgs({ options: { lists: { type: 'string' }, probes: { type: 'string' }, queries: { type: 'string' }, rounds: { type: 'string' }, huge: { type: 'boolean' } } });
const nq = Number(values.queries ?? 500);
const rounds = Number(values.rounds ?? 7);
// Only the artifact's LED model is used (and, by _ivf-params, its index).
const { art, vectors, biases, dim, queries: qs, truth100: t100, truth200: t200, mask } = await annQueries(nq);
const cpu = cpuMs;
const configs: { name: string; idx: VectorIndex; set?: () => void; k: number; ms: number[] }[] = [];
const add = (name: string, idx: VectorIndex, set?: () => void) => {
  for (const k of [100, 200]) {
    set?.();
    const t = k === 100 ? t100 : t200;
    let hit = 0;
    for (let i = 0; i < qs.length; i++) for (const id of idx.search(qs[i].u, k, { exclude: qs[i].ex, mask }).ids) if (t[i].has(id)) hit++;
    console.log(`${name} k ${k}: recall ${(hit / (k * qs.length)).toFixed(4)}${idx instanceof IvfIndex ? ` (answered: ${JSON.stringify(idx.stats)})` : ''}`);
    if (idx instanceof IvfIndex) Object.assign(idx.stats, { lists: 0, retried: 0, exact: 0 });
    configs.push({ name: `${name} k ${k}`, idx, set, k, ms: [] });
  }
};
add(`artifact index (${art.index.kind})`, art.index);
for (const lists of (values.lists ?? '4096').split(',').map(Number)) {
  const t0 = performance.now();
  const ivf = IvfIndex.adopt(vectors, biases, dim, art.led.knownItems(), { lists });
  console.log(`ivf lists ${lists}: built in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${(ivf.memoryBytes() / 2 ** 20).toFixed(0)} MB`);
  for (const p of (values.probes ?? '128').split(',').map(Number)) {
    const probe = p < 1 ? Math.ceil(lists * p) : p; // a fraction: that share of the lists
    add(`ivf lists ${lists} probe ${probe}`, ivf, () => { ivf.probe = probe; });
  }
}
for (let r = 0; r < rounds; r++) {
  for (const c of configs) {
    c.set?.();
    const c0 = cpu();
    for (const q of qs) c.idx.search(q.u, c.k, { exclude: q.ex, mask });
    c.ms.push((cpu() - c0) / qs.length);
  }
}
for (const c of configs) {
  const s = [...c.ms].sort((a, b) => a - b);
  console.log(`${c.name}: median ${s[Math.floor(s.length / 2)].toFixed(3)} ms CPU/search (rounds ${c.ms.map((x) => x.toFixed(3)).join(' ')})`);
}
