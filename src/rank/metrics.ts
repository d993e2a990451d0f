/**
 * Offline ranking metrics over scored impressions: AUC, log-loss, per-group (user or request)
 * AUC, and the click-rank of clicked banners (LED paper §6.2). Labels are 0/1; scores any
 * monotone score (probabilities for log-loss).
 */
import { clickRank } from '../eval/metrics.js';
import { reliability, type ReliabilityBin } from './calibration.js';

function checkLengths(scores: ArrayLike<number>, labels: ArrayLike<number>, what: string): void {
  if (scores.length !== labels.length) throw new RangeError(`${what}: scores has ${scores.length} entries, labels ${labels.length}`);
}

/**
 * Area under the ROC curve: the probability that a positive scores above a negative (ties
 * count ½, NaN scores rank lowest). NaN without positives or without negatives. O(n log n).
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(scores, labels, 'auc');
  const n = scores.length;
  const order = new Int32Array(n);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    order[i] = i;
    const s = scores[i];
    v[i] = s === s ? s : -Infinity;
  }
  order.sort((a, b) => v[a] - v[b] || 0);
  let pos = 0;
  let rankSum = 0;
  for (let s = 0; s < n; ) {
    let e = s;
    while (e + 1 < n && v[order[e + 1]] === v[order[s]]) e++;
    const mid = (s + e) / 2 + 1;
    for (let q = s; q <= e; q++) {
      if (labels[order[q]] > 0) {
        pos++;
        rankSum += mid;
      }
    }
    s = e + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Mean log-loss of probabilities (clipped to [eps, 1 − eps]). NaN for no rows. */
export function logLoss(probs: ArrayLike<number>, labels: ArrayLike<number>, eps = 1e-7): number {
  checkLengths(probs, labels, 'logLoss');
  const n = probs.length;
  if (n === 0) return NaN;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(1 - eps, Math.max(eps, probs[i]));
    s -= labels[i] > 0 ? Math.log(p) : Math.log(1 - p);
  }
  return s / n;
}

/** Row indices grouped by group id (groups in first-seen order, rows in input order). */
export function groupRows(groups: ArrayLike<number>): Int32Array[] {
  const map = new Map<number, number[]>();
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    let l = map.get(g);
    if (!l) map.set(g, (l = []));
    l.push(i);
  }
  return [...map.values()].map((l) => Int32Array.from(l));
}

/**
 * Group AUC (DIN paper): the mean of per-group AUCs weighted by the group's number of rows,
 * over the groups that have both a positive and a negative. `groups` counts those groups.
 */
export function gauc(scores: ArrayLike<number>, labels: ArrayLike<number>, groups: ArrayLike<number>): { gauc: number; groups: number } {
  checkLengths(scores, labels, 'gauc');
  if (groups.length !== scores.length) throw new RangeError(`gauc: groups has ${groups.length} entries for ${scores.length} scores`);
  let num = 0;
  let den = 0;
  let used = 0;
  for (const rows of groupRows(groups)) {
    const s = Array.from(rows, (i) => scores[i]);
    const y = Array.from(rows, (i) => labels[i]);
    const a = auc(s, y);
    if (a !== a) continue;
    num += a * rows.length;
    den += rows.length;
    used++;
  }
  return { gauc: den > 0 ? num / den : NaN, groups: used };
}

/**
 * Mean click-rank over the impressed lists (groups) with at least one click and two items:
 * the normalised rank of each clicked item among its list sorted by score (0 = ranked first,
 * 0.5 = random order), averaged per list then over lists.
 */
export function meanClickRank(scores: ArrayLike<number>, labels: ArrayLike<number>, groups: ArrayLike<number>): { clickRank: number; lists: number } {
  checkLengths(scores, labels, 'meanClickRank');
  let sum = 0;
  let lists = 0;
  for (const rows of groupRows(groups)) {
    if (rows.length < 2) continue;
    const clicked: number[] = [];
    rows.forEach((i, k) => {
      if (labels[i] > 0) clicked.push(k);
    });
    if (clicked.length === 0) continue;
    sum += clickRank(Array.from(rows, (i) => scores[i]), clicked);
    lists++;
  }
  return { clickRank: lists > 0 ? sum / lists : NaN, lists };
}

/** The offline figures of one head on held-out impressions. */
export interface HeadEvaluation {
  rows: number;
  positives: number;
  auc: number;
  logLoss: number;
  /** Log-loss and ECE of the calibrated probabilities (equal to the raw ones without a calibrator). */
  logLossCalibrated: number;
  ece: number;
  eceCalibrated: number;
  /** Per-user AUC (weighted by impressions), and how many users had both classes. */
  gauc: number;
  gaucUsers: number;
  /** Mean click-rank over impressed lists with a positive (0 best, 0.5 random), and how many lists. */
  clickRank: number;
  clickRankLists: number;
  /** Reliability table of the calibrated probabilities. */
  reliability: ReliabilityBin[];
}

/**
 * Evaluates one head: raw and calibrated probabilities against labels, with request groups
 * (click-rank) and users (GAUC) per row.
 */
export function evaluateHead(raw: ArrayLike<number>, calibrated: ArrayLike<number>, labels: ArrayLike<number>, requests: ArrayLike<number>, users: ArrayLike<number>): HeadEvaluation {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] > 0) positives++;
  const relRaw = reliability(raw, labels);
  const relCal = reliability(calibrated, labels);
  const g = gauc(raw, labels, users);
  const cr = meanClickRank(raw, labels, requests);
  return {
    rows: labels.length,
    positives,
    auc: auc(raw, labels),
    logLoss: logLoss(raw, labels),
    logLossCalibrated: logLoss(calibrated, labels),
    ece: relRaw.ece,
    eceCalibrated: relCal.ece,
    gauc: g.gauc,
    gaucUsers: g.groups,
    clickRank: cr.clickRank,
    clickRankLists: cr.lists,
    reliability: relCal.bins,
  };
}
