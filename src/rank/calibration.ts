/**
 * Probability calibration fitted on held-out samples: Platt scaling (a logistic regression on
 * the model's logit) and isotonic regression (pool-adjacent-violators: the best non-decreasing
 * step map in squared error). Both maps are monotone non-decreasing, so a calibrated head ranks
 * like the raw one; calibration matters where heads are combined (click + conversion) and
 * where probabilities are read as such.
 *
 * `reliability` gives the reliability table (equal-width bins of predicted probability: count,
 * mean prediction, observed rate) and the expected calibration error
 * ECE = Σ_b (n_b / n)·|mean prediction_b − observed rate_b|.
 */
import { floorIndex } from './search.js';

export interface CalibratorJSON {
  kind: 'identity' | 'platt' | 'isotonic';
  a?: number;
  b?: number;
  x?: number[];
  y?: number[];
}

export interface Calibrator {
  readonly kind: CalibratorJSON['kind'];
  /** The calibrated probability of a raw one. */
  map(p: number): number;
  toJSON(): CalibratorJSON;
}

const EPS = 1e-7;

function logit(p: number): number {
  const q = Math.min(1 - EPS, Math.max(EPS, p));
  return Math.log(q / (1 - q));
}

function checkInputs(probs: ArrayLike<number>, labels: ArrayLike<number>, what: string): void {
  if (probs.length !== labels.length) throw new RangeError(`${what}: probs has ${probs.length} entries, labels ${labels.length}`);
  if (probs.length === 0) throw new RangeError(`${what}: no samples to fit on`);
}

export class IdentityCalibrator implements Calibrator {
  readonly kind = 'identity';
  map(p: number): number {
    return p;
  }
  toJSON(): CalibratorJSON {
    return { kind: 'identity' };
  }
}

/** p ↦ σ(a·logit(p) + b). */
export class PlattScaling implements Calibrator {
  readonly kind = 'platt';
  constructor(
    readonly a: number,
    readonly b: number,
  ) {}

  map(p: number): number {
    const z = this.a * logit(p) + this.b;
    return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
  }

  /**
   * Fits (a, b) by Newton's method on the log-loss with Platt's smoothed targets
   * ((N₊ + 1)/(N₊ + 2) for positives, 1/(N₋ + 2) for negatives), which keeps the fit finite on
   * separable data.
   */
  static fit(probs: ArrayLike<number>, labels: ArrayLike<number>, opts: { iterations?: number } = {}): PlattScaling {
    checkInputs(probs, labels, 'platt');
    const n = probs.length;
    let pos = 0;
    for (let i = 0; i < n; i++) if (labels[i] > 0) pos++;
    const hi = (pos + 1) / (pos + 2);
    const lo = 1 / (n - pos + 2);
    const z = Float64Array.from({ length: n }, (_, i) => logit(probs[i]));
    const t = Float64Array.from({ length: n }, (_, i) => (labels[i] > 0 ? hi : lo));
    let a = 1;
    let b = 0;
    const loss = (A: number, B: number) => {
      let s = 0;
      for (let i = 0; i < n; i++) {
        const f = A * z[i] + B;
        s += (f > 0 ? f + Math.log1p(Math.exp(-f)) : Math.log1p(Math.exp(f))) - t[i] * f;
      }
      return s;
    };
    let cur = loss(a, b);
    for (let it = 0; it < (opts.iterations ?? 100); it++) {
      let ga = 0;
      let gb = 0;
      let haa = 1e-12;
      let hab = 0;
      let hbb = 1e-12;
      for (let i = 0; i < n; i++) {
        const f = a * z[i] + b;
        const p = f >= 0 ? 1 / (1 + Math.exp(-f)) : Math.exp(f) / (1 + Math.exp(f));
        const d = p - t[i];
        const w = p * (1 - p);
        ga += d * z[i];
        gb += d;
        haa += w * z[i] * z[i];
        hab += w * z[i];
        hbb += w;
      }
      const det = haa * hbb - hab * hab;
      if (!(Math.abs(det) > 0)) break;
      let da = (hbb * ga - hab * gb) / det;
      let db = (haa * gb - hab * ga) / det;
      // backtracking line search
      let step = 1;
      let next = loss(a - da, b - db);
      while (next > cur && step > 1e-8) {
        step /= 2;
        next = loss(a - step * da, b - step * db);
      }
      da *= step;
      db *= step;
      a -= da;
      b -= db;
      const done = Math.abs(cur - next) < 1e-10 * Math.max(1, Math.abs(cur));
      cur = next;
      if (done) break;
    }
    return new PlattScaling(a, b);
  }

  toJSON(): CalibratorJSON {
    return { kind: 'platt', a: this.a, b: this.b };
  }
}

/**
 * Isotonic regression: a non-decreasing piecewise-linear map through the pooled blocks' end
 * points (x ascending; flat within a block, linear between blocks, constant outside).
 */
export class IsotonicRegression implements Calibrator {
  readonly kind = 'isotonic';
  constructor(
    readonly x: Float64Array,
    readonly y: Float64Array,
  ) {
    if (x.length !== y.length || x.length === 0) throw new RangeError('isotonic: x and y must be non-empty and of equal length');
  }

  map(p: number): number {
    const x = this.x;
    const y = this.y;
    const m = x.length;
    if (!(p > x[0])) return y[0];
    if (p >= x[m - 1]) return y[m - 1];
    const lo = floorIndex(x, p); // x[lo] <= p < x[lo + 1]
    const hi = lo + 1;
    if (x[hi] === x[lo]) return y[hi];
    return y[lo] + ((y[hi] - y[lo]) * (p - x[lo])) / (x[hi] - x[lo]);
  }

  /** Pool-adjacent-violators on (score, label) pairs, O(n log n). */
  static fit(scores: ArrayLike<number>, labels: ArrayLike<number>): IsotonicRegression {
    checkInputs(scores, labels, 'isotonic');
    const n = scores.length;
    const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
    // blocks as a stack: sum of labels, weight, min x, max x
    const sum: number[] = [];
    const wt: number[] = [];
    const xmin: number[] = [];
    const xmax: number[] = [];
    for (let q = 0; q < n; ) {
      // equal scores form one initial block (a map cannot separate them)
      const s0 = scores[order[q]];
      let e = q;
      let ys = 0;
      while (e < n && scores[order[e]] === s0) ys += labels[order[e++]] > 0 ? 1 : 0;
      sum.push(ys);
      wt.push(e - q);
      xmin.push(s0);
      xmax.push(s0);
      q = e;
      while (sum.length > 1) {
        const k = sum.length - 1;
        if (sum[k - 1] / wt[k - 1] <= sum[k] / wt[k]) break;
        sum[k - 1] += sum[k];
        wt[k - 1] += wt[k];
        xmax[k - 1] = xmax[k];
        sum.pop();
        wt.pop();
        xmin.pop();
        xmax.pop();
      }
    }
    const xs: number[] = [];
    const ys: number[] = [];
    for (let k = 0; k < sum.length; k++) {
      const v = sum[k] / wt[k];
      xs.push(xmin[k]);
      ys.push(v);
      if (xmax[k] > xmin[k]) {
        xs.push(xmax[k]);
        ys.push(v);
      }
    }
    return new IsotonicRegression(Float64Array.from(xs), Float64Array.from(ys));
  }

  toJSON(): CalibratorJSON {
    return { kind: 'isotonic', x: Array.from(this.x), y: Array.from(this.y) };
  }
}

export type CalibrationMethod = 'platt' | 'isotonic' | 'none';

/** Fits the chosen calibrator on held-out (probability, label) pairs. */
export function fitCalibrator(method: CalibrationMethod, probs: ArrayLike<number>, labels: ArrayLike<number>): Calibrator {
  switch (method) {
    case 'platt':
      return PlattScaling.fit(probs, labels);
    case 'isotonic':
      return IsotonicRegression.fit(probs, labels);
    case 'none':
      return new IdentityCalibrator();
    default:
      throw new RangeError(`calibration: method must be 'platt', 'isotonic' or 'none', got '${String(method)}'`);
  }
}

export function calibratorFromJSON(j: CalibratorJSON): Calibrator {
  switch (j?.kind) {
    case 'identity':
      return new IdentityCalibrator();
    case 'platt':
      if (typeof j.a !== 'number' || typeof j.b !== 'number') throw new Error('calibration: platt needs numbers a and b');
      return new PlattScaling(j.a, j.b);
    case 'isotonic':
      if (!Array.isArray(j.x) || !Array.isArray(j.y)) throw new Error('calibration: isotonic needs arrays x and y');
      return new IsotonicRegression(Float64Array.from(j.x), Float64Array.from(j.y));
    default:
      throw new Error(`calibration: unknown calibrator kind '${String((j as { kind?: unknown })?.kind)}'`);
  }
}

export interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  meanPredicted: number;
  observedRate: number;
}

export interface Reliability {
  bins: ReliabilityBin[];
  /** Expected calibration error over the bins. */
  ece: number;
  /** Largest |mean predicted − observed| over non-empty bins. */
  mce: number;
}

/** Reliability table over `bins` equal-width bins of [0, 1], and ECE / MCE. */
export function reliability(probs: ArrayLike<number>, labels: ArrayLike<number>, bins = 10): Reliability {
  if (probs.length !== labels.length) throw new RangeError(`reliability: probs has ${probs.length} entries, labels ${labels.length}`);
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`reliability: bins must be a positive integer, got ${bins}`);
  const cnt = new Float64Array(bins);
  const sp = new Float64Array(bins);
  const sy = new Float64Array(bins);
  const n = probs.length;
  for (let i = 0; i < n; i++) {
    const p = Math.min(1, Math.max(0, probs[i]));
    const b = Math.min(bins - 1, Math.floor(p * bins));
    cnt[b]++;
    sp[b] += p;
    sy[b] += labels[i] > 0 ? 1 : 0;
  }
  const out: ReliabilityBin[] = [];
  let ece = 0;
  let mce = 0;
  for (let b = 0; b < bins; b++) {
    const c = cnt[b];
    const mp = c > 0 ? sp[b] / c : NaN;
    const or = c > 0 ? sy[b] / c : NaN;
    out.push({ lo: b / bins, hi: (b + 1) / bins, count: c, meanPredicted: mp, observedRate: or });
    if (c > 0) {
      const gap = Math.abs(mp - or);
      ece += (c / n) * gap;
      mce = Math.max(mce, gap);
    }
  }
  return { bins: out, ece: n > 0 ? ece : NaN, mce };
}
