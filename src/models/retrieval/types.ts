/**
 * Retrieval models: the training data (`Timelines`), the model interface every retrieval
 * algorithm honours (`RetrievalModel`), and the small shared helpers they build on (top-k
 * selection with exclusions, default batch / similar-item implementations).
 *
 * Item and user indices are the store's dense indices (0..numItems-1, 0..numUsers-1). A model
 * only ever sees item indices; users are anonymous rows of a `Timelines` (amortized inference:
 * a user is represented by their history, as in the LED paper §5).
 */
import type { EventType } from '../../data/model.js';
import type { Store } from '../../store/types.js';
import type { Progress } from '../../util/progress.js';
import { Mulberry32 } from '../../math/rng.js';

// ---------------------------------------------------------------------------------------------
// Timelines
// ---------------------------------------------------------------------------------------------

/**
 * Per-user, time-ordered item sequences in CSR form: user `u`'s events are positions
 * `indptr[u] .. indptr[u+1]-1` of `items` (and of the optional parallel columns), oldest first.
 * Ties in time keep their input order (the sort is stable).
 */
export interface Timelines {
  numUsers: number;
  numItems: number;
  /** numUsers + 1 offsets; indptr[0] = 0, indptr[numUsers] = number of events. */
  indptr: Int32Array;
  items: Int32Array;
  /** Event type codes (as `Store.eventTypes()`), when kept. */
  types?: Uint16Array;
  /** Event values (ratings, amounts...); NaN where an event has none. */
  values?: Float32Array;
  /** Epoch milliseconds. */
  timestamps?: Float64Array;
}

export interface TimelinesFromArraysInput {
  userIdx: ArrayLike<number>;
  itemIdx: ArrayLike<number>;
  timestamp?: ArrayLike<number>;
  type?: ArrayLike<number>;
  value?: ArrayLike<number>;
  /** Default: max user index + 1. */
  numUsers?: number;
  /** Default: max item index + 1. */
  numItems?: number;
}

/**
 * Builds Timelines from parallel event arrays (any order). Events are grouped by user and
 * sorted by timestamp (stable: equal timestamps keep their input order; without timestamps the
 * input order is the time order).
 */
export function timelinesFromArrays(input: TimelinesFromArraysInput): Timelines {
  const n = input.userIdx.length;
  if (input.itemIdx.length !== n) throw new Error('timelinesFromArrays: userIdx and itemIdx differ in length');
  for (const [name, col] of [['timestamp', input.timestamp], ['type', input.type], ['value', input.value]] as const) {
    if (col && col.length !== n) throw new Error(`timelinesFromArrays: ${name} has ${col.length} entries, expected ${n}`);
  }
  let maxU = -1;
  let maxI = -1;
  for (let e = 0; e < n; e++) {
    const u = input.userIdx[e];
    const i = input.itemIdx[e];
    if (!Number.isInteger(u) || u < 0) throw new Error(`timelinesFromArrays: bad user index ${u} at ${e}`);
    if (!Number.isInteger(i) || i < 0) throw new Error(`timelinesFromArrays: bad item index ${i} at ${e}`);
    if (u > maxU) maxU = u;
    if (i > maxI) maxI = i;
  }
  const numUsers = input.numUsers ?? maxU + 1;
  const numItems = input.numItems ?? maxI + 1;
  if (maxU >= numUsers) throw new Error(`timelinesFromArrays: user index ${maxU} >= numUsers ${numUsers}`);
  if (maxI >= numItems) throw new Error(`timelinesFromArrays: item index ${maxI} >= numItems ${numItems}`);

  // Counting sort by user (stable), then a stable sort by time within each user.
  const indptr = new Int32Array(numUsers + 1);
  for (let e = 0; e < n; e++) indptr[input.userIdx[e] + 1]++;
  for (let u = 0; u < numUsers; u++) indptr[u + 1] += indptr[u];
  const fill = indptr.slice(0, numUsers);
  const order = new Int32Array(n);
  for (let e = 0; e < n; e++) order[fill[input.userIdx[e]]++] = e;
  const ts = input.timestamp;
  if (ts) {
    for (let u = 0; u < numUsers; u++) {
      const a = indptr[u];
      const b = indptr[u + 1];
      let sorted = true;
      for (let p = a + 1; p < b; p++) if (ts[order[p]] < ts[order[p - 1]]) { sorted = false; break; }
      if (!sorted) {
        const seg = Array.from(order.subarray(a, b));
        seg.sort((x, y) => ts[x] - ts[y] || x - y);
        order.set(seg, a);
      }
    }
  }
  const out: Timelines = { numUsers, numItems, indptr, items: new Int32Array(n) };
  if (input.type) out.types = new Uint16Array(n);
  if (input.value) out.values = new Float32Array(n);
  if (ts) out.timestamps = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const e = order[p];
    out.items[p] = input.itemIdx[e];
    if (out.types) out.types[p] = input.type![e];
    if (out.values) out.values[p] = input.value![e];
    if (out.timestamps) out.timestamps[p] = ts![e];
  }
  return out;
}

export interface TimelinesFromStoreOptions {
  /** Only these event types (default: all). */
  types?: EventType[];
  /** Keep events with value >= minValue (events without a value are dropped when set). */
  minValue?: number;
  /** Keep events with value > valueAbove (strict; the Mult-VAE filter is `valueAbove: 3.5`). */
  valueAbove?: number;
  /**
   * Event types the value filters apply to (default: all kept types). Events of other types
   * pass whatever their value, e.g. `{ types: ['view', 'rating'], minValue: 4, valueTypes: ['rating'] }`.
   */
  valueTypes?: EventType[];
  /** Events with timestamp >= since (epoch ms). */
  since?: number;
  /** Events with timestamp < until (epoch ms). */
  until?: number;
  /** Keep the type / value / timestamp columns (default true for all three). */
  keepTypes?: boolean;
  keepValues?: boolean;
  keepTimestamps?: boolean;
  progress?: Progress;
}

/** Loads Timelines from a store with `scanEvents` (one pass, columnar). */
export async function timelinesFromStore(store: Store, opts: TimelinesFromStoreOptions = {}): Promise<Timelines> {
  const counts = await store.counts();
  const valueCodes = new Set<number>();
  if (opts.valueTypes) {
    for (const t of opts.valueTypes) {
      const c = await store.eventTypeCode(t);
      if (c >= 0) valueCodes.add(c);
    }
  }
  const filterValues = opts.minValue !== undefined || opts.valueAbove !== undefined;
  const minValue = opts.minValue ?? -Infinity;
  const valueAbove = opts.valueAbove ?? -Infinity;
  let cap = 1 << 16;
  let n = 0;
  let users = new Int32Array(cap);
  let items = new Int32Array(cap);
  let types = new Uint16Array(cap);
  let values = new Float32Array(cap);
  let times = new Float64Array(cap);
  const grow = (need: number) => {
    if (need <= cap) return;
    while (cap < need) cap *= 2;
    const g = <T extends Int32Array | Uint16Array | Float32Array | Float64Array>(a: T, mk: (m: number) => T): T => {
      const b = mk(cap);
      b.set(a.subarray(0, n) as never);
      return b;
    };
    users = g(users, (m) => new Int32Array(m));
    items = g(items, (m) => new Int32Array(m));
    types = g(types, (m) => new Uint16Array(m));
    values = g(values, (m) => new Float32Array(m));
    times = g(times, (m) => new Float64Array(m));
  };
  let maxU = -1;
  let maxI = -1;
  const scanOpts: Parameters<Store['scanEvents']>[0] = {};
  if (opts.types) scanOpts.types = opts.types;
  if (opts.since !== undefined) scanOpts.since = opts.since;
  if (opts.until !== undefined) scanOpts.until = opts.until;
  opts.progress?.update(0, counts.events);
  let scanned = 0;
  for await (const b of store.scanEvents(scanOpts)) {
    grow(n + b.length);
    for (let e = 0; e < b.length; e++) {
      if (filterValues && (!opts.valueTypes || valueCodes.has(b.type[e]))) {
        const v = b.value[e];
        if (!(v >= minValue) || !(v > valueAbove)) continue; // NaN fails both
      }
      const u = b.userIdx[e];
      const i = b.itemIdx[e];
      users[n] = u;
      items[n] = i;
      types[n] = b.type[e];
      values[n] = b.value[e];
      times[n] = b.timestamp[e];
      if (u > maxU) maxU = u;
      if (i > maxI) maxI = i;
      n++;
    }
    scanned += b.length;
    opts.progress?.update(scanned);
  }
  opts.progress?.done();
  const t = timelinesFromArrays({
    userIdx: users.subarray(0, n),
    itemIdx: items.subarray(0, n),
    timestamp: times.subarray(0, n),
    type: types.subarray(0, n),
    value: values.subarray(0, n),
    numUsers: Math.max(maxU + 1, counts.users),
    numItems: Math.max(maxI + 1, counts.items + counts.deletedItems),
  });
  if (opts.keepTypes === false) delete t.types;
  if (opts.keepValues === false) delete t.values;
  if (opts.keepTimestamps === false) delete t.timestamps;
  return t;
}

/** Number of events. */
export function numEvents(t: Timelines): number {
  return t.indptr[t.numUsers];
}

/** User u's item sequence (a view, not a copy). */
export function userItems(t: Timelines, u: number): Int32Array {
  return t.items.subarray(t.indptr[u], t.indptr[u + 1]);
}

/** The rows `users` (in that order) as a new Timelines; columns are copied. */
export function selectUsers(t: Timelines, users: ArrayLike<number>): Timelines {
  const m = users.length;
  const indptr = new Int32Array(m + 1);
  for (let r = 0; r < m; r++) {
    const u = users[r];
    if (u < 0 || u >= t.numUsers) throw new Error(`selectUsers: user ${u} out of range`);
    indptr[r + 1] = indptr[r] + t.indptr[u + 1] - t.indptr[u];
  }
  const out: Timelines = { numUsers: m, numItems: t.numItems, indptr, items: new Int32Array(indptr[m]) };
  if (t.types) out.types = new Uint16Array(indptr[m]);
  if (t.values) out.values = new Float32Array(indptr[m]);
  if (t.timestamps) out.timestamps = new Float64Array(indptr[m]);
  for (let r = 0; r < m; r++) {
    const a = t.indptr[users[r]];
    const b = t.indptr[users[r] + 1];
    out.items.set(t.items.subarray(a, b), indptr[r]);
    out.types?.set(t.types!.subarray(a, b), indptr[r]);
    out.values?.set(t.values!.subarray(a, b), indptr[r]);
    out.timestamps?.set(t.timestamps!.subarray(a, b), indptr[r]);
  }
  return out;
}

/** Keeps the events for which `keep(position, user)` is true (all columns follow). */
export function filterEvents(t: Timelines, keep: (p: number, u: number) => boolean): Timelines {
  const indptr = new Int32Array(t.numUsers + 1);
  const kept: number[] = [];
  for (let u = 0; u < t.numUsers; u++) {
    for (let p = t.indptr[u]; p < t.indptr[u + 1]; p++) if (keep(p, u)) kept.push(p);
    indptr[u + 1] = kept.length;
  }
  return gatherEvents(t, indptr, kept);
}

/** Builds a Timelines with rows `indptr` from the events at positions `positions` of `t`. */
export function gatherEvents(t: Timelines, indptr: Int32Array, positions: ArrayLike<number>): Timelines {
  const n = positions.length;
  const out: Timelines = { numUsers: indptr.length - 1, numItems: t.numItems, indptr, items: new Int32Array(n) };
  if (t.types) out.types = new Uint16Array(n);
  if (t.values) out.values = new Float32Array(n);
  if (t.timestamps) out.timestamps = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    const p = positions[q];
    out.items[q] = t.items[p];
    if (out.types) out.types[q] = t.types![p];
    if (out.values) out.values[q] = t.values![p];
    if (out.timestamps) out.timestamps[q] = t.timestamps![p];
  }
  return out;
}

/**
 * Each user's distinct items, in order of first occurrence (the binary user×item matrix in CSR
 * form, rows not sorted by item). Drops the other columns.
 */
export function distinctItems(t: Timelines): Timelines {
  const seen = new Int32Array(t.numItems).fill(-1);
  const indptr = new Int32Array(t.numUsers + 1);
  const items = new Int32Array(numEvents(t));
  let n = 0;
  for (let u = 0; u < t.numUsers; u++) {
    for (let p = t.indptr[u]; p < t.indptr[u + 1]; p++) {
      const i = t.items[p];
      if (seen[i] !== u) {
        seen[i] = u;
        items[n++] = i;
      }
    }
    indptr[u + 1] = n;
  }
  return { numUsers: t.numUsers, numItems: t.numItems, indptr, items: items.slice(0, n) };
}

/** Per-item count of events (or of distinct users with `distinctUsers`). */
export function itemCounts(t: Timelines, distinctUsers = false): Float64Array {
  const c = new Float64Array(t.numItems);
  if (!distinctUsers) {
    for (let p = 0; p < numEvents(t); p++) c[t.items[p]]++;
    return c;
  }
  const seen = new Int32Array(t.numItems).fill(-1);
  for (let u = 0; u < t.numUsers; u++) {
    for (let p = t.indptr[u]; p < t.indptr[u + 1]; p++) {
      const i = t.items[p];
      if (seen[i] !== u) {
        seen[i] = u;
        c[i]++;
      }
    }
  }
  return c;
}

/**
 * The transpose of a (binary) Timelines: for each item, the users that have it, in increasing
 * user order (CSC of the user×item matrix). Duplicates are kept as they are in `t`.
 */
export function itemUsers(t: Timelines): { indptr: Int32Array; users: Int32Array } {
  const indptr = new Int32Array(t.numItems + 1);
  const n = numEvents(t);
  for (let p = 0; p < n; p++) indptr[t.items[p] + 1]++;
  for (let i = 0; i < t.numItems; i++) indptr[i + 1] += indptr[i];
  const fill = indptr.slice(0, t.numItems);
  const users = new Int32Array(n);
  for (let u = 0; u < t.numUsers; u++) {
    for (let p = t.indptr[u]; p < t.indptr[u + 1]; p++) users[fill[t.items[p]]++] = u;
  }
  return { indptr, users };
}

// ---------------------------------------------------------------------------------------------
// The model interface
// ---------------------------------------------------------------------------------------------

/** What `fit` reports; also stored in the artifact manifest. */
export interface FitReport {
  /** Registry kind ('popularity', 'ease', ...). */
  kind: string;
  /** Display name with the main hyper-parameters, e.g. 'ease(λ=500)'. */
  model: string;
  /** Wall-clock seconds of `fit`. */
  seconds: number;
  users: number;
  items: number;
  events: number;
  /** The options actually used (defaults filled in). */
  params: Record<string, unknown>;
  /** Training-time metrics the model tracks (loss, validation NDCG...). */
  metrics?: Record<string, number>;
  notes?: string[];
}

/** A ranked list: parallel arrays, best first. */
export interface Recommendations {
  items: Int32Array;
  scores: Float32Array;
}

/**
 * Recommendations for many users at once, with a fixed stride `k`: user r's list is
 * `items[r*k .. r*k + lengths[r] - 1]`; the rest of the row is padded with -1 / -Infinity.
 */
export interface BatchRecommendations {
  k: number;
  count: number;
  items: Int32Array;
  scores: Float32Array;
  lengths: Int32Array;
}

export interface RecommendOptions {
  /** Also allow items of the history itself (repeat consumption). Default false. */
  includeHistory?: boolean;
}

/** A model with item embeddings scoring by inner product (LED, RSVD): the ANN-index contract. */
export interface ItemVectors {
  /** numItems × dim, row-major. */
  vectors: Float32Array;
  /** numItems biases added to the inner product, when the model has them. */
  biases: Float32Array | undefined;
  dim: number;
}

/**
 * The contract every retrieval model honours (the shape of implicit's `RecommenderBase`).
 *
 * Scores: `score(history)` is the model's dense score of every item for a user with that
 * history; items the model cannot recommend (never seen in training, or outside its vocabulary)
 * score -Infinity and are never returned. Lists are ranked by decreasing score, ties broken by
 * the smaller item index. History items are never recommended unless `includeHistory`.
 * k larger than the number of recommendable items returns all of them.
 */
export interface RetrievalModel<Options = Record<string, unknown>> {
  /** Registry key, stored in the manifest ('popularity', 'cbo', 'itemknn', 'ease', 'led', ...). */
  readonly kind: string;
  /** Display name with the main hyper-parameters (after fit or load). */
  readonly name: string;
  /** Size of the item index space (0 before fit). */
  readonly numItems: number;
  fit(data: Timelines, opts?: Options, progress?: Progress): Promise<FitReport>;
  /** Writes the artifact folder: `model.json` manifest + raw little-endian `.bin` arrays. */
  save(dir: string): Promise<void>;
  /**
   * Scores of all items (length numItems) or of `items` only (same order), for a user whose
   * history (oldest first) is `history`.
   */
  score(history: Int32Array, items?: Int32Array): Float32Array;
  /** The user representation, for models that have one (LED: mean of item vectors). */
  encodeUser(history: Int32Array): Float32Array | undefined;
  recommend(history: Int32Array, k: number, exclude?: Int32Array, opts?: RecommendOptions): Recommendations;
  /** Optional faster batch path; `recommendMany` falls back to `recommend` per user. */
  recommendBatch?(histories: Timelines, k: number, exclude?: Timelines, opts?: RecommendOptions): BatchRecommendations;
  /** The k items most similar to `item` (never the item itself). */
  similarItems(item: number, k: number): Recommendations;
  /** Item embeddings + biases for inner-product models (LED, RSVD); absent elsewhere. */
  itemVectors?(): ItemVectors;
}

// ---------------------------------------------------------------------------------------------
// Shared helpers for implementations
// ---------------------------------------------------------------------------------------------

/** topK's heap for k up to 4,096, reused across calls (topK runs to its end without yielding). */
const topKScratch = { s: new Float64Array(4096), i: new Int32Array(4096) };

/** Heap order of topK: entry a is worse than entry b (lower score, or equal and a larger index). */
function worse(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa < sb || (sa === sb && ia > ib);
}

/** Restores the min-heap below `pos` (module-level, not a closure per call: topK is on the request path). */
function siftDown(hs: Float64Array, hi: Int32Array, size: number, pos: number): void {
  for (;;) {
    const l = 2 * pos + 1;
    if (l >= size) return;
    let m = l;
    const r = l + 1;
    if (r < size && worse(hs[r], hi[r], hs[l], hi[l])) m = r;
    if (!worse(hs[m], hi[m], hs[pos], hi[pos])) return;
    const ts = hs[m]; hs[m] = hs[pos]; hs[pos] = ts;
    const ti = hi[m]; hi[m] = hi[pos]; hi[pos] = ti;
    pos = m;
  }
}

/**
 * The k best entries of `scores` whose `blocked[i]` is 0 (when given) and whose score is not
 * -Infinity / NaN, best first; ties broken by the smaller index. O(n log k).
 */
export function topK(scores: ArrayLike<number>, k: number, blocked?: Uint8Array): Recommendations {
  const n = scores.length;
  k = Math.max(0, Math.min(k, n));
  // Min-heap of size k on (score asc, index desc): the root is the worst kept entry. For the
  // usual k its arrays are the module's scratch: item-kNN calls topK on every request, and a
  // typed array of more than 64 bytes costs V8 a malloc'd backing store and its tracking.
  const small = k <= topKScratch.s.length;
  const hs = small ? topKScratch.s : new Float64Array(k);
  const hi = small ? topKScratch.i : new Int32Array(k);
  let size = 0;
  if (k > 0) {
    for (let i = 0; i < n; i++) {
      if (blocked && blocked[i]) continue;
      const s = scores[i];
      if (!(s > -Infinity)) continue;
      if (size < k) {
        let pos = size++;
        hs[pos] = s;
        hi[pos] = i;
        while (pos > 0) {
          const parent = (pos - 1) >> 1;
          if (!worse(hs[pos], hi[pos], hs[parent], hi[parent])) break;
          const ts = hs[parent]; hs[parent] = hs[pos]; hs[pos] = ts;
          const ti = hi[parent]; hi[parent] = hi[pos]; hi[pos] = ti;
          pos = parent;
        }
      } else if (worse(hs[0], hi[0], s, i)) {
        hs[0] = s;
        hi[0] = i;
        siftDown(hs, hi, size, 0);
      }
    }
  }
  const items = new Int32Array(size);
  const out = new Float32Array(size);
  for (let r = size - 1; r >= 0; r--) {
    items[r] = hi[0];
    out[r] = hs[0];
    size--;
    hs[0] = hs[size];
    hi[0] = hi[size];
    siftDown(hs, hi, size, 0);
  }
  return { items, scores: out };
}

/** A 0/1 mask of the items to block: history (unless includeHistory) and `exclude`. */
export function exclusionMask(
  numItems: number, history: Int32Array, exclude?: Int32Array, opts?: RecommendOptions, reuse?: Uint8Array,
): Uint8Array {
  const m = reuse ?? new Uint8Array(numItems);
  if (reuse) m.fill(0);
  if (!opts?.includeHistory) for (let p = 0; p < history.length; p++) { const i = history[p]; if (i >= 0 && i < numItems) m[i] = 1; }
  if (exclude) for (let p = 0; p < exclude.length; p++) { const i = exclude[p]; if (i >= 0 && i < numItems) m[i] = 1; }
  return m;
}

/** `recommend` through `score` + `topK`: the default implementation. */
export function recommendFromScores(
  model: Pick<RetrievalModel, 'score' | 'numItems'>, history: Int32Array, k: number, exclude?: Int32Array, opts?: RecommendOptions,
): Recommendations {
  const scores = model.score(history);
  return topK(scores, k, exclusionMask(model.numItems, history, exclude, opts));
}

/**
 * Recommendations for every row of `histories` (user r excluded `exclude` row r when given),
 * through the model's `recommendBatch` when it has one, else `recommend` per user.
 */
export function recommendMany(
  model: RetrievalModel<never>, histories: Timelines, k: number, exclude?: Timelines, opts?: RecommendOptions,
): BatchRecommendations {
  if (model.recommendBatch) return model.recommendBatch(histories, k, exclude, opts);
  const count = histories.numUsers;
  const out: BatchRecommendations = {
    k, count,
    items: new Int32Array(count * k).fill(-1),
    scores: new Float32Array(count * k).fill(-Infinity),
    lengths: new Int32Array(count),
  };
  for (let r = 0; r < count; r++) {
    const rec = model.recommend(userItems(histories, r), k, exclude ? userItems(exclude, r) : undefined, opts);
    out.items.set(rec.items, r * k);
    out.scores.set(rec.scores, r * k);
    out.lengths[r] = rec.items.length;
  }
  return out;
}

/** Throws a uniform error for calls on a model that has not been fitted or loaded. */
export function assertFitted(numItems: number, kind: string): void {
  if (numItems <= 0) throw new Error(`${kind}: model is not fitted (call fit() or loadModel())`);
}

/** Checks an item index argument. */
export function assertItem(item: number, numItems: number, kind: string): void {
  if (!Number.isInteger(item) || item < 0 || item >= numItems) throw new Error(`${kind}: item ${item} out of range [0, ${numItems})`);
}

/**
 * The seeded PRNG the retrieval models, protocols and synthetic data use: mulberry32 over a
 * 32-bit state (`Mulberry32` of src/math/rng.ts), with `next()` in [0, 1), `int(n)` and
 * Box–Muller `normal()`. Kept on this generator so that seeded splits and trainings reproduce
 * bit for bit; new code can use `Rng` (xoshiro128**) from src/math/rng.ts.
 */
export class SmallRng extends Mulberry32 {}
