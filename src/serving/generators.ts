/**
 * Candidate generators over a loaded artifact: LED (ANN search on the user vector), item-kNN of
 * the last viewed items, popularity, and fresh items (new items are served at once, before any
 * retraining). Each honours the request's exclusions and filter.
 */
import { passesFilters, type CandidateGenerator, type GeneratorOutput, type RequestContext } from '../funnel/types.js';
import type { ItemKnnModel } from '../models/retrieval/itemknn.js';
import type { LedModel } from '../models/retrieval/led.js';
import { topK } from '../models/retrieval/types.js';
import type { VectorIndex } from '../index/types.js';
import { servingProfile } from './profile.js';
import { IntSlots } from '../util/int-slots.js';

/** What the LED generator needs of the item index (src/index/types.ts: MIPS with biases). */
export type ItemSearch = Pick<VectorIndex, 'search'>;

const EMPTY: GeneratorOutput = { items: new Int32Array(0), scores: new Float32Array(0) };

/** History for the encoder: the request carries most-recent-first; LED averages, order is free. */
export class LedGenerator implements CandidateGenerator {
  readonly filtered = true;
  constructor(
    readonly name: string,
    private readonly led: LedModel,
    private readonly index: ItemSearch,
  ) {}

  generate(ctx: RequestContext, k: number): GeneratorOutput {
    const prof = servingProfile.enabled ? servingProfile : undefined;
    const t0 = prof ? performance.now() : 0;
    const u = this.led.encodeUser(ctx.history);
    const t1 = prof ? performance.now() : 0;
    const r = this.index.search(u, k, { exclude: ctx.exclude, allow: ctx.allow, mask: ctx.mask });
    if (prof) {
      prof.add('encode', t1 - t0);
      prof.add('ann', performance.now() - t1);
    }
    return { items: r.ids, scores: r.scores };
  }
}

/** Neighbours of the last `lastN` history items, scores summed (recency-weighted). */
export class ItemKnnGenerator implements CandidateGenerator {
  readonly filtered = true;
  constructor(
    readonly name: string,
    private readonly knn: ItemKnnModel,
    private readonly lastN = 5,
  ) {}

  /**
   * Scratch, reused across requests (generate is synchronous): item → slot in a table sized to
   * the neighbours read, and per slot the item's summed score (a catalogue-sized score array
   * held 8 bytes per item for every scene: 8 MB at 1M items; the speed measured the same).
   */
  private readonly table = new IntSlots();
  private vals = new Float64Array(1024);
  /** Items in order of first appearance (ties are broken by it), their table slots and sums. */
  private touched = new Int32Array(0);
  private slots = new Int32Array(0);
  private sums = new Float32Array(0);

  generate(ctx: RequestContext, k: number): GeneratorOutput {
    const h = ctx.history;
    if (h.length === 0) return EMPTY;
    const knn = this.knn;
    const n = Math.min(this.lastN, h.length);
    if (this.touched.length < n * k) {
      this.touched = new Int32Array(n * k);
      this.slots = new Int32Array(n * k);
      this.sums = new Float32Array(n * k);
    }
    const table = this.table;
    table.reset(n * k);
    if (this.vals.length !== table.capacity) this.vals = new Float64Array(table.capacity);
    const vals = this.vals;
    const touched = this.touched;
    const slots = this.slots;
    let m = 0;
    // The CSR arrays read directly: neighboursOf's two subarrays per history item were most of
    // this generator's garbage.
    const { indptr, neighbours, sims } = knn.csr();
    for (let p = 0; p < n; p++) {
      const item = h[p];
      if (item < 0 || item >= knn.numItems) continue;
      const w = 1 / (1 + p);
      const a = indptr[item]; // neighbours best first
      const b = Math.min(a + k, indptr[item + 1]);
      for (let q = a; q < b; q++) {
        const j = neighbours[q];
        if (!passesFilters(ctx, j)) continue;
        const s = table.slot(j);
        if (s < 0) {
          vals[~s] = w * sims[q];
          touched[m] = j;
          slots[m++] = ~s;
        } else vals[s] += w * sims[q];
      }
    }
    const sums = this.sums.subarray(0, m);
    for (let p = 0; p < m; p++) sums[p] = vals[slots[p]];
    const best = topK(sums, k);
    // Plain loops, not TypedArray.from(list, fn): that generic path (iterator, a call per
    // element) was ~2% of a request's CPU with the ranked lists' below (perf, bench/serve.ts).
    const items = new Int32Array(best.items.length);
    for (let p = 0; p < items.length; p++) items[p] = touched[best.items[p]];
    return { items, scores: best.scores };
  }
}

/** A fixed ranking (popularity, freshness) filtered per request. */
export class RankedListGenerator implements CandidateGenerator {
  readonly filtered = true;
  constructor(
    readonly name: string,
    private readonly list: () => { items: Int32Array; scores: Float32Array },
  ) {}

  generate(ctx: RequestContext, k: number): GeneratorOutput {
    const { items, scores } = this.list();
    const room = Math.min(k, items.length);
    const outI = new Int32Array(room);
    const outS = new Float32Array(room);
    let n = 0;
    for (let p = 0; p < items.length && n < room; p++) {
      const it = items[p];
      if (!passesFilters(ctx, it)) continue;
      outI[n] = it;
      outS[n++] = scores[p];
    }
    return n === room ? { items: outI, scores: outS } : { items: outI.subarray(0, n), scores: outS.subarray(0, n) };
  }
}
