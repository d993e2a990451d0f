/**
 * In-process profile of the serving path on the `npm run bench -- serve` data (no HTTP):
 * CPU time per request of the LED index search and of the whole service.recommend, with
 * the index's search statistics and recall against exact. Development aid.
 *
 *   node --import tsx bench/_serve-profile.ts [ann|service|all] [--n N]
 */
import { join } from 'node:path';
import { serveModelsDir } from './serve.js';
import { latestArtifact } from '../src/artifacts/registry.js';
import { loadArtifact } from '../src/serving/artifact.js';
import { StoreCatalog } from '../src/serving/catalog.js';
import { RecommendationService } from '../src/serving/service.js';
import { servingProfile } from '../src/serving/profile.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { resolveConfig } from '../src/train/config.js';
import { ExactIndex } from '../src/index/exact.js';
import type { HnswIndex } from '../src/index/hnsw.js';
import { setHugePageCopies, setPopulateMappings } from '../src/math/kernels/native.js';

// POPULATE=1: mapped artifacts populated at load, as a serving process does (src/server/serving-process.ts).
setPopulateMappings(process.env.POPULATE === '1');
// HUGE=1: large artifact arrays read onto huge pages, as a single serving process does.
setHugePageCopies(process.env.HUGE === '1');

const root = join(import.meta.dirname, '.data', 'serve', 'i1000000-d64', 'u100000-h20');
const mode = process.argv[2] ?? 'all';
const N = process.argv.includes('--n') ? Number(process.argv[process.argv.indexOf('--n') + 1]) : 2000;
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };

const store = await SqliteStore.open(join(root, 'funnel.db'));
const tLoad = performance.now();
const art = await loadArtifact(latestArtifact(serveModelsDir(root))!);
console.log(`artifact loaded in ${((performance.now() - tLoad) / 1000).toFixed(2)} s`);
const users = Array.from({ length: N }, (_, i) => `u${(i * 7919) % 100000}`);

if (mode === 'ann' || mode === 'all') {
  const idx = art.index as HnswIndex;
  const { vectors, biases, dim } = art.led.itemVectors();
  const exact = ExactIndex.adopt(vectors, biases!, dim);
  const qs: { u: Float32Array; ex: Set<number> }[] = [];
  for (const id of users.slice(0, 500)) {
    const h = await store.history(id, { types: ['view', 'click', 'purchase', 'add_to_cart', 'like', 'rating'], limit: 50 });
    qs.push({ u: art.led.encodeUser(h.itemIdx), ex: new Set(h.itemIdx) });
  }
  const truth = (k: number) => qs.slice(0, 200).map((q) => new Set(exact.search(q.u, k, { exclude: q.ex }).ids));
  const t100 = truth(100), t200 = truth(200);
  const efs = (process.env.EFS ?? String(idx.efSearch)).split(',').map(Number);
  for (const ef of efs) {
    idx.efSearch = ef;
    for (const k of [100, 200]) {
      const t = k === 100 ? t100 : t200;
      let hit = 0;
      for (let i = 0; i < 200; i++) for (const id of idx.search(qs[i].u, k, { exclude: qs[i].ex }).ids) if (t[i].has(id)) hit++;
      for (const key of Object.keys(idx.stats)) (idx.stats as Record<string, number>)[key] = 0;
      const c0 = cpu();
      let n = 0;
      for (let r = 0; r < 3; r++) for (const q of qs) { idx.search(q.u, k, { exclude: q.ex, allow: () => true }); n++; }
      const ms = (cpu() - c0) / n;
      console.log(`ef ${ef} k ${k}: recall ${(hit / (k * 200)).toFixed(4)} cpu ${ms.toFixed(3)} ms/search stats ${JSON.stringify(Object.fromEntries(Object.entries(idx.stats).map(([a, b]) => [a, +(b / n).toFixed(2)])))}`);
    }
  }
}

if (mode === 'service' || mode === 'all') {
  const cat = await StoreCatalog.open(store, 0);
  const svc = new RecommendationService(store, art, cat, resolveConfig(art.manifest.config ?? {}), { logImpressions: process.env.NOIMP ? false : true });
  for (const u of users.slice(0, 300)) await svc.recommend({ userId: u, k: 20 });
  servingProfile.enable(true);
  for (let rep = 0; rep < 2; rep++) {
    servingProfile.reset();
    const c0 = cpu();
    for (const u of users) await svc.recommend({ userId: u, k: 20 });
    await svc.flush();
    const ms = (cpu() - c0) / users.length;
    const p = servingProfile.snapshot();
    console.log(`service.recommend: cpu ${ms.toFixed(3)} ms/request; split ${Object.entries(p).map(([k, v]) => `${k} ${v.mean_ms.toFixed(3)}`).join(', ')}`);
    console.log(`index stats: ${JSON.stringify((art.index as HnswIndex).stats)}`);
  }
}
{ const { readFileSync } = await import('node:fs'); console.log(readFileSync('/proc/self/smaps_rollup', 'utf8').split('\n').filter((l) => /Pmd|Rss|AnonHuge/.test(l)).join(' | ')); }
await store.close();
process.exit(0);
