/**
 * Runs a fitted retrieval model over held-out users and averages per-user metrics.
 *
 * Metric names: `recall@K`, `precision@K`, `ndcg@K`, `map@K`, `hit@K`, `mrr@K` (list metrics
 * on the top-max(K) list, history excluded), `mrr` (rank of the first target from full scores),
 * `auc`, `click_rank` (full scores: each target's normalised rank among the candidates,
 * LED paper §6.2), `coverage@K` (catalog share of all lists), `popularity@K` (mean popularity of
 * the recommended items; needs `popularity`).
 *
 * Users whose target is empty are skipped (counted in `skipped`). With sampled candidates
 * (leave-one-out protocol), lists are the candidates ranked by score (ties: smaller item index).
 */
import {
  exclusionMask, recommendMany, topK, userItems, type RetrievalModel,
} from '../models/retrieval/types.js';
import type { Progress } from '../util/progress.js';
import {
  auc, averagePrecisionAtK, catalogCoverage, hitRateAtK, mean, meanPopularity, ndcgAtK, precisionAtK, recallAtK,
  reciprocalRankAtK, reciprocalRankFromScores, standardError, type Relevant,
} from './metrics.js';
import type { HeldOut } from './protocols.js';

export const DEFAULT_METRICS = ['recall@20', 'recall@50', 'ndcg@100'];

export interface EvaluateOptions {
  /** Default DEFAULT_METRICS (the LED paper's Table 2 columns + the Mult-VAE selection metric). */
  metrics?: string[];
  /** Per-item popularity (e.g. training users per item) for `popularity@K`. */
  popularity?: ArrayLike<number>;
  /** Users per recommendBatch call (default 256). */
  batchSize?: number;
  /** Keep the per-user values in the result. */
  perUser?: boolean;
  progress?: Progress;
}

export interface EvaluationResult {
  /** Mean over evaluated users. */
  metrics: Record<string, number>;
  /** Standard error of each per-user mean (NaN for aggregate metrics). */
  stderr: Record<string, number>;
  /** Users evaluated (non-empty target) and skipped (empty target). */
  users: number;
  skipped: number;
  seconds: number;
  perUser?: Record<string, Float64Array>;
}

type ListMetric = 'recall' | 'precision' | 'ndcg' | 'map' | 'hit' | 'mrr';
interface Parsed {
  name: string;
  kind: ListMetric | 'coverage' | 'popularity' | 'auc' | 'mrr_full' | 'click_rank';
  k: number;
}

function parseMetric(name: string): Parsed {
  const m = /^(recall|precision|ndcg|map|hit|mrr|coverage|popularity)@(\d+)$/.exec(name);
  if (m) {
    const k = Number(m[2]);
    if (k < 1) throw new Error(`metric ${name}: k must be >= 1`);
    return { name, kind: m[1] as Parsed['kind'], k };
  }
  if (name === 'auc') return { name, kind: 'auc', k: 0 };
  if (name === 'mrr') return { name, kind: 'mrr_full', k: 0 };
  if (name === 'click_rank') return { name, kind: 'click_rank', k: 0 };
  throw new Error(`unknown metric '${name}' (known: recall@K, precision@K, ndcg@K, map@K, hit@K, mrr@K, mrr, auc, click_rank, coverage@K, popularity@K)`);
}

const LIST_FNS: Record<ListMetric, (r: ArrayLike<number>, t: Relevant, k: number) => number> = {
  recall: recallAtK, precision: precisionAtK, ndcg: ndcgAtK, map: averagePrecisionAtK, hit: hitRateAtK, mrr: reciprocalRankAtK,
};

/** Mean normalised rank of each target among the candidates (0 best, ½ random). */
function meanTargetRank(scores: ArrayLike<number>, target: Relevant, blocked?: Uint8Array): number {
  const cand: number[] = [];
  for (let i = 0; i < scores.length; i++) if (!blocked?.[i]) cand.push(Number.isNaN(scores[i]) ? -Infinity : scores[i]);
  const n = cand.length;
  if (n < 2) return NaN;
  const sorted = Float64Array.from(cand).sort();
  const lowerBound = (v: number) => { let lo = 0, hi = n; while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid] < v) lo = mid + 1; else hi = mid; } return lo; };
  const upperBound = (v: number) => { let lo = 0, hi = n; while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid] <= v) lo = mid + 1; else hi = mid; } return lo; };
  let total = 0;
  let count = 0;
  for (let i = 0; i < scores.length; i++) {
    if (blocked?.[i] || !target.has(i)) continue;
    const v = Number.isNaN(scores[i]) ? -Infinity : scores[i];
    const above = n - upperBound(v);
    const ties = upperBound(v) - lowerBound(v) - 1;
    total += (above + ties / 2) / (n - 1);
    count++;
  }
  return count ? total / count : NaN;
}

/** Evaluates `model` on `heldOut` (fold-in as input, target as ground truth). */
export async function evaluate(model: RetrievalModel<never>, heldOut: HeldOut, opts: EvaluateOptions = {}): Promise<EvaluationResult> {
  const t0 = performance.now();
  const specs = (opts.metrics ?? DEFAULT_METRICS).map(parseMetric);
  if (specs.some((s) => s.kind === 'popularity') && !opts.popularity) throw new Error('evaluate: popularity@K needs opts.popularity');
  const listK = Math.max(1, ...specs.filter((s) => s.k > 0).map((s) => s.k));
  const needScores = Boolean(heldOut.candidates) || specs.some((s) => s.kind === 'auc' || s.kind === 'mrr_full' || s.kind === 'click_rank');
  const nUsers = heldOut.users.length;
  const values: Record<string, Float64Array> = {};
  for (const s of specs) values[s.name] = new Float64Array(nUsers).fill(NaN);
  const lists: Int32Array[] = [];
  const batch = Math.max(1, opts.batchSize ?? 256);
  opts.progress?.update(0, nUsers);

  const targetSet = (r: number): Set<number> => new Set(userItems(heldOut.target, r));
  /** `full`: scores for the full-score metrics, indexed like `full.target` (items, or candidate positions). */
  const perUser = (r: number, ranked: Int32Array, target: Set<number>, full?: { scores: ArrayLike<number>; target: Relevant; blocked?: Uint8Array }) => {
    lists.push(ranked);
    for (const s of specs) {
      let v: number;
      switch (s.kind) {
        case 'coverage': case 'popularity': continue;
        case 'auc': v = auc(full!.scores, full!.target, full!.blocked); break;
        case 'mrr_full': v = reciprocalRankFromScores(full!.scores, full!.target, full!.blocked); break;
        case 'click_rank': v = meanTargetRank(full!.scores, full!.target, full!.blocked); break;
        default: v = LIST_FNS[s.kind](ranked, target, s.k);
      }
      values[s.name][r] = v;
    }
  };

  let skipped = 0;
  if (heldOut.candidates) {
    const cand = heldOut.candidates;
    for (let r = 0; r < nUsers; r++) {
      const target = targetSet(r);
      if (target.size === 0) { skipped++; continue; }
      const items = userItems(cand, r);
      const sc = Float64Array.from(model.score(userItems(heldOut.foldIn, r), items), (v) => (Number.isNaN(v) ? -Infinity : v));
      // Candidates ranked by score, ties by the smaller item index.
      const order = Array.from(items.keys()).sort((a, b) => (sc[a] > sc[b] ? -1 : sc[a] < sc[b] ? 1 : items[a] - items[b]));
      const ranked = Int32Array.from(order, (q) => items[q]);
      const positions = new Set<number>();
      items.forEach((it, q) => { if (target.has(it)) positions.add(q); });
      perUser(r, ranked, target, { scores: sc, target: positions });
      if ((r & 63) === 0) opts.progress?.update(r);
    }
  } else if (needScores) {
    const mask = new Uint8Array(model.numItems);
    for (let r = 0; r < nUsers; r++) {
      const target = targetSet(r);
      if (target.size === 0) { skipped++; continue; }
      const hist = userItems(heldOut.foldIn, r);
      const scores = model.score(hist);
      exclusionMask(model.numItems, hist, undefined, undefined, mask);
      perUser(r, topK(scores, listK, mask).items, target, { scores, target, blocked: mask });
      if ((r & 63) === 0) opts.progress?.update(r);
    }
  } else {
    for (let start = 0; start < nUsers; start += batch) {
      const end = Math.min(nUsers, start + batch);
      const rows = Int32Array.from({ length: end - start }, (_, q) => start + q);
      const hist = sliceRows(heldOut.foldIn, rows);
      const rec = recommendMany(model, hist, listK);
      for (let q = 0; q < rows.length; q++) {
        const r = rows[q];
        const target = targetSet(r);
        if (target.size === 0) { skipped++; continue; }
        perUser(r, rec.items.slice(q * listK, q * listK + rec.lengths[q]), target);
      }
      opts.progress?.update(end);
    }
  }
  opts.progress?.done();

  const metrics: Record<string, number> = {};
  const stderr: Record<string, number> = {};
  for (const s of specs) {
    if (s.kind === 'coverage') { metrics[s.name] = catalogCoverage(lists, model.numItems, s.k); stderr[s.name] = NaN; continue; }
    if (s.kind === 'popularity') { metrics[s.name] = meanPopularity(lists, opts.popularity!, s.k); stderr[s.name] = NaN; continue; }
    metrics[s.name] = mean(values[s.name]);
    stderr[s.name] = standardError(values[s.name]);
  }
  const result: EvaluationResult = { metrics, stderr, users: nUsers - skipped, skipped, seconds: (performance.now() - t0) / 1000 };
  if (opts.perUser) result.perUser = values;
  return result;
}

function sliceRows(t: HeldOut['foldIn'], rows: Int32Array): HeldOut['foldIn'] {
  const indptr = new Int32Array(rows.length + 1);
  for (let q = 0; q < rows.length; q++) indptr[q + 1] = indptr[q] + t.indptr[rows[q] + 1] - t.indptr[rows[q]];
  const items = new Int32Array(indptr[rows.length]);
  for (let q = 0; q < rows.length; q++) items.set(userItems(t, rows[q]), indptr[q]);
  return { numUsers: rows.length, numItems: t.numItems, indptr, items };
}

/**
 * The model-selection metric: NDCG@k (default 100) of a model on held-out users, as the LED
 * paper chooses checkpoints. Usable as LED's `validate` callback.
 */
export function heldOutNdcg(heldOut: HeldOut, k = 100): (model: object) => Promise<number> {
  const metric = `ndcg@${k}`;
  return async (model) => (await evaluate(model as RetrievalModel<never>, heldOut, { metrics: [metric] })).metrics[metric];
}
