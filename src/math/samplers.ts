/**
 * Negative samplers for training retrieval models: uniform over a candidate set, and weighted
 * through a Vose alias table (O(1) per draw) built from counts^power — the unigram^0.75
 * distribution of word2vec and of the LED paper's popularity-aware sampling.
 *
 * Every draw takes its randomness from a `RandomSource` (src/math/rng.ts), so a run is
 * reproducible from the generator's seed. Draws can skip an exclusion (e.g. the user's
 * positives): rejection first, then, when the excluded mass is so large that rejection keeps
 * failing, one exact draw from the remaining distribution (O(n)); -1 when nothing is left.
 */
import type { RandomSource } from './rng.js';

/**
 * Items a draw must avoid: a set, a predicate, or a mask (non-zero = excluded; indices past its
 * end are allowed).
 */
export type Exclusion = ReadonlySet<number> | ((item: number) => boolean) | Uint8Array;

function excludedTest(ex: Exclusion): (i: number) => boolean {
  if (ex instanceof Uint8Array) return (i) => i < ex.length && ex[i] !== 0;
  if (typeof ex === 'function') return ex;
  return (i) => ex.has(i);
}

/** Rejection attempts before a draw with an exclusion falls back to the exact O(n) draw. */
const MAX_REJECTIONS = 64;

/** Common interface of the samplers. */
export interface Sampler {
  /** Number of possible outcomes (items with non-zero probability). */
  readonly support: number;
  /** One item. */
  sample(rng: RandomSource): number;
  /** One item not excluded by `exclude`; -1 when every item is excluded. */
  sampleExcluding(rng: RandomSource, exclude: Exclusion): number;
  /** Fills `out` (or its first `count` entries) with independent draws; returns `out`. */
  sampleMany(rng: RandomSource, out: Int32Array, count?: number, exclude?: Exclusion): Int32Array;
  /** Probability of drawing `item` (without exclusion). */
  probability(item: number): number;
}

function fillMany(s: Sampler, rng: RandomSource, out: Int32Array, count: number | undefined, exclude: Exclusion | undefined): Int32Array {
  const n = count ?? out.length;
  if (!Number.isInteger(n) || n < 0 || n > out.length) throw new RangeError(`sampleMany: count must be an integer in [0, ${out.length}], got ${count}`);
  if (exclude === undefined) for (let q = 0; q < n; q++) out[q] = s.sample(rng);
  else for (let q = 0; q < n; q++) out[q] = s.sampleExcluding(rng, exclude);
  return out;
}

/**
 * Uniform over `0..n-1`, or over a given candidate list (e.g. the items seen in training).
 */
export class UniformSampler implements Sampler {
  private readonly candidates: Int32Array | null;
  readonly support: number;

  /** `population`: the count n (items 0..n-1) or the candidate items themselves. */
  constructor(population: number | Int32Array) {
    if (typeof population === 'number') {
      if (!Number.isInteger(population) || population < 1) throw new RangeError(`UniformSampler: population must be a positive integer, got ${population}`);
      this.candidates = null;
      this.support = population;
    } else {
      if (population.length === 0) throw new RangeError('UniformSampler: population (candidate list) is empty');
      this.candidates = population;
      this.support = population.length;
    }
  }

  sample(rng: RandomSource): number {
    const r = rng.nextInt(this.support);
    return this.candidates ? this.candidates[r] : r;
  }

  sampleExcluding(rng: RandomSource, exclude: Exclusion): number {
    const isEx = excludedTest(exclude);
    for (let t = 0; t < MAX_REJECTIONS; t++) {
      const i = this.sample(rng);
      if (!isEx(i)) return i;
    }
    // Exact: uniform over the allowed candidates.
    let allowed = 0;
    for (let r = 0; r < this.support; r++) if (!isEx(this.candidates ? this.candidates[r] : r)) allowed++;
    if (allowed === 0) return -1;
    let k = rng.nextInt(allowed);
    for (let r = 0; r < this.support; r++) {
      const i = this.candidates ? this.candidates[r] : r;
      if (!isEx(i) && k-- === 0) return i;
    }
    return -1; // unreachable
  }

  sampleMany(rng: RandomSource, out: Int32Array, count?: number, exclude?: Exclusion): Int32Array {
    return fillMany(this, rng, out, count, exclude);
  }

  probability(item: number): number {
    if (!this.candidates) return Number.isInteger(item) && item >= 0 && item < this.support ? 1 / this.support : 0;
    let c = 0;
    for (let r = 0; r < this.support; r++) if (this.candidates[r] === item) c++;
    return c / this.support;
  }
}

/**
 * Weighted sampling in O(1) per draw through Vose's alias method: item i is drawn with
 * probability w_i / Σ w. Build with `new AliasSampler(weights)` or, for negative sampling,
 * `AliasSampler.fromCounts(counts, 0.75)` (w_i = counts_i^0.75). Items of weight 0 are never
 * drawn.
 */
export class AliasSampler implements Sampler {
  /** Acceptance probability of column i (else its alias). */
  private readonly prob: Float64Array;
  private readonly alias: Int32Array;
  private readonly p: Float64Array;
  readonly support: number;

  /** `weights`: non-negative, finite, not all zero (RangeError otherwise). */
  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    if (n === 0) throw new RangeError('AliasSampler: weights is empty');
    let total = 0;
    let support = 0;
    for (let i = 0; i < n; i++) {
      const w = weights[i];
      if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`AliasSampler: weights[${i}] must be finite and >= 0, got ${w}`);
      total += w;
      if (w > 0) support++;
    }
    if (!(total > 0)) throw new RangeError('AliasSampler: weights are all zero');
    this.support = support;
    this.p = new Float64Array(n);
    for (let i = 0; i < n; i++) this.p[i] = weights[i] / total;
    // Vose: scaled probabilities n·p_i, split into small (< 1) and large (>= 1) work lists.
    const prob = new Float64Array(n);
    const alias = new Int32Array(n);
    const scaled = new Float64Array(n);
    const small = new Int32Array(n);
    const large = new Int32Array(n);
    let ns = 0;
    let nl = 0;
    for (let i = 0; i < n; i++) {
      scaled[i] = this.p[i] * n;
      if (scaled[i] < 1) small[ns++] = i;
      else large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
      const s = small[--ns];
      const l = large[--nl];
      prob[s] = scaled[s];
      alias[s] = l;
      scaled[l] = scaled[l] + scaled[s] - 1;
      if (scaled[l] < 1) small[ns++] = l;
      else large[nl++] = l;
    }
    // Leftovers are 1 up to rounding. A leftover "small" one may be a zero-weight item only by
    // rounding of the others; give its column to itself only when it has weight.
    while (nl > 0) {
      const l = large[--nl];
      prob[l] = 1;
      alias[l] = l;
    }
    while (ns > 0) {
      const s = small[--ns];
      prob[s] = this.p[s] > 0 ? 1 : 0;
      alias[s] = this.p[s] > 0 ? s : this.anyPositive();
    }
    this.prob = prob;
    this.alias = alias;
  }

  private anyPositive(): number {
    for (let i = 0; i < this.p.length; i++) if (this.p[i] > 0) return i;
    return 0;
  }

  /**
   * The unigram^power sampler of word2vec / LED: w_i = counts_i^power (default 0.75). Items
   * with a zero count are never drawn.
   */
  static fromCounts(counts: ArrayLike<number>, power = 0.75): AliasSampler {
    if (!Number.isFinite(power)) throw new RangeError(`AliasSampler.fromCounts: power must be finite, got ${power}`);
    const w = new Float64Array(counts.length);
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i];
      if (!(c >= 0) || !Number.isFinite(c)) throw new RangeError(`AliasSampler.fromCounts: counts[${i}] must be finite and >= 0, got ${c}`);
      w[i] = c > 0 ? Math.pow(c, power) : 0;
    }
    return new AliasSampler(w);
  }

  /** Number of items (including those of zero weight). */
  get size(): number {
    return this.p.length;
  }

  sample(rng: RandomSource): number {
    const i = rng.nextInt(this.prob.length);
    return rng.nextFloat() < this.prob[i] ? i : this.alias[i];
  }

  sampleExcluding(rng: RandomSource, exclude: Exclusion): number {
    const isEx = excludedTest(exclude);
    for (let t = 0; t < MAX_REJECTIONS; t++) {
      const i = this.sample(rng);
      if (!isEx(i)) return i;
    }
    // Exact draw from the renormalised remaining distribution.
    let mass = 0;
    for (let i = 0; i < this.p.length; i++) if (this.p[i] > 0 && !isEx(i)) mass += this.p[i];
    if (!(mass > 0)) return -1;
    let r = rng.nextFloat() * mass;
    let last = -1;
    for (let i = 0; i < this.p.length; i++) {
      if (this.p[i] > 0 && !isEx(i)) {
        last = i;
        r -= this.p[i];
        if (r < 0) return i;
      }
    }
    return last; // rounding
  }

  sampleMany(rng: RandomSource, out: Int32Array, count?: number, exclude?: Exclusion): Int32Array {
    return fillMany(this, rng, out, count, exclude);
  }

  probability(item: number): number {
    return Number.isInteger(item) && item >= 0 && item < this.p.length ? this.p[item] : 0;
  }
}
