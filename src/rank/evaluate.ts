/**
 * Offline evaluation of ranking: the metrics on logged impressions (metrics.ts: AUC, log-loss,
 * GAUC, click-rank) and a replay on `funnel synth` logs whose click model is known, measuring
 * what re-ordering the impressed lists by the ranker would gain over ordering them by the
 * generators' scores.
 *
 * ## The synth replay (`replaySynth`)
 *
 * 1. Generate a synthetic log (data/synth.ts: P(click) = e(p)·α(u, i) with e(p) = (1+p)^−η).
 * 2. Warm-up: the first `warmup` share of the span trains the generators: item-kNN (cosine) on
 *    the users' view/click/cart/purchase timelines, and popularity (clicks per item). They are
 *    the funnel's generators for the rest of the log: at each later request, every impressed
 *    item gets the provenance it would have had (each generator's score and rank, when the
 *    item is within its quota), from the user's recent history at that time.
 * 3. Samples from the impressions after the warm-up (samples.ts, leakage-free replay through
 *    the profiles), split by time into train / calibration / test; the ranker is trained
 *    (trainer.ts).
 * 4. On the test requests, each impressed list is re-ordered by (a) the logging policy as logged,
 *    (b) reciprocal-rank fusion of the generators (the funnel's default scorer, `rank_fusion`),
 *    (c) the ranker (features with the serving position), (d) the true attractiveness α (the
 *    oracle) and (e) at random, and each order's expected clicks under the TRUE click model,
 *    Σ_p e(p)·α(u, item at p), are averaged over requests. Ties are averaged over their
 *    positions (an order cannot be better than its information).
 *
 * The logging policy orders by true affinity plus noise, so it is a strong (privileged)
 * baseline; the generators know only the past.
 */
import { attractiveness, buildSynthWorld, examination, synthEventBatches, synthItems, synthUserVector, type SynthInput } from '../data/synth.js';
import { ColumnarCatalog } from '../funnel/catalog.js';
import type { Provenance } from '../funnel/types.js';
import { ItemKnnModel } from '../models/retrieval/itemknn.js';
import { timelinesFromArrays } from '../models/retrieval/types.js';
import { MemoryProfileStore } from '../profiles/memory.js';
import { FeatureExtractor, FeatureSpace, type FeatureConfig } from './features.js';
import type { FmOptions } from './fm.js';
import type { LrOptions } from './lr.js';
import { auc, groupRows, meanClickRank } from './metrics.js';
import { buildSamples, loggedEventsFromSynth } from './samples.js';
import { trainRanker, type RankerModelKind, type RankerTrainingReport } from './trainer.js';
import { rowsBatch } from './types.js';

export { auc, gauc, logLoss, meanClickRank, evaluateHead } from './metrics.js';

/**
 * Expected clicks of showing `items` in the order of decreasing `scores` under a position-based
 * model: Σ_p exam[p]·attract[item at p]. Items with equal scores share the mean examination of
 * the positions they span (the expectation over every order of the tie).
 */
export function expectedClicks(scores: ArrayLike<number>, attract: ArrayLike<number>, exam: ArrayLike<number>): number {
  const n = scores.length;
  if (attract.length !== n) throw new RangeError(`expectedClicks: attract has ${attract.length} entries for ${n} scores`);
  if (exam.length < n) throw new RangeError(`expectedClicks: exam has ${exam.length} positions for ${n} items`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let total = 0;
  for (let s = 0; s < n; ) {
    let e = s;
    while (e + 1 < n && scores[order[e + 1]] === scores[order[s]]) e++;
    let ex = 0;
    for (let p = s; p <= e; p++) ex += exam[p];
    ex /= e - s + 1;
    for (let p = s; p <= e; p++) total += ex * attract[order[p]];
    s = e + 1;
  }
  return total;
}

/** Reciprocal-rank fusion of provenance (the funnel's default scorer, weights 1, k0 = 60). */
export function rankFusion(sources: readonly Provenance[] | undefined, k0 = 60): number {
  let s = 0;
  if (sources) for (const p of sources) s += 1 / (k0 + p.rank + 1);
  return s;
}

export interface SynthReplayOptions {
  /** The synthetic world and log (default 2,000 users, 2,000 items, 200K events, 30 days). */
  synth?: SynthInput;
  model?: RankerModelKind;
  lr?: LrOptions;
  fm?: FmOptions;
  features?: Partial<FeatureConfig>;
  /** Share of the span that trains the generators (default 0.3). */
  warmup?: number;
  /** Candidates each generator contributes at most (default 200). */
  quota?: number;
  /** Split of the later samples (default [0.7, 0.2, 0.1]). */
  split?: [number, number, number];
  epochs?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface OrderingFigures {
  /** Mean expected clicks per test request under the true click model. */
  expectedClicks: number;
  /** Mean click-rank of the logged clicks in the test lists (0 best, 0.5 random). */
  clickRank: number;
  /** AUC of the ordering's scores against the logged clicks. */
  auc: number;
}

export interface SynthReplayReport {
  events: number;
  samples: number;
  testRequests: number;
  /** Share of test impressions proposed by at least one generator. */
  generatorCoverage: number;
  orderings: Record<'logged' | 'rank_fusion' | 'ranker' | 'oracle' | 'random', OrderingFigures>;
  /** ranker / rank_fusion − 1 in expected clicks. */
  gainOverGenerators: number;
  /** (ranker − rank_fusion) / (oracle − rank_fusion). */
  gapClosed: number;
  /** AUC of the true click probabilities e(p)·α against the logged test clicks (the ceiling). */
  trueClickAuc: number;
  training: RankerTrainingReport;
  seconds: number;
}

export async function replaySynth(opts: SynthReplayOptions = {}): Promise<SynthReplayReport> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const world = buildSynthWorld({ users: 2000, items: 2000, events: 200_000, ...opts.synth });
  const ev = loggedEventsFromSynth(synthEventBatches(world));
  const catalog = ColumnarCatalog.fromItems([...synthItems(world)]);
  const warm = opts.warmup ?? 0.3;
  if (!(warm > 0 && warm < 1)) throw new RangeError(`replay: warmup must be in (0, 1), got ${warm}`);
  const warmEnd = world.start + warm * (world.end - world.start);
  const quota = opts.quota ?? 200;
  log(`replay: ${ev.length} events, warm-up until ${new Date(warmEnd).toISOString()}`);

  // ---- generators trained on the warm-up
  const N = world.opts.items;
  const T = (name: string) => ev.typeNames.indexOf(name);
  const histTypes = new Set(['view', 'click', 'add_to_cart', 'purchase'].map(T));
  const hu: number[] = [];
  const hi: number[] = [];
  const ht: number[] = [];
  const clicks = new Float64Array(N);
  for (let j = 0; j < ev.length; j++) {
    if (ev.timestamp[j] >= warmEnd) continue;
    if (histTypes.has(ev.type[j])) {
      hu.push(ev.user[j]);
      hi.push(ev.item[j]);
      ht.push(ev.timestamp[j]);
    }
    if (ev.type[j] === T('click')) clicks[ev.item[j]]++;
  }
  const knn = new ItemKnnModel();
  await knn.fit(timelinesFromArrays({ userIdx: hu, itemIdx: hi, timestamp: ht, numUsers: world.opts.users, numItems: N }), { similarity: 'cosine', k: 100 });
  const popOrder = Int32Array.from({ length: N }, (_, i) => i).sort((a, b) => clicks[b] - clicks[a] || a - b);
  const popRank = new Int32Array(N);
  popOrder.forEach((it, r) => (popRank[it] = r));
  const generators = ['itemknn', 'popular'];

  // ---- samples (after the warm-up), with the generators' provenance at impression time
  const space = new FeatureSpace({ generators, ...opts.features }, catalog);
  const profiles = new MemoryProfileStore({ recentSize: 200 });
  const pk = space.profileKeys();
  profiles.setItemKeys(pk.items, pk.keys);
  const extractor = new FeatureExtractor(space, profiles);
  const touchTypes = ['view', 'click', 'add_to_cart', 'purchase'];
  const { samples, report: sampleReport } = await buildSamples(ev, extractor, {
    from: warmEnd,
    provenance: (req, p) => {
      const recent = (p as MemoryProfileStore).recentItems(req.user, 50, touchTypes);
      const hist = recent.itemIdx.slice().reverse(); // oldest first
      const s = hist.length ? knn.score(hist) : undefined;
      return Array.from(req.items, (it) => {
        const out: Provenance[] = [];
        if (s && s[it] > 0) {
          const si = s[it];
          let rank = 0;
          for (let j = 0; j < N; j++) if (s[j] > si || (s[j] === si && j < it)) rank++;
          if (rank < quota) out.push({ generator: 'itemknn', rank, score: si });
        }
        if (popRank[it] < quota) out.push({ generator: 'popular', rank: popRank[it], score: clicks[it] });
        return out.length ? out : undefined;
      });
    },
  });
  log(`replay: ${sampleReport.samples} samples from ${sampleReport.requests} requests (${(sampleReport.ms / 1000).toFixed(1)} s)`);

  // ---- the ranker
  const { model, report: training } = await trainRanker(space, samples, {
    model: opts.model ?? 'lr',
    ...(opts.lr ? { lr: opts.lr } : {}),
    ...(opts.fm ? { fm: opts.fm } : {}),
    heads: { click: 1 },
    ...(opts.split ? { split: opts.split } : {}),
    ...(opts.epochs !== undefined ? { epochs: opts.epochs } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  });
  log(`replay: ${training.model} trained (${training.seconds.toFixed(1)} s), test AUC ${training.test.click?.auc.toFixed(4)}`);

  // ---- counterfactual orderings of the test lists
  const test = samples.splitByTime(opts.split ?? [0.7, 0.2, 0.1])[2];
  const rows = samples.encode(model.space, test, { position: model.space.config.servePosition });
  const pRanker = model.ranker.predict(rowsBatch(rows.x, model.space.dim))[0];
  const K = world.opts.impressionsPerRequest;
  const exam = Float64Array.from({ length: K }, (_, p) => examination(world.opts.click, p));
  const users = new Map<number, Float32Array>();
  const vec = (u: number) => {
    let v = users.get(u);
    if (!v) users.set(u, (v = synthUserVector(world, u)));
    return v;
  };
  const n = test.length;
  const alpha = new Float64Array(n);
  const trueP = new Float64Array(n);
  const fusion = new Float64Array(n);
  const logged = new Float64Array(n);
  const clicked = new Float32Array(n);
  let covered = 0;
  for (let q = 0; q < n; q++) {
    const s = test[q];
    const g = samples.group[s];
    const item = samples.item[s];
    alpha[q] = attractiveness(world, vec(samples.groupUser[g]), item);
    const pos = samples.position[s];
    trueP[q] = alpha[q] * examination(world.opts.click, Math.max(0, pos));
    logged[q] = -pos;
    clicked[q] = samples.click[s];
  }
  // rank fusion from the provenance each sample was built with (its generator rank features)
  const D = model.space.D;
  const dense = new Float32Array(model.space.denseSize);
  for (let q = 0; q < n; q++) {
    samples.denseOf(test[q], dense);
    const off = model.space.requestDense.length;
    let f = 0;
    for (let slot = 0; slot < generators.length; slot++) {
      const rank = dense[off + D.genRank + slot];
      if (rank === rank) f += 1 / (60 + rank + 1);
    }
    fusion[q] = f;
    if (f > 0) covered++;
  }
  const lists = groupRows(Int32Array.from(test, (s) => samples.group[s]));
  const figures = (scores: ArrayLike<number>): OrderingFigures => {
    let total = 0;
    for (const l of lists) {
      const sc = Array.from(l, (q) => scores[q]);
      const at = Array.from(l, (q) => alpha[q]);
      total += expectedClicks(sc, at, exam);
    }
    const groups = Int32Array.from(test, (s) => samples.group[s]);
    return { expectedClicks: total / lists.length, clickRank: meanClickRank(scores, clicked, groups).clickRank, auc: auc(scores, clicked) };
  };
  const constant = new Float64Array(n);
  const orderings = {
    logged: figures(logged),
    rank_fusion: figures(fusion),
    ranker: figures(pRanker),
    oracle: figures(alpha),
    random: figures(constant),
  };
  const gain = orderings.ranker.expectedClicks / orderings.rank_fusion.expectedClicks - 1;
  const gap = (orderings.ranker.expectedClicks - orderings.rank_fusion.expectedClicks) / (orderings.oracle.expectedClicks - orderings.rank_fusion.expectedClicks);
  return {
    events: ev.length,
    samples: samples.size,
    testRequests: lists.length,
    generatorCoverage: n ? covered / n : NaN,
    orderings,
    gainOverGenerators: gain,
    gapClosed: gap,
    trueClickAuc: auc(trueP, clicked),
    training,
    seconds: (performance.now() - t0) / 1000,
  };
}
