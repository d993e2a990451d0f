/**
 * Offline ranking metrics, one user at a time.
 *
 * Conventions (pinned by test/eval/metrics.test.ts):
 *  - `ranked` is a recommendation list, best first, without duplicates; it may be shorter than k
 *    (a list of n < k items is scored as if padded with non-relevant items).
 *  - `target` is the set of relevant (held-out) items. Every per-user metric returns NaN for an
 *    empty target: such users are left out of the means (`mean` skips NaN).
 *  - Recall@k and NDCG@k follow the Mult-VAE paper (Liang et al. 2018), which the LED paper's
 *    protocol reuses: Recall@k = hits@k / min(k, |target|); NDCG@k = DCG@k / IDCG@k with binary
 *    gains, DCG@k = Σ_{r<k} rel_r / log2(r + 2) and IDCG@k the DCG of min(k, |target|) hits.
 *  - Precision@k = hits@k / k. AP@k = Σ_{r<k} rel_r · Precision@(r+1) / min(k, |target|).
 *  - Full-score metrics (AUC, click-rank, rank-based MRR) count ties as half-won.
 */

/** A set of relevant items (a `Set<number>` fits). */
export interface Relevant {
  readonly size: number;
  has(item: number): boolean;
}

function hitsAt(ranked: ArrayLike<number>, target: Relevant, k: number): number {
  const n = Math.min(k, ranked.length);
  let h = 0;
  for (let r = 0; r < n; r++) if (target.has(ranked[r])) h++;
  return h;
}

function checkK(k: number): void {
  if (!(k >= 1)) throw new Error(`metric cut-off k must be >= 1, got ${k}`);
}

/** Recall@k with the min(k, |target|) denominator (Mult-VAE). */
export function recallAtK(ranked: ArrayLike<number>, target: Relevant, k: number): number {
  checkK(k);
  if (target.size === 0) return NaN;
  return hitsAt(ranked, target, k) / Math.min(k, target.size);
}

/** Precision@k = hits in the first k / k. */
export function precisionAtK(ranked: ArrayLike<number>, target: Relevant, k: number): number {
  checkK(k);
  if (target.size === 0) return NaN;
  return hitsAt(ranked, target, k) / k;
}

/** 1 when at least one of the first k items is relevant. */
export function hitRateAtK(ranked: ArrayLike<number>, target: Relevant, k: number): number {
  checkK(k);
  if (target.size === 0) return NaN;
  return hitsAt(ranked, target, k) > 0 ? 1 : 0;
}

/** DCG of the first k items with binary gains. */
export function dcgAtK(ranked: ArrayLike<number>, target: Relevant, k: number): number {
  const n = Math.min(k, ranked.length);
  let s = 0;
  for (let r = 0; r < n; r++) if (target.has(ranked[r])) s += 1 / Math.log2(r + 2);
  return s;
}

/** NDCG@k (Mult-VAE): DCG@k over the DCG of min(k, |target|) hits at the top. */
export function ndcgAtK(ranked: ArrayLike<number>, target: Relevant, k: number): number {
  checkK(k);
  if (target.size === 0) return NaN;
  const m = Math.min(k, target.size);
  let idcg = 0;
  for (let r = 0; r < m; r++) idcg += 1 / Math.log2(r + 2);
  return dcgAtK(ranked, target, k) / idcg;
}

/** AP@k: mean of Precision@(r+1) over the hit positions r < k, divided by min(k, |target|). */
export function averagePrecisionAtK(ranked: ArrayLike<number>, target: Relevant, k: number): number {
  checkK(k);
  if (target.size === 0) return NaN;
  const n = Math.min(k, ranked.length);
  let hits = 0;
  let s = 0;
  for (let r = 0; r < n; r++) {
    if (target.has(ranked[r])) {
      hits++;
      s += hits / (r + 1);
    }
  }
  return s / Math.min(k, target.size);
}

/** 1 / (position of the first relevant item, 1-based) within the first k (0 when none). */
export function reciprocalRankAtK(ranked: ArrayLike<number>, target: Relevant, k = Infinity): number {
  if (target.size === 0) return NaN;
  const n = Math.min(k, ranked.length);
  for (let r = 0; r < n; r++) if (target.has(ranked[r])) return 1 / (r + 1);
  return 0;
}

/**
 * Reciprocal rank from full scores: the best-placed relevant item's rank is 1 + (number of
 * candidate items scoring strictly higher) + ½ · (number of other candidates tied with it).
 * `blocked[i] = 1` removes item i from the candidates (history, exclusions).
 */
export function reciprocalRankFromScores(scores: ArrayLike<number>, target: Relevant, blocked?: Uint8Array): number {
  if (target.size === 0) return NaN;
  let best = -Infinity;
  let any = false;
  for (let i = 0; i < scores.length; i++) {
    if (blocked?.[i] || !target.has(i)) continue;
    any = true;
    if (scores[i] > best) best = scores[i];
  }
  if (!any) return NaN;
  let above = 0;
  let ties = 0;
  for (let i = 0; i < scores.length; i++) {
    if (blocked?.[i]) continue;
    if (scores[i] > best) above++;
    else if (scores[i] === best) ties++;
  }
  return 1 / (1 + above + (ties - 1) / 2);
}

/**
 * Area under the ROC curve of one user: the probability that a relevant item scores above a
 * non-relevant one (ties count ½). Candidates are all items not blocked; NaN without a relevant
 * or without a non-relevant candidate. O(n log n).
 */
export function auc(scores: ArrayLike<number>, target: Relevant, blocked?: Uint8Array): number {
  const idx: number[] = [];
  for (let i = 0; i < scores.length; i++) if (!blocked?.[i]) idx.push(i);
  const vals = idx.map((i) => (Number.isNaN(scores[i]) ? -Infinity : scores[i])); // NaN ranks last
  const order = idx.map((_, r) => r).sort((a, b) => (vals[a] < vals[b] ? -1 : vals[a] > vals[b] ? 1 : 0));
  let pos = 0;
  let rankSum = 0;
  for (let s = 0; s < order.length; ) {
    let e = s;
    while (e + 1 < order.length && vals[order[e + 1]] === vals[order[s]]) e++;
    const mid = (s + e) / 2 + 1; // 1-based mid-rank of the tie group
    for (let q = s; q <= e; q++) {
      if (target.has(idx[order[q]])) {
        pos++;
        rankSum += mid;
      }
    }
    s = e + 1;
  }
  const neg = order.length - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/**
 * Click-rank (LED paper §6.2): the normalised rank of the clicked item among the items of a
 * banner sorted by score, (number of items scoring higher + ½ · number of other items tied) /
 * (n − 1): 0 when the clicked item has the best score, 0.5 for a random ranking, 1 at the bottom.
 * With several clicked positions, their mean. NaN for a banner of fewer than 2 items.
 */
export function clickRank(bannerScores: ArrayLike<number>, clicked: number | ArrayLike<number>): number {
  const n = bannerScores.length;
  if (n < 2) return NaN;
  const list = typeof clicked === 'number' ? [clicked] : Array.from(clicked);
  if (list.length === 0) return NaN;
  let total = 0;
  for (const c of list) {
    if (!Number.isInteger(c) || c < 0 || c >= n) throw new Error(`clickRank: clicked position ${c} out of range [0, ${n})`);
    const s = bannerScores[c];
    let above = 0;
    let ties = 0;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      if (bannerScores[r] > s) above++;
      else if (bannerScores[r] === s) ties++;
    }
    total += (above + ties / 2) / (n - 1);
  }
  return total / list.length;
}

/** Share of the catalog (numItems) appearing in at least one list (within its first k). */
export function catalogCoverage(lists: Iterable<ArrayLike<number>>, numItems: number, k = Infinity): number {
  if (numItems <= 0) return NaN;
  const seen = new Uint8Array(numItems);
  let distinct = 0;
  for (const l of lists) {
    const n = Math.min(k, l.length);
    for (let r = 0; r < n; r++) {
      const i = l[r];
      if (i >= 0 && i < numItems && !seen[i]) {
        seen[i] = 1;
        distinct++;
      }
    }
  }
  return distinct / numItems;
}

/** Mean popularity (e.g. training users per item) over every recommended item (first k of each list). */
export function meanPopularity(lists: Iterable<ArrayLike<number>>, popularity: ArrayLike<number>, k = Infinity): number {
  let s = 0;
  let n = 0;
  for (const l of lists) {
    const m = Math.min(k, l.length);
    for (let r = 0; r < m; r++) {
      s += popularity[l[r]];
      n++;
    }
  }
  return n === 0 ? NaN : s / n;
}

/** Mean of the finite values (NaN entries, i.e. users without a target, are skipped). */
export function mean(values: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isNaN(v)) {
      s += v;
      n++;
    }
  }
  return n === 0 ? NaN : s / n;
}

/** Standard error of the mean of the non-NaN values. */
export function standardError(values: ArrayLike<number>): number {
  const m = mean(values);
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isNaN(v)) {
      s += (v - m) * (v - m);
      n++;
    }
  }
  return n < 2 ? NaN : Math.sqrt(s / (n - 1) / n);
}
