/**
 * RSVD on PMI (the LED paper §5.1): item embeddings are the left singular vectors of the
 * smoothed positive PMI matrix of item co-occurrence in user timelines, computed by randomized
 * SVD; a user is the mean of their history's item vectors and items are scored by inner
 * product (no biases). The vectors are also LED's pre-trained initialisation (`initVectors`,
 * fine-tuned by 'train' or 'project').
 *
 * Pipeline: co-occurrence counts (whole timeline or a window, src/math/cooccurrence.ts) →
 * PMI with context smoothing α (src/math/pmi.ts) → rsvd (src/math/rsvd.ts) → v_i = U_i·Σ^p
 * with p = `singularPower`.
 *
 * Measured on ml-100k (strong generalization, validation NDCG@100, d = 128, α = 1): the plain
 * left singular vectors (p = 0, the default) recommend better than U·Σ^½ (0.34 vs 0.22) or U·Σ
 * (0.09); but as LED's initialisation U·Σ^½ is better (LED-CSS 'train' 0.487 vs 0.469 with
 * p = 0 and 0.477 from a random start; BPR 0.452 vs 0.425), so pre-training uses p = 0.5.
 */
import { cooccurrence } from '../../math/cooccurrence.js';
import { pmiWithTranspose, type PmiVariant } from '../../math/pmi.js';
import { rsvd } from '../../math/rsvd.js';
import type { Progress } from '../../util/progress.js';
import { LedModel } from './led.js';
import { artifactArray, type ModelArtifact, writeModelArtifact } from './registry.js';
import {
  assertFitted, numEvents, type BatchRecommendations, type FitReport, type ItemVectors, type RecommendOptions,
  type Recommendations, type RetrievalModel, type Timelines,
} from './types.js';

export interface RsvdModelOptions {
  /** Embedding size d (default 64; capped at the number of items). */
  dim?: number;
  /** Co-occurrence window in events (default 0: the whole timeline). */
  window?: number;
  /** Drop co-occurring pairs seen fewer than minCount times (default 1). */
  minCount?: number;
  /** Keep at most this many co-occurrence entries per item (default: all). */
  maxPerRow?: number;
  /** PMI context smoothing exponent (default 0.75). */
  alpha?: number;
  /** 'ppmi' (default), 'sppmi' (shifted by log `shift`) or 'pmi'. */
  variant?: PmiVariant;
  /** k of the shifted PMI (default 1). */
  shift?: number;
  /** v_i = U_i · σ^singularPower (default 0: the left singular vectors; 0.5 for LED's init). */
  singularPower?: number;
  /** Randomized SVD: oversampling (default 10) and power iterations (default 3). */
  oversample?: number;
  powerIterations?: number;
  seed?: number;
}

const DEFAULTS: Required<Omit<RsvdModelOptions, 'maxPerRow'>> & { maxPerRow: number | undefined } = {
  dim: 64, window: 0, minCount: 1, maxPerRow: undefined, alpha: 0.75, variant: 'ppmi', shift: 1, singularPower: 0,
  oversample: 10, powerIterations: 3, seed: 1,
};

/** A Progress that maps a sub-task's [0, total] onto [from, to] of `parent` (never finishes it). */
function stage(parent: Progress | undefined, from: number, to: number): Progress | undefined {
  if (!parent) return undefined;
  let total = 1;
  let done = 0;
  return {
    update(d, t) {
      if (t !== undefined && t > 0) total = t;
      done = d;
      parent.update(from + ((to - from) * Math.min(done, total)) / total);
    },
    tick(n = 1) {
      this.update(done + n);
    },
    done() {
      parent.update(to);
    },
  };
}

export class RsvdModel implements RetrievalModel<RsvdModelOptions> {
  readonly kind = 'rsvd';
  private dim = 0;
  private total = 0;
  /** numItems × dim. */
  private V: Float32Array = new Float32Array(0);
  private sigma: Float64Array = new Float64Array(0);
  private known: Uint8Array = new Uint8Array(0);
  private params: Record<string, unknown> = {};
  private report: FitReport | undefined;
  /** Inner-product scoring (user = mean of item vectors), shared with LED; zero biases. */
  private scorer: LedModel | undefined;

  get numItems(): number {
    return this.total;
  }

  get name(): string {
    const p = this.params;
    const extra = (p.window ? `, window=${p.window}` : '') + (p.singularPower ? `, σ^${p.singularPower}` : '') + (p.alpha !== undefined && p.alpha !== 0.75 ? `, α=${p.alpha}` : '');
    return `rsvd(${p.variant ?? 'ppmi'}, d=${this.dim}${extra})`;
  }

  /** The singular values of the PMI matrix (descending). */
  singularValues(): Float64Array {
    return this.sigma;
  }

  async fit(data: Timelines, options: RsvdModelOptions = {}, progress?: Progress): Promise<FitReport> {
    const t0 = performance.now();
    const o = { ...DEFAULTS, ...options };
    const I = data.numItems;
    if (I < 1) throw new RangeError('rsvd: no items');
    if (!Number.isInteger(o.dim) || o.dim < 1) throw new RangeError(`rsvd: dim must be a positive integer, got ${o.dim}`);
    if (!Number.isFinite(o.singularPower)) throw new RangeError(`rsvd: singularPower must be finite, got ${o.singularPower}`);
    const notes: string[] = [];
    const d = Math.min(o.dim, I);
    if (d < o.dim) notes.push(`dim capped at the number of items (${I})`);
    progress?.update(0, 100);

    // Counts, then PMI and its transpose (the counts are dropped before the SVD runs).
    const tc = performance.now();
    let coSeconds = 0;
    let countsNnz = 0;
    const { pmi: m, transpose: mt } = (() => {
      const counts = cooccurrence(data, {
        window: o.window, minCount: o.minCount, ...(o.maxPerRow !== undefined ? { maxPerRow: o.maxPerRow } : {}), progress: stage(progress, 0, 50),
      });
      coSeconds = (performance.now() - tc) / 1000;
      countsNnz = counts.indptr[I];
      return pmiWithTranspose(counts, { alpha: o.alpha, variant: o.variant, ...(o.variant === 'sppmi' ? { shift: o.shift } : {}) });
    })();
    const pmiSeconds = (performance.now() - tc) / 1000 - coSeconds;
    const ts = performance.now();
    const svd = rsvd(m, { transposed: mt, rank: d, oversample: o.oversample, powerIterations: o.powerIterations, seed: o.seed, progress: stage(progress, 55, 100) });
    const svdSeconds = (performance.now() - ts) / 1000;

    const known = new Uint8Array(I);
    for (let p = 0; p < numEvents(data); p++) known[data.items[p]] = 1;
    const V = svd.u;
    const scale = Float32Array.from(svd.s, (s) => (o.singularPower === 0 ? 1 : Math.pow(Math.max(0, s), o.singularPower)));
    for (let i = 0; i < I; i++) {
      const off = i * d;
      if (!known[i]) V.fill(0, off, off + d);
      else for (let j = 0; j < d; j++) V[off + j] *= scale[j];
    }
    this.dim = d;
    this.total = I;
    this.V = V;
    this.sigma = svd.s;
    this.known = known;
    this.params = { ...o, dim: d };
    if (o.maxPerRow === undefined) delete this.params.maxPerRow;
    this.scorer = LedModel.fromParameters(V, new Float32Array(I), d, known);
    progress?.done();
    this.report = {
      kind: this.kind,
      model: this.name,
      seconds: (performance.now() - t0) / 1000,
      users: data.numUsers,
      items: I,
      events: numEvents(data),
      params: this.params,
      metrics: {
        cooccurrence_nnz: countsNnz,
        pmi_nnz: m.indptr[I],
        cooccurrence_seconds: coSeconds,
        pmi_seconds: pmiSeconds,
        svd_seconds: svdSeconds,
        sigma_1: svd.s[0],
        sigma_d: svd.s[d - 1],
      },
      ...(notes.length ? { notes } : {}),
    };
    return this.report;
  }

  private inner(): LedModel {
    assertFitted(this.total, this.kind);
    return this.scorer!;
  }

  /** Mean of the vectors of the history items seen in training (zeros for none). */
  encodeUser(history: Int32Array): Float32Array {
    return this.inner().encodeUser(history);
  }

  score(history: Int32Array, items?: Int32Array): Float32Array {
    return this.inner().score(history, items);
  }

  recommend(history: Int32Array, k: number, exclude?: Int32Array, opts?: RecommendOptions): Recommendations {
    return this.inner().recommend(history, k, exclude, opts);
  }

  /** One sgemm per chunk of users (see LedModel.recommendBatch). */
  recommendBatch(histories: Timelines, k: number, exclude?: Timelines, opts?: RecommendOptions): BatchRecommendations {
    return this.inner().recommendBatch(histories, k, exclude, opts);
  }

  /** Cosine similarity of the item vectors. */
  similarItems(item: number, k: number): Recommendations {
    return this.inner().similarItems(item, k);
  }

  itemVectors(): ItemVectors {
    assertFitted(this.total, this.kind);
    return { vectors: this.V, biases: undefined, dim: this.dim };
  }

  /** Items seen in training (the others are never recommended). */
  knownItems(): Uint8Array {
    return this.known;
  }

  async save(dir: string): Promise<void> {
    assertFitted(this.total, this.kind);
    await writeModelArtifact(
      dir,
      { kind: this.kind, name: this.name, numItems: this.total, config: { dim: this.dim, params: this.params }, ...(this.report ? { fit: this.report } : {}) },
      { vectors: { data: this.V, shape: [this.total, this.dim] }, sigma: this.sigma, known: this.known },
    );
  }

  static fromArtifact(this: void, art: ModelArtifact): RsvdModel {
    const m = new RsvdModel();
    const dim = Number(art.manifest.config.dim);
    const V = artifactArray(art, 'vectors', Float32Array);
    const known = artifactArray(art, 'known', Uint8Array);
    if (!Number.isInteger(dim) || dim < 1 || V.length !== known.length * dim) {
      throw new Error(`rsvd artifact: vectors has ${V.length} entries, expected ${known.length} items × dim ${dim}`);
    }
    m.dim = dim;
    m.total = known.length;
    m.V = V;
    m.known = known;
    m.sigma = artifactArray(art, 'sigma', Float64Array);
    m.params = (art.manifest.config.params as Record<string, unknown>) ?? {};
    m.report = art.manifest.fit;
    m.scorer = LedModel.fromParameters(V, new Float32Array(m.total), dim, known);
    return m;
  }
}
