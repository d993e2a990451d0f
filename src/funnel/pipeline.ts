import type { ProfileStore } from '../profiles/types.js';
import { FeatureExtractor, type RequestState } from '../rank/features.js';
import { FusedScorer } from '../rank/fused.js';
import type { RankingModel } from '../rank/model.js';
import { IntSlots } from '../util/int-slots.js';
import type {
  Candidate,
  CandidateGenerator,
  FunnelResult,
  GeneratorOutput,
  GeneratorSlot,
  Provenance,
  RequestContext,
  RerankRule,
  ScoredItem,
  Scorer,
} from './types.js';
import { passesFilters } from './types.js';

/**
 * Reciprocal-rank fusion: score = Σ_g weight_g / (k0 + rank_g + 1). The default scorer until a
 * trained ranker is plugged in; robust to generators whose scores live on different scales.
 */
export class RankFusionScorer implements Scorer {
  readonly name = 'rank_fusion';
  constructor(
    private readonly weights: Record<string, number> = {},
    private readonly k0 = 60,
  ) {}

  /** The weight of a generator's ranks (default 1). */
  weightOf(generator: string): number {
    return this.weights[generator] ?? 1;
  }

  /** The rank offset (score of rank r: weight / (k0 + r + 1)). */
  get offset(): number {
    return this.k0;
  }

  score(_ctx: RequestContext, candidates: Candidate[]): Float32Array {
    const out = new Float32Array(candidates.length);
    for (let i = 0; i < candidates.length; i++) {
      let s = 0;
      for (const p of candidates[i].sources) s += (this.weights[p.generator] ?? 1) / (this.k0 + p.rank + 1);
      out[i] = s;
    }
    return out;
  }
}

/**
 * The trained ranker as the scoring step: features from the request, the candidates'
 * provenance and the real-time profiles (rank/features.ts, the same code that built the
 * training samples), scored by the artifact's `RankingModel` (combined, calibrated heads).
 * Without a model or without profiles it is the fallback scorer (rank fusion by default), so a
 * scene configured for ranking still serves from an artifact that has no ranker.
 */
export class RankerScorer implements Scorer {
  readonly name: string;
  private readonly extractor: FeatureExtractor | undefined;
  /** Scores without building the vectors where the ranker allows it (rank/fused.ts). */
  private readonly fused: FusedScorer | undefined;

  constructor(
    readonly model: RankingModel | undefined,
    readonly profiles: ProfileStore | undefined,
    readonly fallback: Scorer = new RankFusionScorer(),
  ) {
    this.extractor = model && profiles ? new FeatureExtractor(model.space, profiles, { fields: model.ranker.usesFields !== false }) : undefined;
    this.fused = model && this.extractor ? new FusedScorer(model, this.extractor) : undefined;
    this.name = this.extractor ? `ranker:${model!.ranker.kind}` : fallback.name;
  }

  /** Whether the ranker scores (false: the fallback does). */
  get active(): boolean {
    return this.extractor !== undefined;
  }

  score(ctx: RequestContext, candidates: Candidate[]): Float32Array | Promise<Float32Array> {
    const ex = this.extractor;
    if (!ex || candidates.length === 0) return this.fallback.score(ctx, candidates);
    const info = { user: ctx.userIdx ?? -1, now: ctx.now, scene: ctx.scene, ...(ctx.device ? { device: ctx.device } : {}) };
    const state = ex.fetch(info);
    const finish = (s: RequestState) => this.fused!.score(s, candidates, new Float32Array(candidates.length));
    return state instanceof Promise ? state.then(finish) : finish(state);
  }
}

/** Rank fusion weighted by each generator slot's `weight` (default 1). */
export function rankFusionFor(slots: readonly GeneratorSlot[]): RankFusionScorer {
  const weights: Record<string, number> = {};
  for (const g of slots) weights[g.generator.name] = g.weight ?? 1;
  return new RankFusionScorer(weights);
}

/**
 * Scratch of `mergeCandidates`, shared by every funnel of the process (a merge runs to its end
 * without yielding): item → slot, and per slot the position + 1 of the item's candidate (0:
 * dropped by `keep`).
 */
const mergeSlots = new IntSlots();
let mergeAt = new Int32Array(1024);

/**
 * Merges generator outputs: one candidate per item, in order of first appearance, keeping every
 * generator that proposed it (in generator order). Items `keep` refuses (checked once per item)
 * are left out, as are negative indices (never a catalogue item).
 *
 * Allocation: ~400 candidates per request at the default quotas (bench/serve.ts). A Map by item
 * and `sources: []` grown by push allocated ~160 KB per request (an array's first growth
 * reserves 17 slots), half of the request's garbage; the reused table and one-element literals
 * allocate ~75 KB. (A catalogue-sized stamp array instead of the table cost two cache misses
 * per proposal: the merge went from 0.037 to 0.065 ms.)
 */
export function mergeCandidates(
  names: string[],
  outputs: { items: Int32Array; scores: Float32Array }[],
  keep?: (item: number) => boolean,
  /** Per output: its items pass `keep` already (not asked again). */
  kept?: readonly boolean[],
): Candidate[] {
  let total = 0;
  for (const o of outputs) total += o.items.length;
  mergeSlots.reset(total);
  if (mergeAt.length !== mergeSlots.capacity) mergeAt = new Int32Array(mergeSlots.capacity);
  const at = mergeAt;
  const order: Candidate[] = [];
  for (let g = 0; g < outputs.length; g++) {
    const { items, scores } = outputs[g];
    const name = names[g];
    const check = kept?.[g] ? undefined : keep;
    for (let r = 0; r < items.length; r++) {
      const item = items[r];
      if (!(item >= 0)) continue;
      const h = mergeSlots.slot(item);
      if (h < 0) {
        if (check && !check(item)) {
          at[~h] = 0;
          continue;
        }
        order.push({ item, sources: [{ generator: name, rank: r, score: scores[r] }] });
        at[~h] = order.length;
      } else if (at[h] > 0) order[at[h] - 1].sources.push({ generator: name, rank: r, score: scores[r] });
    }
  }
  return order;
}

/**
 * Positions of the k best candidates, best first, in the order the full sort gives (score
 * descending, ties by the lower item index): one pass keeping a small sorted array.
 */
export function topByScore(scores: Float32Array, candidates: readonly Candidate[], k: number): number[] {
  const items = new Int32Array(candidates.length);
  for (let i = 0; i < items.length; i++) items[i] = candidates[i].item;
  return topPositions(scores, items, scores.length, k);
}

/** Candidate a ranks before candidate b (a module function, not a closure per call). */
function before(scores: Float32Array, items: Int32Array, a: number, b: number): boolean {
  return scores[a] > scores[b] || (scores[a] === scores[b] && items[a] < items[b]);
}

/** `topByScore` over the first `n` entries of parallel score and item columns. */
function topPositions(scores: Float32Array, items: Int32Array, n: number, k: number): number[] {
  const m = Math.min(k, n);
  if (m <= 0) return [];
  const top: number[] = [];
  for (let i = 0; i < n; i++) {
    if (top.length === m && !before(scores, items, i, top[m - 1])) continue;
    let p = top.length === m ? m - 1 : top.length;
    while (p > 0 && before(scores, items, i, top[p - 1])) {
      top[p] = top[p - 1];
      p--;
    }
    top[p] = i;
  }
  return top;
}

/** Scratch of `fusedTopK` (a call runs to its end without yielding). */
let fusedItem = new Int32Array(1024);
let fusedSum = new Float64Array(1024);
let fusedScore = new Float32Array(1024);
let fusedRanks = new Int32Array(4096);

/**
 * Merge, rank fusion and top k in one pass over the generator outputs, with no object per
 * candidate: exactly what `mergeCandidates` → `RankFusionScorer.score` → `topByScore` give
 * (the same sums in the same order, rounded to float32 the same way; test/funnel/pipeline.test.ts
 * compares both on random outputs), with provenance objects built for the k items returned only.
 * The candidate objects of the general path were half of a request's garbage (the serve bench's
 * heap profile: ~450 candidates, each an object, a one-element array and a provenance object).
 * Returns undefined when an output lists an item twice (the general path keeps both proposals).
 */
export function fusedTopK(
  names: string[],
  outputs: { items: Int32Array; scores: Float32Array }[],
  fusion: RankFusionScorer,
  k: number,
  keep?: (item: number) => boolean,
  kept?: readonly boolean[],
): { items: ScoredItem[]; candidates: number } | undefined {
  const G = outputs.length;
  let total = 0;
  for (const o of outputs) total += o.items.length;
  mergeSlots.reset(total);
  if (mergeAt.length !== mergeSlots.capacity) mergeAt = new Int32Array(mergeSlots.capacity);
  if (fusedItem.length < total) {
    fusedItem = new Int32Array(total);
    fusedSum = new Float64Array(total);
    fusedScore = new Float32Array(total);
  }
  if (fusedRanks.length < total * G) fusedRanks = new Int32Array(total * G);
  const at = mergeAt;
  const item = fusedItem;
  const sum = fusedSum;
  const ranks = fusedRanks;
  const k0 = fusion.offset;
  let n = 0;
  for (let g = 0; g < G; g++) {
    const { items } = outputs[g];
    const w = fusion.weightOf(names[g]);
    const check = kept?.[g] ? undefined : keep;
    for (let r = 0; r < items.length; r++) {
      const it = items[r];
      if (!(it >= 0)) continue;
      const h = mergeSlots.slot(it);
      let c: number;
      if (h < 0) {
        if (check && !check(it)) {
          at[~h] = 0;
          continue;
        }
        c = n++;
        item[c] = it;
        sum[c] = 0;
        for (let g2 = c * G; g2 < c * G + G; g2++) ranks[g2] = -1; // not fill(): a builtin call per candidate
        at[~h] = n;
      } else if (at[h] > 0) {
        c = at[h] - 1;
        if (ranks[c * G + g] >= 0) return undefined; // listed twice by this generator
      } else continue;
      ranks[c * G + g] = r;
      sum[c] += w / (k0 + r + 1);
    }
  }
  const score = fusedScore;
  for (let c = 0; c < n; c++) score[c] = sum[c];
  const top = topPositions(score, item, n, k);
  const out: ScoredItem[] = new Array(top.length);
  for (let p = 0; p < top.length; p++) {
    const c = top[p];
    const sources: Provenance[] = [];
    for (let g = 0; g < G; g++) {
      const r = ranks[c * G + g];
      if (r >= 0) sources.push({ generator: names[g], rank: r, score: outputs[g].scores[r] });
    }
    out[p] = { item: item[c], sources, score: score[c] };
  }
  return { items: out, candidates: n };
}

/** The scorer's plain rank fusion when that is all it does (a ranker scene without a ranker falls back to it). */
function plainFusion(scorer: Scorer): RankFusionScorer | undefined {
  if (Object.getPrototypeOf(scorer) === RankFusionScorer.prototype) return scorer as RankFusionScorer;
  if (Object.getPrototypeOf(scorer) === RankerScorer.prototype) {
    const rs = scorer as RankerScorer;
    if (!rs.active) return plainFusion(rs.fallback);
  }
  return undefined;
}

export interface FunnelOptions {
  generators: GeneratorSlot[];
  scorer?: Scorer;
  rules?: RerankRule[];
}

/** One scene's funnel. Stateless between requests; safe to share. */
export class Funnel {
  readonly generators: GeneratorSlot[];
  readonly scorer: Scorer;
  readonly rules: RerankRule[];
  private readonly names: string[];
  /** Per generator: its items pass the request's filters already (CandidateGenerator.filtered). */
  private readonly filtered: boolean[];
  /** The scorer when it is plain rank fusion (merged, scored and selected in one pass). */
  private readonly fusion: RankFusionScorer | undefined;

  constructor(opts: FunnelOptions) {
    if (opts.generators.length === 0) throw new Error('a funnel needs at least one generator');
    const names = new Set<string>();
    for (const g of opts.generators) {
      if (names.has(g.generator.name)) throw new Error(`generator name '${g.generator.name}' is used twice in one funnel`);
      names.add(g.generator.name);
      if (!(g.quota > 0)) throw new Error(`generator '${g.generator.name}': quota must be > 0`);
    }
    this.generators = opts.generators;
    this.names = opts.generators.map((g) => g.generator.name);
    this.filtered = opts.generators.map((g) => g.generator.filtered === true);
    this.scorer = opts.scorer ?? rankFusionFor(opts.generators);
    this.fusion = plainFusion(this.scorer);
    this.rules = opts.rules ?? [];
  }

  async recommend(ctx: RequestContext): Promise<FunnelResult> {
    const t0 = performance.now();
    const gens = this.generators;
    const produced: (GeneratorOutput | Promise<GeneratorOutput>)[] = new Array(gens.length);
    let pending = false;
    for (let g = 0; g < gens.length; g++) {
      const o = gens[g].generator.generate(ctx, gens[g].quota);
      if (typeof (o as Partial<PromiseLike<GeneratorOutput>>).then === 'function') pending = true; // any thenable
      produced[g] = o;
    }
    const outputs = pending ? await Promise.all(produced) : (produced as GeneratorOutput[]);
    const t1 = performance.now();
    const keep = (item: number) => passesFilters(ctx, item);
    if (this.fusion && this.rules.length === 0 && !ctx.debug) {
      // Rank fusion and no rules: merged, scored and selected in one pass (same result).
      const fused = fusedTopK(this.names, outputs, this.fusion, ctx.k, keep, this.filtered);
      if (fused) {
        const t2 = performance.now();
        return { items: fused.items, candidates: fused.candidates, timings: { generate_ms: t1 - t0, merge_ms: t2 - t1, score_ms: 0, rerank_ms: 0, total_ms: t2 - t0 } };
      }
    }
    const candidates = mergeCandidates(this.names, outputs, keep, this.filtered);
    const t2 = performance.now();
    const scores = await this.scorer.score(ctx, candidates);
    if (this.rules.length === 0 && !ctx.debug) {
      // No rules to see the whole list: the k best are selected, not every candidate sorted.
      const top = topByScore(scores, candidates, ctx.k);
      const items: ScoredItem[] = top.map((i) => ({ item: candidates[i].item, sources: candidates[i].sources, score: scores[i] }));
      const t3 = performance.now();
      return { items, candidates: candidates.length, timings: { generate_ms: t1 - t0, merge_ms: t2 - t1, score_ms: t3 - t2, rerank_ms: 0, total_ms: t3 - t0 } };
    }
    // A literal of one shape, not `{ ...c, score }`: the spread made this step 10× slower
    // (0.23 ms for 450 candidates; bench/serve.ts).
    let list: ScoredItem[] = candidates.map((c, i) => ({ item: c.item, sources: c.sources, score: scores[i] }));
    // Best first; ties broken by the lower item index so results are deterministic. The
    // comparator returns small integers: a fractional difference is a heap number per call
    // (~30 KB of garbage per request of 450 candidates).
    list.sort((a, b) => (b.score > a.score ? 1 : b.score < a.score ? -1 : a.item - b.item));
    if (ctx.debug) for (const s of list) s.trace = [`${this.scorer.name}: score ${s.score.toPrecision(6)}`];
    const t3 = performance.now();
    for (const rule of this.rules) list = rule.apply(ctx, list);
    const t4 = performance.now();
    return {
      items: list.slice(0, ctx.k),
      candidates: candidates.length,
      timings: { generate_ms: t1 - t0, merge_ms: t2 - t1, score_ms: t3 - t2, rerank_ms: t4 - t3, total_ms: t4 - t0 },
    };
  }
}

/** A generator over a fixed ranked list (popular items, editorial picks...), honouring filters. */
export class StaticListGenerator implements CandidateGenerator {
  readonly filtered = true;
  constructor(
    readonly name: string,
    private readonly items: Int32Array,
    private readonly scores: Float32Array,
  ) {}

  generate(ctx: RequestContext, k: number) {
    const items: number[] = [];
    const scores: number[] = [];
    for (let i = 0; i < this.items.length && items.length < k; i++) {
      const it = this.items[i];
      if (!passesFilters(ctx, it)) continue;
      items.push(it);
      scores.push(this.scores[i]);
    }
    return { items: Int32Array.from(items), scores: Float32Array.from(scores) };
  }
}
