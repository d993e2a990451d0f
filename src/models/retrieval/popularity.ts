/**
 * Popularity ("Global Best Of", GBO in the LED paper §8.1): every user gets the most popular
 * items, optionally time-decayed (exponential, by half-life) and optionally per category
 * (item → category array; the paper's GBO is per merchant).
 */
import type { Progress } from '../../util/progress.js';
import { artifactArray, type ModelArtifact, writeModelArtifact } from './registry.js';
import {
  assertFitted, assertItem, exclusionMask, numEvents, type FitReport, type RecommendOptions, type Recommendations,
  type RetrievalModel, type Timelines, topK,
} from './types.js';

export interface PopularityOptions {
  /** 'users' (default): distinct users per item; 'events': every event counts. */
  count?: 'users' | 'events';
  /**
   * Exponential time decay: an event `halfLifeDays` older than `now` weighs 1/2. Needs
   * timestamps. With count 'users', a user weighs by their most recent event on the item.
   */
  halfLifeDays?: number;
  /** Reference time of the decay, epoch ms (default: the latest timestamp in the data). */
  now?: number;
  /** Weight events by their value (amount, dwell...); events without one weigh 1. */
  weightByValue?: boolean;
  /** Item → category code (-1: none), for `recommendInCategory` and category-aware `similarItems`. */
  categories?: Int32Array;
  /**
   * Weight per event type code (index = `Timelines.types` code; codes past the end weigh 1):
   * an event's weight is multiplied by its type's, so an item's popularity sums the weights of
   * its events (with count 'users', a user contributes the largest weight of their events on
   * the item). Weights must be finite and >= 0; needs types in the training data.
   */
  typeWeights?: Float32Array | number[];
}

const DAY_MS = 86_400_000;

export class PopularityModel implements RetrievalModel<PopularityOptions> {
  readonly kind = 'popularity';
  private opts: PopularityOptions = {};
  /** Per item popularity; -Infinity for items never seen. */
  private pop: Float32Array = new Float32Array(0);
  private categories: Int32Array | undefined;
  private report: FitReport | undefined;

  get numItems(): number {
    return this.pop.length;
  }

  get name(): string {
    const parts: string[] = [];
    if (this.opts.count === 'events') parts.push('events');
    if (this.opts.halfLifeDays) parts.push(`half-life ${this.opts.halfLifeDays}d`);
    if (this.opts.weightByValue) parts.push('value-weighted');
    if (this.opts.typeWeights) parts.push('type-weighted');
    return parts.length ? `popularity(${parts.join(', ')})` : 'popularity';
  }

  async fit(data: Timelines, opts: PopularityOptions = {}, progress?: Progress): Promise<FitReport> {
    const t0 = performance.now();
    const count = opts.count ?? 'users';
    const halfLife = opts.halfLifeDays ?? 0;
    if (halfLife < 0 || !Number.isFinite(halfLife)) throw new Error(`popularity: halfLifeDays must be >= 0, got ${halfLife}`);
    if (halfLife > 0 && !data.timestamps) throw new Error('popularity: halfLifeDays needs timestamps in the training data');
    if (opts.weightByValue && !data.values) throw new Error('popularity: weightByValue needs values in the training data');
    const typeWeights = opts.typeWeights;
    if (typeWeights) {
      if (!data.types) throw new Error('popularity: typeWeights needs event types in the training data');
      for (let c = 0; c < typeWeights.length; c++) {
        const w = typeWeights[c];
        if (!(w >= 0) || !Number.isFinite(w)) throw new Error(`popularity: typeWeights[${c}] must be a finite number >= 0, got ${w}`);
      }
    }
    if (opts.categories && opts.categories.length !== data.numItems) {
      throw new Error(`popularity: categories has ${opts.categories.length} entries, expected numItems ${data.numItems}`);
    }
    let now = opts.now ?? -Infinity;
    if (halfLife > 0 && opts.now === undefined) for (const t of data.timestamps!) if (t > now) now = t;
    const rate = halfLife > 0 ? Math.LN2 / (halfLife * DAY_MS) : 0;
    /** The weight of event p's type (1 without typeWeights); weight-0 events are skipped. */
    const typeWeight = (p: number) => {
      const c = data.types![p];
      return c < typeWeights!.length ? typeWeights![c] : 1;
    };
    const skip = (p: number) => typeWeights !== undefined && typeWeight(p) === 0;
    const weight = (p: number) => {
      let w = rate > 0 ? Math.exp(-rate * Math.max(0, now - data.timestamps![p])) : 1;
      if (opts.weightByValue) {
        const v = data.values![p];
        if (Number.isFinite(v)) w *= v;
      }
      if (typeWeights) w *= typeWeight(p);
      return w;
    };
    const pop = new Float64Array(data.numItems);
    const seen = new Uint8Array(data.numItems);
    progress?.update(0, data.numUsers);
    if (count === 'events') {
      for (let p = 0; p < numEvents(data); p++) {
        if (skip(p)) continue; // a weight-0 type does not make an item known
        pop[data.items[p]] += weight(p);
        seen[data.items[p]] = 1;
      }
    } else {
      const best = new Float64Array(data.numItems);
      const stamp = new Int32Array(data.numItems).fill(-1);
      for (let u = 0; u < data.numUsers; u++) {
        const a = data.indptr[u];
        const b = data.indptr[u + 1];
        for (let p = a; p < b; p++) {
          if (skip(p)) continue;
          const i = data.items[p];
          const w = weight(p);
          if (stamp[i] !== u) { stamp[i] = u; best[i] = w; } else if (w > best[i]) best[i] = w;
        }
        for (let p = a; p < b; p++) {
          const i = data.items[p];
          if (stamp[i] === u) { pop[i] += best[i]; seen[i] = 1; stamp[i] = -2 - u; } // count once per user
        }
        if ((u & 1023) === 0) progress?.update(u);
      }
    }
    progress?.done();
    this.pop = new Float32Array(data.numItems);
    for (let i = 0; i < data.numItems; i++) this.pop[i] = seen[i] ? pop[i] : -Infinity;
    this.categories = opts.categories ? Int32Array.from(opts.categories) : undefined;
    this.opts = {
      count, ...(halfLife ? { halfLifeDays: halfLife, now } : {}), ...(opts.weightByValue ? { weightByValue: true } : {}),
      ...(typeWeights ? { typeWeights: Array.from(typeWeights) } : {}),
    };
    this.report = {
      kind: this.kind, model: this.name, seconds: (performance.now() - t0) / 1000,
      users: data.numUsers, items: data.numItems, events: numEvents(data),
      params: { ...this.opts, categories: Boolean(this.categories) },
    };
    return this.report;
  }

  /** The per-item popularity scores (a copy; -Infinity for items never seen). */
  popularity(): Float32Array {
    return this.pop.slice();
  }

  score(_history: Int32Array, items?: Int32Array): Float32Array {
    assertFitted(this.numItems, this.kind);
    if (!items) return this.pop.slice();
    const out = new Float32Array(items.length);
    for (let r = 0; r < items.length; r++) out[r] = this.pop[items[r]] ?? -Infinity;
    return out;
  }

  encodeUser(): undefined {
    return undefined;
  }

  recommend(history: Int32Array, k: number, exclude?: Int32Array, opts?: RecommendOptions): Recommendations {
    assertFitted(this.numItems, this.kind);
    return topK(this.pop, k, exclusionMask(this.numItems, history, exclude, opts));
  }

  /** The most popular items of one category (the per-merchant GBO of the paper). */
  recommendInCategory(category: number, k: number, exclude?: Int32Array): Recommendations {
    assertFitted(this.numItems, this.kind);
    if (!this.categories) throw new Error('popularity: fitted without categories');
    const mask = exclusionMask(this.numItems, new Int32Array(0), exclude);
    for (let i = 0; i < this.numItems; i++) if (this.categories[i] !== category) mask[i] = 1;
    return topK(this.pop, k, mask);
  }

  /** Category code of an item (-1: none / no categories). */
  categoryOf(item: number): number {
    return this.categories ? this.categories[item] : -1;
  }

  /** The most popular other items (of the same category when the model has categories). */
  similarItems(item: number, k: number): Recommendations {
    assertFitted(this.numItems, this.kind);
    assertItem(item, this.numItems, this.kind);
    const mask = new Uint8Array(this.numItems);
    mask[item] = 1;
    const c = this.categoryOf(item);
    if (this.categories && c >= 0) for (let i = 0; i < this.numItems; i++) if (this.categories[i] !== c) mask[i] = 1;
    return topK(this.pop, k, mask);
  }

  async save(dir: string): Promise<void> {
    assertFitted(this.numItems, this.kind);
    await writeModelArtifact(
      dir,
      { kind: this.kind, name: this.name, numItems: this.numItems, config: { ...this.opts }, ...(this.report ? { fit: this.report } : {}) },
      { popularity: this.pop, ...(this.categories ? { categories: this.categories } : {}) },
    );
  }

  static fromArtifact(this: void, art: ModelArtifact): PopularityModel {
    const m = new PopularityModel();
    m.pop = artifactArray(art, 'popularity', Float32Array);
    m.categories = art.arrays.categories ? artifactArray(art, 'categories', Int32Array) : undefined;
    m.opts = art.manifest.config as PopularityOptions;
    m.report = art.manifest.fit;
    return m;
  }
}
