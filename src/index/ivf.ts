/**
 * IVF item index: the items clustered into inverted lists (k-means over their [v, b] rows),
 * each item stored in its list as one byte per coordinate; a search scans the lists of the
 * query's best centroids by those codes, sequentially, and re-scores the best estimates
 * exactly (native/src/ivf.h).
 *
 * Why beside HNSW: a graph walk is a chain of dependent random reads (a node's links, then its
 * neighbours' rows), ~1 µs per node expanded at a memory latency of ~200 ns, and a k = 200
 * search expands ~290 nodes. A list scan reads the same few hundred kilobytes in long
 * sequential runs the CPU prefetches, then a few hundred rows at once. On the serve bench's
 * catalogue (1M items, d = 64; bench/_ivf-params.ts, the README) it reaches the graph's recall in
 * a fraction of its time and memory (codes: 64 bytes per item, against the graph's ~400).
 *
 * The search. The centroids c_l of the rows [v, b] are ranked by ⟨[u, 1], c_l⟩, estimated from
 * their codes as an item's, and the best `probe` lists scanned (more while fewer than
 * IVF_DEFAULTS' minimum of items were seen). An item's estimate is Σ_j u_j (lo_j + code_j · step_j) + b, computed
 * as an integer dot product of its codes with the query's weights u_j · step_j rounded to int8
 * (exact bias, per-coordinate ranges lo/step from the build). The R best estimates (R = k plus
 * the excluded items plus a margin) are scored exactly from the float rows, and filters
 * (exclusions, availability, mask, predicate) apply to those exact candidates; when too few
 * pass, R grows 4×, up to 16×, then the exact scan answers (as the HNSW index does).
 *
 * Updates. New or changed items go to the list of their nearest centroid (the centroids stay
 * those of the build; a catalogue that drifts far from them is re-clustered by the next
 * training). A coordinate outside the build's range is clamped in the code (the estimate is
 * then rougher; the final score is exact). Removal moves the list's last item into the hole.
 * A list that outgrows its room moves to the end of the code array with twice the room; the
 * holes left behind are reclaimed when they exceed half the array.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { kernels } from '../math/kernels/index.js';
import { hugePageCopies, nativeAddon, populateMappings } from '../math/kernels/native.js';
import { Mulberry32 } from '../math/rng.js';
import { ExactIndex, exactPartOf, loadExactPart, saveExactPart, type ExternalVectors } from './exact.js';
import { readFloat32, readInt32, readMeta, readUint8, writeArray, writeMeta } from './io.js';
import { EMPTY_RESULT } from './select.js';
import { checkItems, checkQuery, type SearchFilter, type SearchResult, type VectorIndex } from './types.js';

const FORMAT = 1;
/** Items assigned per sgemm block while clustering. */
const BLOCK = 1024;

export interface IvfOptions {
  /** Inverted lists (default: about 4·√items, at most the items). */
  lists?: number;
  /** Lists scanned per search (default: 3% of the lists, at least 8). */
  probe?: number;
  /** Items sampled per list to train the centroids (default 40). */
  trainPerList?: number;
  /** k-means iterations (default 8). */
  iterations?: number;
  /** Seed of the sample and the initial centroids (default 100). */
  seed?: number;
  /**
   * Called while building: rows processed so far and in all (the k-means passes over the
   * sample, then the assignment of every item).
   */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Besides `probe` lists, a search scans at least max(minScan, scanPerCandidate × R) items (the
 * next best lists): small catalogues, whose lists are short, and queries whose best lists are
 * sparse still see enough items.
 */
export const IVF_DEFAULTS = { trainPerList: 40, iterations: 8, seed: 100, probeShare: 0.03, minProbe: 8, minScan: 2048, scanPerCandidate: 16 };

/** Lists for a catalogue of n items when not given: ~4·√n. */
export function defaultLists(n: number): number {
  return Math.max(1, Math.min(n, Math.round(4 * Math.sqrt(n))));
}

/** Lists scanned per search when not given. */
export function defaultProbe(lists: number): number {
  return Math.min(lists, Math.max(IVF_DEFAULTS.minProbe, Math.ceil(lists * IVF_DEFAULTS.probeShare)));
}

/** Why the IVF index cannot run here (its scan is native), or null. */
export function ivfUnavailable(): string | null {
  const n = nativeAddon();
  return n.addon ? null : `the IVF index needs the native addon: ${n.error}`;
}

function native() {
  const n = nativeAddon();
  if (!n.addon) throw new Error(`the IVF index needs the native addon: ${n.error}`);
  return n.addon;
}

export class IvfIndex implements VectorIndex {
  readonly kind = 'ivf' as const;
  readonly dim: number;
  /** Exact vectors, biases and item states: re-scoring, filters and fallback. */
  private readonly exact: ExactIndex;
  private readonly external: boolean;
  private sourceItems = 0;
  readonly lists: number;
  private probeLists: number;
  /** Centroids of [v, b]: lists × (dim + 1). */
  private readonly centroids: Float32Array;
  /** Squared norms of the centroids (assignment). */
  private readonly centroidNorm2: Float32Array;
  /** Per coordinate: code 0 stands for lo, each step adds step. */
  private readonly lo: Float32Array;
  private readonly step: Float32Array;
  /** Bytes per code (dim rounded up to 4). */
  readonly codeBytes: number;
  /** The centroids' codes (blocked as the items') and bias coordinates, for ranking the lists. */
  private readonly centroidCodes: Uint8Array;
  private readonly centroidBias: Float32Array;
  /**
   * Per list: first slot, items, room (slots). Slots come in blocks of 16 (native/src/ivf.h):
   * byte j of slot p's code is at (p >> 4)·16·codeBytes + (j >> 2)·64 + (p & 15)·4 + (j & 3),
   * and a list's first slot and room are multiples of 16.
   */
  private start: Int32Array;
  private len: Int32Array;
  private cap: Int32Array;
  /** Per slot: codes, bias, item id (-1: free). */
  private codes: Uint8Array;
  private slotBias: Float32Array;
  private slotId: Int32Array;
  /** Slots in use or left as holes (the end of the last list's room). */
  private tail = 0;
  /** Slots of rooms abandoned by lists that moved. */
  private garbage = 0;
  /** Per item id: its list (-1: none) and slot. */
  private listOf: Int32Array;
  private slotOf: Int32Array;
  private outIds = new Int32Array(0);
  private outScores = new Float32Array(0);
  /** Searches answered by the lists, after a retry with more candidates, and by the exact scan. */
  readonly stats = { lists: 0, retried: 0, exact: 0 };

  private constructor(exact: ExactIndex, external: boolean, centroids: Float32Array, lo: Float32Array, step: Float32Array, probe: number) {
    this.codeBytes = Math.ceil(exact.dim / 4) * 4;
    this.exact = exact;
    this.dim = exact.dim;
    this.external = external;
    const dA = this.dim + 1;
    this.lists = centroids.length / dA;
    this.centroids = centroids;
    this.centroidNorm2 = new Float32Array(this.lists);
    for (let c = 0; c < this.lists; c++) {
      let n2 = 0;
      for (let j = 0; j < dA; j++) n2 += centroids[c * dA + j] * centroids[c * dA + j];
      this.centroidNorm2[c] = n2;
    }
    this.lo = lo;
    this.step = step;
    this.probeLists = probe;
    const padded = Math.ceil(this.lists / 16) * 16;
    this.centroidCodes = new Uint8Array(padded * this.codeBytes);
    this.centroidBias = new Float32Array(padded);
    for (let c = 0; c < this.lists; c++) {
      this.encode(centroids.subarray(c * dA, c * dA + this.dim), this.centroidCodes, c);
      this.centroidBias[c] = centroids[c * dA + this.dim];
    }
    this.start = new Int32Array(this.lists);
    this.len = new Int32Array(this.lists);
    this.cap = new Int32Array(this.lists);
    this.codes = new Uint8Array(0);
    this.slotBias = new Float32Array(0);
    this.slotId = new Int32Array(0);
    this.listOf = new Int32Array(0);
    this.slotOf = new Int32Array(0);
  }

  /** Builds an index of `vectors` (n × dim) and `biases`, copied; ids are `ids` or 0..n-1. */
  static build(vectors: Float32Array, biases: Float32Array, dim: number, options: IvfOptions = {}, ids?: ArrayLike<number>): IvfIndex {
    return IvfIndex.fromExact(exactPartOf('ivf', vectors, biases, dim, ids), options, false);
  }

  /**
   * Builds the lists over existing arrays without copying them (item i = row i; absent where
   * present[i] = 0), e.g. a model's item vectors: `save` then writes the lists only and `load`
   * needs the same arrays again.
   */
  static adopt(vectors: Float32Array, biases: Float32Array, dim: number, present?: Uint8Array, options: IvfOptions = {}): IvfIndex {
    const idx = IvfIndex.fromExact(ExactIndex.adopt(vectors, biases, dim, present), options, true);
    idx.sourceItems = biases.length;
    return idx;
  }

  private static fromExact(exact: ExactIndex, options: IvfOptions, external: boolean): IvfIndex {
    native();
    const o = { ...IVF_DEFAULTS, ...options };
    for (const key of ['trainPerList', 'iterations', 'seed'] as const) {
      if (!Number.isInteger(o[key]) || o[key] < (key === 'seed' ? 0 : 1)) throw new RangeError(`ivf index: ${key} must be an integer >= ${key === 'seed' ? 0 : 1}, got ${o[key]}`);
    }
    const dim = exact.dim;
    const dA = dim + 1;
    const ids: number[] = [];
    for (let i = 0; i < exact.slots; i++) if (exact.item(i)) ids.push(i);
    const n = ids.length;
    const lists = options.lists ?? defaultLists(n);
    if (!Number.isInteger(lists) || lists < 1) throw new RangeError(`ivf index: lists must be an integer >= 1, got ${lists}`);
    const probe = options.probe ?? defaultProbe(lists);
    if (!Number.isInteger(probe) || probe < 1) throw new RangeError(`ivf index: probe must be an integer >= 1, got ${probe}`);
    // Per-coordinate code ranges over the items.
    const lo = new Float32Array(dim).fill(Infinity);
    const hi = new Float32Array(dim).fill(-Infinity);
    for (const id of ids) {
      const v = exact.item(id)!.vector;
      for (let j = 0; j < dim; j++) {
        if (v[j] < lo[j]) lo[j] = v[j];
        if (v[j] > hi[j]) hi[j] = v[j];
      }
    }
    const step = new Float32Array(dim);
    for (let j = 0; j < dim; j++) {
      if (!(lo[j] <= hi[j])) lo[j] = hi[j] = 0;
      step[j] = hi[j] > lo[j] ? (hi[j] - lo[j]) / 255 : 1;
    }
    // k-means over a sample of the rows [v, b].
    const rng = new Mulberry32(o.seed);
    const order = ids.slice();
    const S = Math.min(n, lists * o.trainPerList);
    for (let i = 0; i < S; i++) {
      const j = i + rng.nextInt(n - i);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    const work = o.iterations * S + n;
    const X = new Float32Array(S * dA);
    for (let s = 0; s < S; s++) IvfIndex.rowInto(exact, order[s], X, s * dA);
    const centroids = new Float32Array(lists * dA);
    // The first `lists` sampled rows (cycled when there are fewer rows than lists).
    for (let c = 0; c < lists; c++) centroids.set(X.subarray((c % Math.max(1, S)) * dA, ((c % Math.max(1, S)) + 1) * dA), c * dA);
    if (S > 0) {
      const asg = new Int32Array(S);
      const sums = new Float64Array(lists * dA);
      const counts = new Int32Array(lists);
      for (let it = 0; it < o.iterations; it++) {
        nearest(centroids, lists, dA, X, S, asg);
        options.onProgress?.((it + 1) * S, work);
        sums.fill(0);
        counts.fill(0);
        for (let s = 0; s < S; s++) {
          const c = asg[s];
          counts[c]++;
          for (let j = 0; j < dA; j++) sums[c * dA + j] += X[s * dA + j];
        }
        for (let c = 0; c < lists; c++) {
          if (counts[c] === 0) {
            // An empty list takes a random sampled row.
            const r = rng.nextInt(S);
            centroids.set(X.subarray(r * dA, (r + 1) * dA), c * dA);
          } else for (let j = 0; j < dA; j++) centroids[c * dA + j] = sums[c * dA + j] / counts[c];
        }
      }
    }
    const idx = new IvfIndex(exact, external, centroids, lo, step, probe);
    // Every item to its nearest centroid, then the lists laid out with 1/8 spare room.
    const listOfIds = new Int32Array(n);
    const rows = new Float32Array(Math.min(n, BLOCK * 16) * dA);
    const per = rows.length / dA;
    for (let from = 0; from < n; from += per) {
      const m = Math.min(per, n - from);
      for (let p = 0; p < m; p++) IvfIndex.rowInto(exact, ids[from + p], rows, p * dA);
      nearest(centroids, lists, dA, rows, m, listOfIds.subarray(from, from + m));
      options.onProgress?.(o.iterations * S + from + m, work);
    }
    const counts = new Int32Array(lists);
    for (let p = 0; p < n; p++) counts[listOfIds[p]]++;
    idx.layout(counts, (c) => c + (c >> 3) + 4);
    for (let p = 0; p < n; p++) idx.append(ids[p], listOfIds[p]);
    return idx;
  }

  /**
   * Reads an index written by `save`. An index saved over adopted arrays needs them again in
   * `source` (same length and content as at the build).
   */
  static async load(dir: string, source?: ExternalVectors, options: { probe?: number } = {}): Promise<IvfIndex> {
    const meta = readMeta(dir, 'ivf');
    if (meta.format !== FORMAT) throw new Error(`${dir}: ivf index format ${String(meta.format)}, this version reads ${FORMAT} (rebuild the index)`);
    const dim = Number(meta.dim);
    const lists = Number(meta.lists);
    const external = meta.vectors === 'external';
    const exact = await loadExactPart(dir, meta, source);
    const centroids = readFloat32(dir, 'centroids.f32', lists * (dim + 1));
    const quant = readFloat32(dir, 'quant.f32', 2 * dim);
    const probe = options.probe ?? Number(meta.probe);
    const idx = new IvfIndex(exact, external, centroids, quant.slice(0, dim), quant.slice(dim), probe);
    if (external) idx.sourceItems = Number(meta.sourceItems);
    const counts = readInt32(dir, 'lists.i32', lists);
    let items = 0;
    for (let c = 0; c < lists; c++) items += counts[c];
    const ids = readInt32(dir, 'ids.i32', items);
    // The codes (64 bytes per item: the bulk) read off the main thread, onto huge pages where
    // the serving process uses them (src/server/serving-process.ts).
    const path = join(dir, 'codes.u8');
    if (!existsSync(path)) throw new Error(`${path}: missing`);
    const buf = await nativeAddon().addon?.mapFileAsync(path, populateMappings(), hugePageCopies());
    let slots16 = 0;
    for (let c = 0; c < lists; c++) slots16 += roundUp16(counts[c]);
    const codes = buf ? new Uint8Array(buf) : readUint8(dir, 'codes.u8', slots16 * idx.codeBytes);
    if (codes.length !== slots16 * idx.codeBytes) throw new Error(`${path}: ${codes.length} bytes, expected ${slots16 * idx.codeBytes}`);
    idx.adoptLists(counts, ids, codes);
    return idx;
  }

  get size(): number {
    return this.exact.size;
  }

  /** Lists scanned per search. */
  get probe(): number {
    return this.probeLists;
  }

  set probe(n: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`ivf index: probe must be an integer >= 1, got ${n}`);
    this.probeLists = n;
  }

  has(id: number): boolean {
    return this.exact.has(id);
  }

  upsert(ids: ArrayLike<number>, vectors: Float32Array, biases: Float32Array): void {
    checkItems('ivf', this.dim, ids, vectors, biases);
    this.exact.upsert(ids, vectors, biases);
    const dA = this.dim + 1;
    const n = ids.length;
    const rows = new Float32Array(Math.min(n, BLOCK) * dA);
    const per = rows.length / dA;
    const to = new Int32Array(per);
    for (let from = 0; from < n; from += per) {
      const m = Math.min(per, n - from);
      for (let p = 0; p < m; p++) IvfIndex.rowInto(this.exact, ids[from + p], rows, p * dA);
      nearest(this.centroids, this.lists, dA, rows, m, to, this.centroidNorm2);
      for (let p = 0; p < m; p++) {
        const id = ids[from + p];
        this.unlink(id);
        this.append(id, to[p]);
      }
    }
  }

  remove(ids: ArrayLike<number>): void {
    const present = Array.from(ids).filter((id) => this.exact.item(id) !== undefined);
    this.exact.remove(present);
    for (const id of present) this.unlink(id);
  }

  setAvailable(ids: ArrayLike<number>, available: boolean): void {
    // Unavailable items stay in their lists; the search skips them.
    const present = Array.from(ids).filter((id) => this.exact.item(id) !== undefined);
    this.exact.setAvailable(present, available);
  }

  search(query: Float32Array, k: number, filter: SearchFilter = {}): SearchResult {
    checkQuery('ivf', this.dim, query, k);
    const size = this.exact.size;
    if (k === 0 || size === 0) return EMPTY_RESULT;
    const ex = filter.exclude && filter.exclude.size > 0 ? filter.exclude : undefined;
    const { allow, mask } = filter;
    const want = k + (ex ? ex.size : 0);
    // Asking for a large share of the catalogue: the exact scan is as fast and exact.
    if (want * 4 >= size) {
      this.stats.exact++;
      return this.exact.search(query, k, filter);
    }
    const addon = native();
    const { vectors, biases } = this.exact.arrays();
    const first = want + (want >> 3) + 8;
    const ids = new Int32Array(k);
    const scores = new Float32Array(k);
    for (let R = first; R <= 16 * first; R *= 4) {
      if (this.outIds.length < R) {
        this.outIds = new Int32Array(R);
        this.outScores = new Float32Array(R);
      }
      const out = this.outIds;
      const n = addon.ivfSearch(query, this.dim, this.centroidCodes, this.centroidBias, this.lists, this.probeLists, this.start, this.len, this.codes, this.codeBytes,
        this.slotBias, this.slotId, this.lo, this.step, vectors, biases, R, Math.max(IVF_DEFAULTS.minScan, IVF_DEFAULTS.scanPerCandidate * R), out, this.outScores);
      let got = 0;
      for (let p = 0; p < n && got < k; p++) {
        const id = out[p];
        if (!this.exact.has(id) || (mask && mask[id] !== 1) || (ex && ex.has(id)) || (allow && !allow(id))) continue;
        ids[got] = id;
        scores[got++] = this.outScores[p];
      }
      if (got === k) {
        if (R === first) this.stats.lists++;
        else this.stats.retried++;
        return { ids, scores };
      }
      // Every item of the probed lists was a candidate: more would need more lists.
      if (n < R) break;
    }
    this.stats.exact++;
    return this.exact.search(query, k, filter);
  }

  async save(dir: string): Promise<void> {
    const external = this.external && this.exact.sharesArrays;
    const slots = this.exact.slots;
    // The lists in order, each in whole blocks of 16 slots (lanes past its items are unused).
    let items = 0;
    let slotsOut = 0;
    for (let c = 0; c < this.lists; c++) {
      items += this.len[c];
      slotsOut += roundUp16(this.len[c]);
    }
    const counts = new Int32Array(this.lists);
    const ids = new Int32Array(items);
    const codes = new Uint8Array(slotsOut * this.codeBytes);
    let p = 0;
    let q = 0;
    for (let c = 0; c < this.lists; c++) {
      counts[c] = this.len[c];
      const s0 = this.start[c];
      ids.set(this.slotId.subarray(s0, s0 + this.len[c]), p);
      codes.set(this.codes.subarray(s0 * this.codeBytes, (s0 + roundUp16(this.len[c])) * this.codeBytes), q * this.codeBytes);
      p += this.len[c];
      q += roundUp16(this.len[c]);
    }
    writeMeta(dir, {
      kind: 'ivf', format: FORMAT, dim: this.dim, lists: this.lists, probe: this.probeLists, codeBytes: this.codeBytes, items: this.size, slots,
      vectors: external ? 'external' : 'own', ...(external ? { sourceItems: this.sourceItems } : {}),
    });
    writeArray(dir, 'centroids.f32', this.centroids);
    const quant = new Float32Array(2 * this.dim);
    quant.set(this.lo);
    quant.set(this.step, this.dim);
    writeArray(dir, 'quant.f32', quant);
    writeArray(dir, 'lists.i32', counts);
    writeArray(dir, 'ids.i32', ids);
    writeArray(dir, 'codes.u8', codes);
    await saveExactPart(dir, this.exact, external);
  }

  memoryBytes(): number {
    return this.exact.memoryBytes() + this.codes.byteLength + this.slotBias.byteLength + this.slotId.byteLength + this.centroids.byteLength
      + this.centroidCodes.byteLength + this.centroidBias.byteLength
      + this.listOf.byteLength + this.slotOf.byteLength + 3 * this.start.byteLength;
  }

  /** Item `id`'s row [v, b] into out at `offset`. */
  private static rowInto(exact: ExactIndex, id: number, out: Float32Array, offset: number): void {
    const it = exact.item(id)!;
    out.set(it.vector, offset);
    out[offset + exact.dim] = it.bias;
  }

  /** Lays the lists out afresh with room(count) slots each (empty). */
  private layout(counts: Int32Array, room: (count: number, list: number) => number): void {
    let total = 0;
    for (let c = 0; c < this.lists; c++) {
      this.start[c] = total;
      this.len[c] = 0;
      this.cap[c] = roundUp16(room(counts[c], c));
      total += this.cap[c];
    }
    this.codes = new Uint8Array(total * this.codeBytes);
    this.slotBias = new Float32Array(total);
    this.slotId = new Int32Array(total).fill(-1);
    this.tail = total;
    this.garbage = 0;
    this.ensureItems(this.exact.slots);
  }

  /** Lists read by `load`: counts per list, their ids in list order, their codes in whole blocks. */
  private adoptLists(counts: Int32Array, ids: Int32Array, codes: Uint8Array): void {
    const { biases } = this.exact.arrays();
    let s = 0;
    for (let c = 0; c < this.lists; c++) {
      this.start[c] = s;
      this.len[c] = counts[c];
      this.cap[c] = roundUp16(counts[c]);
      s += this.cap[c];
    }
    this.codes = codes;
    this.slotId = new Int32Array(s).fill(-1);
    this.slotBias = new Float32Array(s);
    this.tail = s;
    this.garbage = 0;
    this.ensureItems(this.exact.slots);
    let from = 0;
    for (let c = 0; c < this.lists; c++) {
      this.slotId.set(ids.subarray(from, from + counts[c]), this.start[c]);
      from += counts[c];
      for (let p = this.start[c]; p < this.start[c] + this.len[c]; p++) {
        const id = this.slotId[p];
        if (!Number.isInteger(id) || id < 0 || id >= this.exact.slots || this.exact.item(id) === undefined) throw new Error(`ivf index: list ${c} holds item ${id}, which the vectors do not`);
        this.slotBias[p] = biases[id];
        this.listOf[id] = c;
        this.slotOf[id] = p;
      }
    }
  }

  private ensureItems(n: number): void {
    if (this.listOf.length >= n) return;
    const size = Math.max(n, Math.ceil(this.listOf.length * 1.5) + 16);
    const listOf = new Int32Array(size).fill(-1);
    listOf.set(this.listOf);
    const slotOf = new Int32Array(size);
    slotOf.set(this.slotOf);
    this.listOf = listOf;
    this.slotOf = slotOf;
  }

  /** Grows the slot arrays to hold `slots`. */
  private ensureSlots(slots: number): void {
    if (this.slotId.length >= slots) return;
    const size = roundUp16(Math.max(slots, Math.ceil(this.slotId.length * 1.5) + 64));
    const codes = new Uint8Array(size * this.codeBytes);
    codes.set(this.codes.subarray(0, this.tail * this.codeBytes));
    const bias = new Float32Array(size);
    bias.set(this.slotBias.subarray(0, this.tail));
    const ids = new Int32Array(size).fill(-1);
    ids.set(this.slotId.subarray(0, this.tail));
    this.codes = codes;
    this.slotBias = bias;
    this.slotId = ids;
  }

  /** Adds item `id` (present in the exact part, in no list) to list `c`. */
  private append(id: number, c: number): void {
    if (this.len[c] === this.cap[c]) this.grow(c);
    const slot = this.start[c] + this.len[c]++;
    this.encodeInto(id, slot);
    this.ensureItems(id + 1);
    this.listOf[id] = c;
    this.slotOf[id] = slot;
  }

  /** Takes item `id` out of its list, if in one (the list's last item fills its slot). */
  private unlink(id: number): void {
    if (id >= this.listOf.length || this.listOf[id] < 0) return;
    const c = this.listOf[id];
    const slot = this.slotOf[id];
    const last = this.start[c] + --this.len[c];
    if (slot !== last) {
      this.copyCode(last, slot);
      this.slotBias[slot] = this.slotBias[last];
      const moved = this.slotId[last];
      this.slotId[slot] = moved;
      this.slotOf[moved] = slot;
    }
    this.slotId[last] = -1;
    this.listOf[id] = -1;
  }

  /** Moves list `c` to the end with twice the room (or compacts every list when holes dominate). */
  private grow(c: number): void {
    const room = Math.max(16, 2 * this.cap[c]);
    if (this.garbage + this.cap[c] > (this.tail + room) / 2) {
      this.compact(c, room);
      return;
    }
    this.ensureSlots(this.tail + room);
    const cb = this.codeBytes;
    const s0 = this.start[c];
    const n = this.len[c];
    this.codes.copyWithin(this.tail * cb, s0 * cb, (s0 + roundUp16(n)) * cb);
    this.slotBias.copyWithin(this.tail, s0, s0 + n);
    this.slotId.copyWithin(this.tail, s0, s0 + n);
    this.slotId.fill(-1, s0, s0 + this.cap[c]);
    for (let p = 0; p < n; p++) this.slotOf[this.slotId[this.tail + p]] = this.tail + p;
    this.garbage += this.cap[c];
    this.start[c] = this.tail;
    this.cap[c] = room;
    this.tail += room;
  }

  /** Lays every list out again in order with 1/8 spare room (list `c` gets at least `room`). */
  private compact(c: number, room: number): void {
    const cb = this.codeBytes;
    const old = { codes: this.codes, bias: this.slotBias, ids: this.slotId, start: this.start.slice(), len: this.len.slice() };
    this.layout(old.len, (n, l) => Math.max(n + (n >> 3) + 4, l === c ? room : 0));
    for (let l = 0; l < this.lists; l++) {
      const s0 = old.start[l];
      const n = old.len[l];
      const d0 = this.start[l];
      this.codes.set(old.codes.subarray(s0 * cb, (s0 + roundUp16(n)) * cb), d0 * cb);
      this.slotBias.set(old.bias.subarray(s0, s0 + n), d0);
      this.slotId.set(old.ids.subarray(s0, s0 + n), d0);
      for (let p = 0; p < n; p++) this.slotOf[old.ids[s0 + p]] = d0 + p;
      this.len[l] = n;
    }
  }

  /** Item `id`'s codes and bias into `slot`. */
  private encodeInto(id: number, slot: number): void {
    const it = this.exact.item(id)!;
    this.encode(it.vector, this.codes, slot);
    this.slotBias[slot] = it.bias;
    this.slotId[slot] = id;
  }

  /** The codes of `v` into slot `slot` of the blocked array `codes` (zeros past dim). */
  private encode(v: Float32Array, codes: Uint8Array, slot: number): void {
    const d = this.dim;
    const base = (slot >> 4) * 16 * this.codeBytes + (slot & 15) * 4;
    for (let j = 0; j < this.codeBytes; j++) {
      let c = 0;
      if (j < d) {
        c = Math.round((v[j] - this.lo[j]) / this.step[j]);
        c = c < 0 ? 0 : c > 255 ? 255 : c;
      }
      codes[base + (j >> 2) * 64 + (j & 3)] = c;
    }
  }

  /** Slot `from`'s code bytes into slot `to`. */
  private copyCode(from: number, to: number): void {
    const codes = this.codes;
    const a = (from >> 4) * 16 * this.codeBytes + (from & 15) * 4;
    const b = (to >> 4) * 16 * this.codeBytes + (to & 15) * 4;
    for (let g = 0; g < this.codeBytes; g += 4) codes.copyWithin(b + g * 16, a + g * 16, a + g * 16 + 4);
  }
}

function roundUp16(n: number): number {
  return (n + 15) & ~15;
}

/**
 * The nearest of `lists` centroids (rows of dA) for each of n rows of X (L2 in [v, b] space:
 * the largest 2⟨x, c⟩ − ‖c‖²), through sgemm and the native top-1 in blocks; ties to the
 * lower list.
 */
function nearest(centroids: Float32Array, lists: number, dA: number, X: Float32Array, n: number, out: Int32Array, norm2?: Float32Array): void {
  const negNorm = new Float32Array(lists);
  for (let c = 0; c < lists; c++) {
    let s = norm2 ? norm2[c] : 0;
    if (!norm2) for (let j = 0; j < dA; j++) s += centroids[c * dA + j] * centroids[c * dA + j];
    negNorm[c] = -s;
  }
  const rows = Math.min(n, BLOCK);
  const G = new Float32Array(rows * lists);
  const best = new Int32Array(rows);
  const bestScore = new Float32Array(rows);
  for (let from = 0; from < n; from += BLOCK) {
    const m = Math.min(BLOCK, n - from);
    for (let r = 0; r < m; r++) G.set(negNorm, r * lists);
    const g = G.subarray(0, m * lists);
    kernels.sgemm(false, true, m, lists, dA, 2, X.subarray(from * dA, (from + m) * dA), centroids, 1, g);
    kernels.topk(m, lists, g, 1, null, null, best.subarray(0, m), bestScore.subarray(0, m));
    // A row whose scores are all NaN (no finite centroid) goes to list 0.
    for (let r = 0; r < m; r++) out[from + r] = best[r] < 0 ? 0 : best[r];
  }
}
