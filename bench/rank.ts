/**
 * `npm run bench -- rank [--requests N] [--users N] [--items N] [--events N] [--profile-events N]
 *                        [--skip-frappe] [--skip-replay]`
 *
 * The ranking stage:
 *  1. Scoring latency: a synthetic log (default 5,000 users × 20,000 items × 300K events) is
 *     replayed into a MemoryProfileStore and into training samples (4 generators' provenance);
 *     LR (FTRL) and FM (k = 8) are trained, then each request scores 500 candidates from 4
 *     generators with features built from the profiles, by the two serving paths on the same
 *     requests (alternating which runs first): the fused scorer (rank/fused.ts, what the funnel
 *     runs: `FeatureExtractor.fetch` + `FusedScorer.score`, item-side partial sums precomputed at
 *     load, no vectors built) and the two passes (`fetch` + `encode` + `RankingModel.score`).
 *     p50 / p99 per request, wall and CPU; `score_*` figures are the fused path's.
 *  2. Profile updates: bench/profiles.ts at a reduced scale (events/s).
 *  3. frappe (NFM/BARS protocol: 1 positive : 2 sampled negatives, 7:2:1 split): test AUC and
 *     log-loss of LR (FTRL) and FM (k = 10, BARS' embedding size), early-stopped on validation.
 *  4. The synth replay (rank/evaluate.ts): expected clicks of the ranker's order against the
 *     generators' rank fusion under the true click model.
 * The machine is shared: the load average at the start is recorded with the figures, and each
 * request's CPU time (process.cpuUsage: time on a core, not waiting for one) is reported beside
 * its wall time.
 */
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseArgs } from 'node:util';
import { intOption } from '../src/cli/args.js';
import { buildSynthWorld, synthEventBatches, synthItems } from '../src/data/synth.js';
import { ColumnarCatalog } from '../src/funnel/catalog.js';
import type { Provenance } from '../src/funnel/types.js';
import { MemoryProfileStore } from '../src/profiles/memory.js';
import { loadFrappe } from '../src/rank/datasets.js';
import { replaySynth } from '../src/rank/evaluate.js';
import { FeatureExtractor, FeatureSpace, type CandidateInfo, type RequestState } from '../src/rank/features.js';
import { FactorizationMachine } from '../src/rank/fm.js';
import { FusedScorer } from '../src/rank/fused.js';
import { LogisticRegression } from '../src/rank/lr.js';
import { auc, logLoss } from '../src/rank/metrics.js';
import { buildSamples, loggedEventsFromSynth, type ImpressionRequest } from '../src/rank/samples.js';
import { trainRanker } from '../src/rank/trainer.js';
import { rowsBatch } from '../src/rank/types.js';
import { run as runProfiles } from './profiles.js';
import { seededUniform } from '../src/math/rng.js';

const GENERATORS = ['led', 'itemknn', 'popular', 'fresh'];

/** A full garbage collection (between the training phases and each timed loop). */
function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const rng = seededUniform;

/** Provenance as 4 generators with quotas would give it (each proposes an item with probability ~0.35). */
function provenanceOf(item: number, salt: number): Provenance[] {
  const out: Provenance[] = [];
  for (let g = 0; g < GENERATORS.length; g++) {
    const h = Math.imul(item + 1, 0x9e3779b1) ^ Math.imul(g + 1 + salt, 0x85ebca6b);
    const u = ((h ^ (h >>> 15)) >>> 0) / 4294967296;
    if (u < 0.35) out.push({ generator: GENERATORS[g], rank: Math.floor(u * 571) % 200, score: 1 - u });
  }
  return out;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args,
    options: {
      requests: { type: 'string' }, users: { type: 'string' }, items: { type: 'string' }, events: { type: 'string' },
      'profile-events': { type: 'string' }, 'skip-frappe': { type: 'boolean' }, 'skip-replay': { type: 'boolean' },
    },
  });
  const nRequests = intOption(values.requests, 'requests', 3000);
  const nUsers = intOption(values.users, 'users', 5000);
  const nItems = intOption(values.items, 'items', 20_000);
  const nEvents = intOption(values.events, 'events', 300_000);
  const profileEvents = intOption(values['profile-events'], 'profile-events', 2_000_000);
  const load = loadavg()[0];
  const K = 500;

  // ---- 1. scoring latency
  let t = performance.now();
  const world = buildSynthWorld({ users: nUsers, items: nItems, events: nEvents, seed: 11, days: 14 });
  const ev = loggedEventsFromSynth(synthEventBatches(world));
  const catalog = ColumnarCatalog.fromItems([...synthItems(world)]);
  const space = new FeatureSpace({ generators: GENERATORS }, catalog);
  const profiles = new MemoryProfileStore({ recentSize: 200 });
  const keys = space.profileKeys();
  profiles.setItemKeys(keys.items, keys.keys);
  const extractor = new FeatureExtractor(space, profiles);
  const { samples } = await buildSamples(ev, extractor, { provenance: (req: ImpressionRequest) => Array.from(req.items, (it) => provenanceOf(it, 0)) });
  console.log(`rank: ${ev.length.toLocaleString()} events → ${samples.size.toLocaleString()} samples (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  const trained: Record<string, Awaited<ReturnType<typeof trainRanker>>> = {};
  for (const model of ['lr', 'fm'] as const) {
    t = performance.now();
    trained[model] = await trainRanker(space, samples, { model, epochs: 3, heads: { click: 1 }, ...(model === 'fm' ? { fm: { l2: 1e-4, l2V: 1e-3, lr: 0.005 } } : {}) });
    console.log(`rank: ${trained[model].report.model} trained in ${((performance.now() - t) / 1000).toFixed(1)} s, synth test AUC ${trained[model].report.test.click.auc.toFixed(4)}`);
  }
  // serving: the profile store holds the whole log; requests at the end of the span, 50 ms apart
  profiles.flush();
  const now0 = ev.timestamp[ev.length - 1] + 1000;
  const r = rng(7);
  const pools: CandidateInfo[][] = [];
  for (let p = 0; p < 64; p++) {
    const seen = new Set<number>();
    const list: CandidateInfo[] = [];
    while (list.length < K) {
      const it = Math.floor(r() * nItems);
      if (seen.has(it)) continue;
      seen.add(it);
      const src = provenanceOf(it, p + 1);
      list.push({ item: it, sources: src.length ? src : [{ generator: 'led', rank: list.length, score: 0.1 }] });
    }
    pools.push(list);
  }
  // Both serving paths on the same requests, alternating which goes first: the fused scorer
  // (rank/fused.ts: item-side partial sums precomputed, no vectors built; what the funnel's
  // RankerScorer runs) and the two passes (encode the sparse vectors, then RankingModel.score).
  const latency: Record<string, { fused: Lat; twoPass: Lat; fetch_us: number; encode_us: number; score_us: number; nnz: number; build_ms: number; max_diff: number }> = {};
  const lat = (times: Float64Array, cpu: Float64Array): Lat => {
    times.sort();
    cpu.sort();
    return { p50_us: +quantile(times, 0.5).toFixed(1), p99_us: +quantile(times, 0.99).toFixed(1), cpu_p50_us: quantile(cpu, 0.5), cpu_p99_us: quantile(cpu, 0.99) };
  };
  for (const model of ['lr', 'fm'] as const) {
    const m = trained[model].model;
    const ex = new FeatureExtractor(m.space, profiles, { fields: m.ranker.usesFields !== false });
    t = performance.now();
    const fused = new FusedScorer(m, new FeatureExtractor(m.space, profiles, { fields: false }));
    const buildMs = performance.now() - t;
    const out = new Float32Array(K);
    const out2 = new Float32Array(K);
    const times = [new Float64Array(nRequests), new Float64Array(nRequests)];
    const cpu = [new Float64Array(nRequests), new Float64Array(nRequests)];
    let fetch = 0;
    let encode = 0;
    let score = 0;
    let nnz = 0;
    let maxDiff = 0;
    const warm = 1000; // JIT warm-up (a serving process runs long)
    fullGc(); // start from a clean heap, not in the middle of collecting the training garbage
    for (let i = -warm; i < nRequests; i++) {
      const user = Math.floor(r() * nUsers);
      const cands = pools[(i + warm) % pools.length];
      const info = { user, now: now0 + (i + warm) * 50, scene: 'home', device: 'mobile' };
      for (let pass = 0; pass < 2; pass++) {
        const which = (pass + i) & 1; // 0 fused, 1 two-pass
        const c0 = process.cpuUsage();
        const a = process.hrtime.bigint();
        let b = a;
        let c = a;
        if (which === 0) fused.score(fused.extractor.fetch(info) as RequestState, cands, out);
        else {
          const st = ex.fetch(info) as RequestState;
          b = process.hrtime.bigint();
          const batch = ex.encode(st, cands);
          c = process.hrtime.bigint();
          m.score(batch, out2);
          if (i >= 0) nnz += batch.rows.indptr[batch.rows.rows] / K;
        }
        const d = process.hrtime.bigint();
        const c1 = process.cpuUsage(c0);
        if (i < 0) continue;
        times[which][i] = Number(d - a) / 1e3;
        cpu[which][i] = c1.user + c1.system;
        if (which === 1) {
          fetch += Number(b - a) / 1e3;
          encode += Number(c - b) / 1e3;
          score += Number(d - c) / 1e3;
        }
      }
      for (let k = 0; k < K; k++) maxDiff = Math.max(maxDiff, Math.abs(out[k] - out2[k]));
    }
    latency[model] = {
      fused: lat(times[0], cpu[0]),
      twoPass: lat(times[1], cpu[1]),
      fetch_us: +(fetch / nRequests).toFixed(1),
      encode_us: +(encode / nRequests).toFixed(1),
      score_us: +(score / nRequests).toFixed(1),
      nnz: +(nnz / nRequests).toFixed(1),
      build_ms: +buildMs.toFixed(1),
      max_diff: maxDiff,
    };
  }

  // ---- 2. profile updates
  console.log('rank: profile updates (bench/profiles.ts at reduced scale):');
  const prof = await runProfiles(['--events', String(profileEvents), '--users', '100000', '--items', '200000', '--queries', '2000']);

  // ---- 3. frappe
  const frappe: Record<string, { auc: number; logloss: number; epochs: number; seconds: number }> = {};
  let frappeInfo: Record<string, number> | undefined;
  if (!values['skip-frappe']) {
    t = performance.now();
    const d = await loadFrappe({ seed: 1 });
    frappeInfo = { rows: d.rows, positives: d.positives, users: d.users, items: d.items, train: d.train.x.rows, validation: d.validation.x.rows, test: d.test.x.rows };
    console.log(`rank: frappe ${d.rows.toLocaleString()} rows (${d.positives.toLocaleString()} positives × 3) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    for (const model of ['lr', 'fm'] as const) {
      t = performance.now();
      const m = model === 'lr' ? new LogisticRegression(d.dim) : new FactorizationMachine(d.dim, { k: 10 });
      const rep = await m.fit(d.train, { epochs: 30, validation: d.validation, patience: 2, seed: 1 });
      const p = m.predict(rowsBatch(d.test.x, d.dim))[0];
      frappe[model] = { auc: +auc(p, d.test.labels.click).toFixed(4), logloss: +logLoss(p, d.test.labels.click).toFixed(4), epochs: rep.bestEpoch, seconds: +((performance.now() - t) / 1000).toFixed(1) };
    }
  }

  // ---- 4. synth replay
  const replay: Record<string, { gain: number; gap_closed: number; ranker: number; rank_fusion: number; oracle: number; logged: number; test_auc: number }> = {};
  if (!values['skip-replay']) {
    for (const model of ['lr', 'fm'] as const) {
      const rep = await replaySynth({ model, seed: 1, ...(model === 'fm' ? { fm: { l2: 1e-3, l2V: 1e-2, lr: 0.002 } } : {}) });
      const o = rep.orderings;
      replay[model] = {
        gain: +rep.gainOverGenerators.toFixed(4),
        gap_closed: +rep.gapClosed.toFixed(4),
        ranker: +o.ranker.expectedClicks.toFixed(4),
        rank_fusion: +o.rank_fusion.expectedClicks.toFixed(4),
        oracle: +o.oracle.expectedClicks.toFixed(4),
        logged: +o.logged.expectedClicks.toFixed(4),
        test_auc: +rep.training.test.click.auc.toFixed(4),
      };
    }
  }

  const models = (['lr', 'fm'] as const).map((model) => ({
    model,
    name: trained[model].report.model,
    ...latencyFields('score_', latency[model].fused),
    fused_build_ms: latency[model].build_ms,
    fused_max_score_diff: latency[model].max_diff,
    ...latencyFields('twopass_', latency[model].twoPass),
    fetch_mean_us: latency[model].fetch_us,
    encode_mean_us: latency[model].encode_us,
    model_mean_us: latency[model].score_us,
    entries_per_candidate: latency[model].nnz,
    target_p99_us: model === 'lr' ? 200 : 500,
    synth_test_auc: +trained[model].report.test.click.auc.toFixed(4),
    ...(frappe[model] ? { frappe_auc: frappe[model].auc, frappe_logloss: frappe[model].logloss, frappe_epochs: frappe[model].epochs, frappe_seconds: frappe[model].seconds } : {}),
    ...(replay[model] ? { replay_gain: replay[model].gain, replay_gap_closed: replay[model].gap_closed, replay_expected_clicks: replay[model].ranker, replay_rank_fusion: replay[model].rank_fusion, replay_oracle: replay[model].oracle } : {}),
  }));
  const loadEnd = loadavg()[0];
  console.log(`rank: ${K} candidates per request, ${nRequests} requests, load average ${load.toFixed(2)} at start, ${loadEnd.toFixed(2)} at the end`);
  console.log('model path       p50 µs   p99 µs  cpu p50  cpu p99  (fetch / encode / model, mean µs)   frappe AUC  log-loss   replay gain');
  for (const m of models) {
    const l = latency[m.model];
    console.log(
      `${m.model.padEnd(5)} fused    ${l.fused.p50_us.toFixed(0).padStart(8)} ${l.fused.p99_us.toFixed(0).padStart(8)} ${l.fused.cpu_p50_us.toFixed(0).padStart(8)} ${l.fused.cpu_p99_us.toFixed(0).padStart(8)}  (tables built in ${l.build_ms.toFixed(0)} ms)`.padEnd(97) +
        `${(m.frappe_auc ?? NaN).toFixed(4).padStart(8)} ${(m.frappe_logloss ?? NaN).toFixed(4).padStart(9)} ${m.replay_gain !== undefined ? `${(100 * m.replay_gain).toFixed(1)}%` : '-'}`.padStart(12),
    );
    console.log(
      `${''.padEnd(5)} two-pass ${l.twoPass.p50_us.toFixed(0).padStart(8)} ${l.twoPass.p99_us.toFixed(0).padStart(8)} ${l.twoPass.cpu_p50_us.toFixed(0).padStart(8)} ${l.twoPass.cpu_p99_us.toFixed(0).padStart(8)}  (${l.fetch_us.toFixed(0)} / ${l.encode_us.toFixed(0)} / ${l.score_us.toFixed(0)})`,
    );
  }
  console.log(`profile updates: ${(Number(prof.events_per_s) / 1e6).toFixed(2)} M events/s`);
  return {
    candidates: K,
    requests: nRequests,
    users: nUsers,
    items: nItems,
    events: ev.length,
    samples: samples.size,
    load_average: +load.toFixed(2),
    load_average_end: +loadEnd.toFixed(2),
    profile_events_per_s: prof.events_per_s,
    profile_events: prof.events,
    ...(frappeInfo ? { frappe: frappeInfo } : {}),
    models,
  };
}

type Lat = { p50_us: number; p99_us: number; cpu_p50_us: number; cpu_p99_us: number };

/** `{PREFIXp50_us, PREFIXp99_us, PREFIXcpu_p50_us, PREFIXcpu_p99_us}` of one scoring path. */
function latencyFields(prefix: string, l: Lat): Record<string, number> {
  return { [`${prefix}p50_us`]: l.p50_us, [`${prefix}p99_us`]: l.p99_us, [`${prefix}cpu_p50_us`]: l.cpu_p50_us, [`${prefix}cpu_p99_us`]: l.cpu_p99_us };
}
