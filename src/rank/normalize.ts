/**
 * Continuous feature normalisation by the empirical CDF (as in the YouTube DNN paper): a raw
 * value x becomes x̃ = F(x) ∈ [0, 1], the share of training values below it (mid-rank for ties),
 * interpolated linearly between at most `knots` stored quantiles. Robust to scale and heavy
 * tails (counts, prices, seconds) without a per-feature transform. The ranker then sees x̃, x̃²
 * and √x̃ (features.ts).
 *
 * Fitted once on the training samples' raw values and stored with the model, so training and
 * serving normalise identically.
 */
import { floorIndex } from './search.js';

export interface NormalizerJSON {
  names: string[];
  /** Per feature: knot values (ascending, distinct) and their CDF values. */
  knots: number[][];
  probs: number[][];
}

export class QuantileNormalizer {
  private constructor(
    readonly names: readonly string[],
    private readonly knots: Float64Array[],
    private readonly probs: Float64Array[],
  ) {}

  /** The number of features. */
  get size(): number {
    return this.names.length;
  }

  /**
   * Fits on `rows` × names.length raw values (row-major; NaN = missing, skipped). At most
   * `maxKnots` quantiles are kept per feature; `maxSample` values per feature are used (evenly
   * spaced rows beyond).
   */
  static fit(names: readonly string[], values: Float32Array | Float64Array, rows: number, opts: { maxKnots?: number; maxSample?: number } = {}): QuantileNormalizer {
    const C = names.length;
    if (values.length < rows * C) throw new RangeError(`normalizer: values holds ${values.length} entries, expected rows × features = ${rows} × ${C}`);
    const maxKnots = opts.maxKnots ?? 64;
    if (!Number.isInteger(maxKnots) || maxKnots < 2) throw new RangeError(`normalizer: maxKnots must be an integer >= 2, got ${maxKnots}`);
    const maxSample = opts.maxSample ?? 200_000;
    const step = Math.max(1, Math.floor(rows / maxSample));
    const knots: Float64Array[] = [];
    const probs: Float64Array[] = [];
    const buf = new Float64Array(Math.ceil(rows / step));
    for (let j = 0; j < C; j++) {
      let n = 0;
      for (let r = 0; r < rows; r += step) {
        const v = values[r * C + j];
        if (v === v) buf[n++] = v;
      }
      const sorted = buf.subarray(0, n).slice().sort();
      const k: number[] = [];
      const p: number[] = [];
      if (n > 0) {
        // candidate knots: values at evenly spaced ranks (always the min and the max), deduplicated
        const want = Math.min(maxKnots, n);
        let last = NaN;
        for (let q = 0; q < want; q++) {
          const v = sorted[Math.round((q * (n - 1)) / Math.max(1, want - 1))];
          if (v === last) continue;
          last = v;
          // mid-rank CDF: (#below + #equal / 2) / n
          const lo = lowerBound(sorted, v);
          const hi = upperBound(sorted, v);
          k.push(v);
          p.push((lo + (hi - lo) / 2) / n);
        }
      }
      knots.push(Float64Array.from(k));
      probs.push(Float64Array.from(p));
    }
    return new QuantileNormalizer([...names], knots, probs);
  }

  /**
   * F(x) for feature j: 0.5 when the feature had no training value; the first/last knot's CDF
   * value below/above the knots; linear in between. NaN stays NaN (missing).
   */
  cdf(j: number, x: number): number {
    if (x !== x) return NaN;
    const k = this.knots[j];
    const p = this.probs[j];
    const m = k.length;
    if (m === 0) return 0.5;
    if (x <= k[0]) return p[0];
    if (x >= k[m - 1]) return p[m - 1];
    const lo = floorIndex(k, x); // k[lo] <= x < k[lo + 1]
    if (k[lo] === x) return p[lo];
    const hi = lo + 1;
    return p[lo] + ((p[hi] - p[lo]) * (x - k[lo])) / (k[hi] - k[lo]);
  }

  toJSON(): NormalizerJSON {
    return { names: [...this.names], knots: this.knots.map((k) => Array.from(k)), probs: this.probs.map((p) => Array.from(p)) };
  }

  static fromJSON(j: NormalizerJSON): QuantileNormalizer {
    if (!j || !Array.isArray(j.names) || !Array.isArray(j.knots) || !Array.isArray(j.probs) || j.knots.length !== j.names.length || j.probs.length !== j.names.length) {
      throw new Error('normalizer: malformed JSON (names, knots and probs must be arrays of the same length)');
    }
    return new QuantileNormalizer(j.names, j.knots.map((k) => Float64Array.from(k)), j.probs.map((p) => Float64Array.from(p)));
  }

  /** An untrained normaliser (every value maps to 0.5): for tests and benchmarks. */
  static identity(names: readonly string[]): QuantileNormalizer {
    return new QuantileNormalizer([...names], names.map(() => new Float64Array(0)), names.map(() => new Float64Array(0)));
  }
}

function lowerBound(a: Float64Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBound(a: Float64Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
