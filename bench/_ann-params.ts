/**
 * HNSW parameters against each other on the `npm run bench -- serve` data (development aid):
 * builds the LED item index with each M / efConstruction / bands given, then Recall@100/@200
 * against exact and CPU per search for 500 real user queries (history excluded), at k = 100
 * and 200 (the LED quota), for each efSearch.
 *
 *   node --import tsx bench/_ann-params.ts --params 16:100:4,16:200:4,24:100:4 [--efs 200,160]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { latestArtifact } from '../src/artifacts/registry.js';
import { loadArtifact } from '../src/serving/artifact.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { ExactIndex } from '../src/index/exact.js';
import { HnswIndex } from '../src/index/hnsw.js';

const { values } = parseArgs({ options: { params: { type: 'string' }, efs: { type: 'string' }, queries: { type: 'string' } } });
const root = join(import.meta.dirname, '.data', 'serve', 'i1000000-d64', 'u100000-h20');
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const store = await SqliteStore.open(join(root, 'funnel.db'));
const art = await loadArtifact(latestArtifact(join(root, 'models-index-hnsw-m16-efc100-b4'))!);
const { vectors, biases, dim } = art.led.itemVectors();
const exact = ExactIndex.adopt(vectors, biases!, dim);
const nq = Number(values.queries ?? 500);
const qs: { u: Float32Array; ex: Set<number> }[] = [];
for (let i = 0; i < nq; i++) {
  const h = await store.history(`u${(i * 7919) % 100000}`, { types: ['view', 'click', 'purchase', 'add_to_cart', 'like', 'rating'], limit: 50 });
  qs.push({ u: art.led.encodeUser(h.itemIdx), ex: new Set(h.itemIdx) });
}
const truth = (k: number) => qs.map((q) => new Set(exact.search(q.u, k, { exclude: q.ex }).ids));
const t100 = truth(100), t200 = truth(200);
for (const p of (values.params ?? '16:100:4').split(',')) {
  const [m, efc, bands] = p.split(':').map(Number);
  const t0 = performance.now();
  const idx = await HnswIndex.adoptAsync(vectors, biases!, dim, art.led.knownItems(), { m, efConstruction: efc, bands });
  const buildS = (performance.now() - t0) / 1000;
  for (const ef of (values.efs ?? '200').split(',').map(Number)) {
    idx.efSearch = ef;
    for (const k of [100, 200]) {
      const t = k === 100 ? t100 : t200;
      let hit = 0;
      for (let i = 0; i < qs.length; i++) for (const id of idx.search(qs[i].u, k, { exclude: qs[i].ex }).ids) if (t[i].has(id)) hit++;
      const c0 = cpu();
      let n = 0;
      for (let r = 0; r < 3; r++) for (const q of qs) { idx.search(q.u, k, { exclude: q.ex, allow: () => true }); n++; }
      console.log(`M ${m} efC ${efc} bands ${bands} (built in ${buildS.toFixed(0)} s) ef ${ef} k ${k}: recall ${(hit / (k * qs.length)).toFixed(4)}, ${((cpu() - c0) / n).toFixed(3)} ms CPU/search`);
    }
  }
}
await store.close();
process.exit(0);
