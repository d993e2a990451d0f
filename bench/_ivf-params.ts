/**
 * The IVF index's lists / probe against the HNSW index of `npm run bench -- serve`'s artifact
 * (development aid): Recall@100/@200 against exact and CPU per search for real user queries
 * (history excluded, the availability mask as in serving), timed in interleaved rounds
 * (every configuration once per round) with medians: this machine's speed drifts by tens of
 * percent within minutes. IVF indexes are built in memory (k-means: ~10-30 s each at 1M items).
 *
 *   node --import tsx bench/_ivf-params.ts --lists 2048,4096 --probes 0.025,0.03,128 [--rounds 7] [--queries 500]
 *   (a probe below 1 is a share of the lists)
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { serveModelsDir } from './serve.js';
import { latestArtifact } from '../src/artifacts/registry.js';
import { loadArtifact } from '../src/serving/artifact.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { ExactIndex } from '../src/index/exact.js';
import { IvfIndex } from '../src/index/ivf.js';
import type { VectorIndex } from '../src/index/types.js';

const { values } = parseArgs({ options: { lists: { type: 'string' }, probes: { type: 'string' }, queries: { type: 'string' }, rounds: { type: 'string' }, huge: { type: 'boolean' } } });
const root = join(import.meta.dirname, '.data', 'serve', 'i1000000-d64', 'u100000-h20');
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const store = await SqliteStore.open(join(root, 'funnel.db'));
const art = await loadArtifact(latestArtifact(serveModelsDir(root))!);
const { vectors, biases, dim } = art.led.itemVectors();
const exact = ExactIndex.adopt(vectors, biases!, dim);
const nq = Number(values.queries ?? 500);
const rounds = Number(values.rounds ?? 7);
const mask = new Uint8Array(biases!.length).fill(1);
const qs: { u: Float32Array; ex: Set<number> }[] = [];
for (let i = 0; i < nq; i++) {
  const h = await store.history(`u${(i * 7919) % 100000}`, { types: ['view', 'click', 'purchase', 'add_to_cart', 'like', 'rating'], limit: 50 });
  qs.push({ u: art.led.encodeUser(h.itemIdx), ex: new Set(h.itemIdx) });
}
const truth = (k: number) => qs.map((q) => new Set(exact.search(q.u, k, { exclude: q.ex }).ids));
const t100 = truth(100), t200 = truth(200);
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
add('hnsw (artifact)', art.index);
for (const lists of (values.lists ?? '4096').split(',').map(Number)) {
  const t0 = performance.now();
  const ivf = IvfIndex.adopt(vectors, biases!, dim, art.led.knownItems(), { lists });
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
await store.close();
