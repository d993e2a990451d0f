/**
 * HNSW parameters against each other on the `npm run bench -- serve` data (development aid):
 * builds the LED item index with each M / efConstruction / bands given (kept in memory), then
 * Recall@100/@200 against exact and CPU per search for 500 real user queries (history excluded,
 * the availability mask as in serving), at k = 100 and 200 (the LED quota), for each efSearch.
 * The timing runs in interleaved rounds (every configuration once per round, 7 rounds) and
 * reports medians: this machine's speed drifts by tens of percent within minutes.
 *
 *   node --import tsx bench/_ann-params.ts --params 16:100:4,16:100:2,24:100:2 [--efs 200,160]
 */
import { parseArgs } from 'node:util';
import { annQueries, cpuMs } from './_ann-queries.js';
import { HnswIndex } from '../src/index/hnsw.js';

const { values } = parseArgs({ options: { params: { type: 'string' }, efs: { type: 'string' }, queries: { type: 'string' }, rounds: { type: 'string' } } });
const nq = Number(values.queries ?? 500);
const rounds = Number(values.rounds ?? 7);
// Only the artifact's LED model is used (and, by _ivf-params, its index).
const { art, vectors, biases, dim, queries: qs, truth100: t100, truth200: t200, mask } = await annQueries(nq);
const cpu = cpuMs;
const efs = (values.efs ?? '200').split(',').map(Number);
const configs: { name: string; idx: HnswIndex; ef: number; k: number; ms: number[]; probes: number }[] = [];
for (const p of (values.params ?? '16:100:2').split(',')) {
  const [m, efc, bands] = p.split(':').map(Number);
  const t0 = performance.now();
  const idx = await HnswIndex.adoptAsync(vectors, biases, dim, art.led.knownItems(), { m, efConstruction: efc, bands });
  const buildS = (performance.now() - t0) / 1000;
  for (const ef of efs) {
    idx.efSearch = ef;
    for (const k of [100, 200]) {
      const t = k === 100 ? t100 : t200;
      let hit = 0;
      for (let i = 0; i < qs.length; i++) for (const id of idx.search(qs[i].u, k, { exclude: qs[i].ex, mask }).ids) if (t[i].has(id)) hit++;
      const name = `M ${m} efC ${efc} bands ${idx.bandCount} (built in ${buildS.toFixed(0)} s) ef ${ef} k ${k}`;
      console.log(`${name}: recall ${(hit / (k * qs.length)).toFixed(4)}`);
      configs.push({ name, idx, ef, k, ms: [], probes: 0 });
    }
  }
}
for (let r = 0; r < rounds; r++) {
  for (const c of configs) {
    c.idx.efSearch = c.ef;
    const p0 = c.idx.stats.probes;
    const c0 = cpu();
    for (const q of qs) c.idx.search(q.u, c.k, { exclude: q.ex, mask });
    c.ms.push((cpu() - c0) / qs.length);
    c.probes = (c.idx.stats.probes - p0) / qs.length;
  }
}
for (const c of configs) {
  const s = [...c.ms].sort((a, b) => a - b);
  console.log(`${c.name}: median ${s[Math.floor(s.length / 2)].toFixed(3)} ms CPU/search (rounds ${c.ms.map((x) => x.toFixed(3)).join(' ')}), ${c.probes.toFixed(2)} probes of lower bands per search`);
}
