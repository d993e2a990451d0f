/**
 * Approximate maximum-inner-product search with HNSW graphs (hnswlib, vendored in the native
 * addon: src/index/graph.ts), over items split into norm bands.
 *
 * Reduction (src/index/mips.ts): the bias becomes a coordinate ([u, 1]·[v, b] = ⟨u, v⟩ + b),
 * then norm augmentation turns MIPS into L2 nearest-neighbour search: items
 * [v, b, √(M² − ‖[v, b]‖²)], queries [u, 1, 0].
 *
 * Norm bands ("norm-ranging", Yan et al., NeurIPS 2018): items are sorted by ‖[v, b]‖ and split
 * into `bands` groups of equal size, each with its own graph and its own M (the band's upper
 * norm). A search visits the bands from the largest norms down and stops as soon as the
 * Cauchy–Schwarz bound ‖[u, 1]‖ · M_band cannot beat the k-th score found, so usually only the
 * top bands are searched. Below the top band, a band is first probed with a short search (16
 * candidates at a breadth of 16) and searched fully only when all of them would enter the
 * top k. (Probes of 32 cost ~0.04 ms each against ~0.02 for 16, for the same recall: 0.9532
 * vs 0.9531 @200 on 300 user queries of the 1M-item bench catalogue.) Candidates are scored exactly: the graph search returns ⟨[u, 1, 0], [v, b, s]⟩ = u·v + b
 * computed from its stored rows (the same float32 values as the item matrix, still in cache),
 * not from the augmented distance (float32 distances of the augmented problem lose digits);
 * they are sorted with ties by the lower id, as the exact index does.
 *
 * Serving cost at 1M items (d = 64, LED quota 200, bench/serve.ts data, one real user query,
 * history excluded; Recall@100 0.97, @200 0.95 throughout):
 * - 0.84 ms with hnswlib-node, the probes at the full breadth (ef = 200), JS re-scoring;
 * - 0.44–0.49 ms with hnswlib-node, short probes, re-scoring by one native gather-dot;
 * - 0.29–0.34 ms: hnswlib compiled in Funnel's addon (-O3 -march=native) with batch
 *   prefetching (the unvisited neighbours of an expanded node are collected first and every
 *   cache line of their rows prefetched, then their distances computed: hnswlib prefetches one
 *   line of the next neighbour only, and a row of 66 floats spans five), exact scores from the
 *   graph's rows, results written into typed arrays;
 * - 0.22–0.23 ms now: results taken as internal ids, their labels and rows read directly
 *   (hnswlib's searchKnn returns labels, and reading a result's row back went through the
 *   label → id hash map of 250K entries: a cache miss per result). What remains is the graph
 *   walk itself: the top band at ef = 255 (0.14 ms for real user queries, which fall between
 *   clusters) and ~1.5 short probes of lower bands (~0.02 ms each).
 *   Same graph, same answers: bench/_ann-compare.ts (100K items, M = 16, efC = 100, ef = 200)
 *   0.059 ms/query vs 0.090 for hnswlib-node and 0.102 for usearch, identical recall.
 *   Tried and left out: float16 rows (a custom space with F16C conversion): 14% faster top-band
 *   search, 98.5% of the same results, for a new file format; an over-fetch of want + 8 instead
 *   of want + want/8 + 8 (ef 228 instead of 255): 12% faster, but Recall@200 0.947 (< 0.95).
 *
 * Why bands: with one graph and one M, every low-norm item gets a large extra coordinate, and
 * the top-k of a query (the largest-norm items of its region, scattered around it) are not
 * graph neighbours of each other; the search then needs a very wide beam. Measured on the
 * synthetic clustered catalogue (src/index/synthetic.ts; popular items have longer vectors),
 * 100K items, d = 64, Recall@100 of 50 queries against exact, 2 shared cores:
 *
 * | graph                                 | build  | ef=100        | ef=200        | ef=400        |
 * | ------------------------------------- | ------ | ------------- | ------------- | ------------- |
 * | one graph, M=16, efC=100              | 6.5 s  | 0.14          | 0.23          | 0.55          |
 * | one graph, M=16, efC=400              | 24.8 s | –             | 0.69          | 0.94          |
 * | one graph, M=32, efC=400              | 36.0 s | –             | 0.78          | 0.96          |
 * | 4 norm bands, M=16, efC=100           | 4.8 s  | 0.993 (2.2 bands searched) | 0.998 | 1.000 |
 * | inner-product space, M=32, efC=200    | 18.4 s | 0.75          | 0.78          | 0.84          |
 *
 * At 1M items (d = 64, bench/serve.ts, then 4 bands, M = 16, efConstruction = 100,
 * efSearch = 200): built in 144 s, 426 MB, Recall@100 0.97 and Recall@200 0.95 for encoded
 * user histories.
 *
 * Two bands by default since 2026-11-30 (four before). The table above no longer describes the
 * code and catalogue of today: measured again, one graph reaches the recall of four bands on the
 * same synthetic catalogue (100K items, d = 64, 100 queries, efSearch 200: Recall@100 / @200
 * 0.9924 / 0.9845 with 1 band, the same with 2, 0.9963 / 0.9922 with 4), and the probes of the
 * lower bands are what more bands cost (~0.045 ms each at 1M items: the descent through the
 * band's upper layers dominates a 16-wide search). On the serve bench (bench/_ann-params.ts:
 * 1M items, 500 encoded user histories, history excluded, medians of 7 interleaved rounds),
 * per k = 200 search: 1 band 0.224 ms (no probe), 2 bands 0.239 (0.64 probes), 4 bands 0.268
 * (1.63 probes); per k = 100 search 0.174 / 0.170 / 0.205; Recall@100 0.9691 / 0.9692 /
 * 0.9700, Recall@200 0.9511 / 0.9511 / 0.9549. In the server, side by side (bench/_serve-ab.ts
 * with FUNNEL_PROFILE=1, 3 rounds each), the ANN step took 0.32–0.36 ms with 2 bands against
 * 0.40–0.43 with 4. Two, not one: bands still keep a catalogue whose norms are far more skewed
 * than these from a single graph with one M.
 *
 * - hnswlib over usearch (bench/_ann-compare.ts, same catalogue, M=16, efC=100): the same
 *   graph quality (identical recall single-threaded), a faster single query, a filter callback
 *   (usearch's JS binding has none), a search breadth settable per query (usearch fixes it at
 *   construction), numeric labels instead of BigInt keys; usearch's multi-threaded build gained
 *   nothing on 2 shared cores. hnswlib from the npm package hnswlib-node was used until it
 *   measured 1.5× slower than the same code compiled in Funnel's addon (see above).
 * - L2 augmentation over the inner-product space: hnswlib's neighbour-selection heuristic
 *   assumes a metric, which the inner product is not, and the inner-product graph plateaus
 *   (table above).
 *
 * Filtering: items marked unavailable or removed are marked deleted in their graph (still used
 * for navigation, never returned). Per-request filters (exclude set, allow predicate) are
 * applied to over-fetched candidates (k + |exclude| plus a margin), which is cheap; the graph's
 * filter callback costs one JS call per visited candidate. When too few candidates
 * survive (a selective category or price filter), the bands are searched again with the
 * library's filter callback, and when even that finds fewer than k items, the exact scan over
 * the stored vectors answers (it is exact, so "fewer than k" is then the truth).
 *
 * Items upserted after the build go to the band of their norm; one longer than every built
 * item cannot be augmented exactly and joins a small overflow set that every search scans.
 */
import { availableParallelism } from 'node:os';
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { newGraph, type HnswGraph } from './graph.js';
import { hugePageCopies, populateMappings } from '../math/kernels/native.js';
import { ExactIndex, exactPartOf, loadExactPart, saveExactPart, type ExternalVectors } from './exact.js';
import { readMeta, readUint8, writeArray, writeMeta } from './io.js';
import { augmentItemInto, itemNorm2 } from './mips.js';
import { EMPTY_RESULT, TopK } from './select.js';
import { checkItems, checkQuery, type SearchFilter, type SearchResult, type VectorIndex } from './types.js';

const FORMAT = 2;
const NO_BAND = 255;
/** Bands are not split below this many items each. */
const MIN_BAND_ITEMS = 2000;
/** Candidates (and search breadth) of the first, short search of a lower band. */
const PROBE = 16;
/** Rows handed to a graph per background call while building (a lane's memory: ~17 MB at d = 64). */
const BUILD_CHUNK = 1 << 16;

export interface HnswOptions {
  /** Links per node (hnswlib's M; default 16). */
  m?: number;
  /** Candidate list size while building (default 100). */
  efConstruction?: number;
  /** Candidate list size while searching (default 200; at least the number of items fetched). */
  efSearch?: number;
  /** Norm bands (default 2; fewer for small catalogues, at least 2,000 items each; 1..64). */
  bands?: number;
  /** Seed of the graphs' level assignment (default 100). */
  seed?: number;
  /** Rows handed to a graph per background call of a parallel build (default 65,536). */
  buildChunk?: number;
  /** Called during a build every 10,000 items. */
  onProgress?: (done: number, total: number) => void;
}

export const HNSW_DEFAULTS = { m: 16, efConstruction: 100, efSearch: 200, bands: 2, seed: 100 };

export type { ExternalVectors } from './exact.js';

interface Band {
  graph: HnswGraph;
  /** Items of norm in [lo, hi) belong here (the top band: [lo, hi]); hi is the band's M. */
  lo: number;
  hi: number;
}

export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw' as const;
  readonly dim: number;
  /** Exact vectors, biases and item states: re-scoring, overflow and fallback. */
  private readonly exact: ExactIndex;
  /** Largest norms first. */
  private readonly bands: Band[];
  private readonly opts: { m: number; efConstruction: number; efSearch: number; seed: number };
  /** Band of each id (NO_BAND: not in a graph). */
  private bandOf: Uint8Array;
  /** Ids kept out of the graphs (norm above every band) and scanned exactly. */
  private readonly overflow = new Set<number>();
  /** Whether the exact vectors were adopted from the caller (then saved outside the index). */
  private readonly external: boolean;
  /** Length (items) of the adopted arrays. */
  private sourceItems = 0;
  /** The graphs' query row [u, 1, 0] and an item's augmented row (scratch). */
  private readonly qRow: Float32Array;
  private readonly augRow: Float32Array;
  /** Labels found by a graph search and their exact scores (scratch). */
  private labels = new Int32Array(0);
  private values = new Float32Array(0);
  private readonly heap = new TopK();
  /**
   * How the graphs' elements are ordered: 'bfs' when renumbered for locality at the build
   * (`reorderForLocality`), 'insertion' for indexes built before that (same answers, slower).
   */
  get layout(): 'bfs' | 'insertion' {
    return this.ordered ? 'bfs' : 'insertion';
  }
  private ordered = false;
  /** Searches answered by each path (over-fetch, library filter, exact fallback), full band searches and short probes of lower bands. */
  readonly stats = { overfetch: 0, filtered: 0, exact: 0, bandsSearched: 0, probes: 0 };

  private constructor(exact: ExactIndex, bands: Band[], opts: HnswIndex['opts'], bandOf: Uint8Array, external: boolean) {
    this.exact = exact;
    this.dim = exact.dim;
    this.bands = bands;
    this.opts = opts;
    this.bandOf = bandOf;
    this.external = external;
    this.qRow = new Float32Array(exact.dim + 2);
    this.augRow = new Float32Array(exact.dim + 2);
  }

  /** Builds an index of `vectors` (n × dim) and `biases`, copied; ids are `ids` or 0..n-1. */
  static build(vectors: Float32Array, biases: Float32Array, dim: number, options: HnswOptions = {}, ids?: ArrayLike<number>): HnswIndex {
    return HnswIndex.fromExact(exactPartOf('hnsw', vectors, biases, dim, ids), options, false);
  }

  /**
   * Builds the graphs over existing arrays without copying them (item i = row i; absent where
   * present[i] = 0), e.g. a model's item vectors. `save` then writes the graphs only, and
   * `load` needs the same arrays again (`ExternalVectors`).
   */
  static adopt(vectors: Float32Array, biases: Float32Array, dim: number, present?: Uint8Array, options: HnswOptions = {}): HnswIndex {
    const idx = HnswIndex.fromExact(ExactIndex.adopt(vectors, biases, dim, present), options, true);
    idx.sourceItems = biases.length;
    return idx;
  }

  /**
   * `build` with the bands' graphs built in parallel, one per core at a time (each graph on one
   * thread, its rows in the same order: the same graphs as `build`, byte for byte).
   */
  static async buildAsync(vectors: Float32Array, biases: Float32Array, dim: number, options: HnswOptions = {}, ids?: ArrayLike<number>): Promise<HnswIndex> {
    return HnswIndex.fromExactAsync(exactPartOf('hnsw', vectors, biases, dim, ids), options, false);
  }

  /** `adopt` with the bands' graphs built in parallel (as `buildAsync`). */
  static async adoptAsync(vectors: Float32Array, biases: Float32Array, dim: number, present?: Uint8Array, options: HnswOptions = {}): Promise<HnswIndex> {
    const idx = await HnswIndex.fromExactAsync(ExactIndex.adopt(vectors, biases, dim, present), options, true);
    idx.sourceItems = biases.length;
    return idx;
  }

  private static fromExact(exact: ExactIndex, options: HnswOptions, external: boolean): HnswIndex {
    const { idx, ids, cuts } = HnswIndex.plan(exact, options, external);
    for (let b = 0; b < cuts.length - 1; b++) {
      for (let p = cuts[b]; p < cuts[b + 1]; p++) {
        idx.addToBand(ids[p], b);
        if (options.onProgress && (p + 1) % 10_000 === 0) options.onProgress(p + 1, ids.length);
      }
    }
    return idx.finishBuild(ids, options);
  }

  private static async fromExactAsync(exact: ExactIndex, options: HnswOptions, external: boolean): Promise<HnswIndex> {
    const { idx, ids, cuts } = HnswIndex.plan(exact, options, external);
    const B = cuts.length - 1;
    const d = exact.dim;
    const chunk = options.buildChunk ?? BUILD_CHUNK;
    if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`hnsw index: buildChunk must be an integer >= 1, got ${chunk}`);
    // Rows added so far per band: finished chunks + the running chunk's count.
    const before = new Float64Array(B);
    const progress = Array.from({ length: B }, () => new Int32Array(1));
    const report = () => options.onProgress?.(progress.reduce((a, p, b) => a + before[b] + p[0], 0), ids.length);
    const timer = options.onProgress ? setInterval(report, 250) : undefined;
    try {
      const buildBand = async (b: number) => {
        const band = idx.bands[b];
        // In chunks, so that a lane holds at most BUILD_CHUNK augmented rows at a time.
        for (let from = cuts[b]; from < cuts[b + 1]; from += chunk) {
          const n = Math.min(chunk, cuts[b + 1] - from);
          const rows = new Float32Array(n * (d + 2));
          const labels = new Int32Array(n);
          for (let p = 0; p < n; p++) {
            const id = ids[from + p];
            const it = exact.item(id)!;
            augmentItemInto(it.vector, 0, it.bias, d, band.hi, rows, p * (d + 2));
            labels[p] = id;
          }
          progress[b][0] = 0;
          await band.graph.addPointsAsync(rows, labels, progress[b]);
          before[b] += n;
          progress[b][0] = 0;
          for (let p = 0; p < n; p++) idx.bandOf[labels[p]] = b;
        }
      };
      // One band per core at a time.
      let next = 0;
      const lane = async () => {
        while (next < B) await buildBand(next++);
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(B, availableParallelism())) }, lane));
    } finally {
      if (timer) clearInterval(timer);
    }
    return idx.finishBuild(ids, options);
  }

  /** Items sorted into norm bands and the bands' empty graphs. */
  private static plan(exact: ExactIndex, options: HnswOptions, external: boolean): { idx: HnswIndex; ids: number[]; cuts: number[] } {
    const o = { ...HNSW_DEFAULTS, ...options };
    for (const key of ['m', 'efConstruction', 'efSearch', 'bands'] as const) {
      if (!Number.isInteger(o[key]) || o[key] < 1) throw new RangeError(`hnsw index: ${key} must be an integer >= 1, got ${o[key]}`);
    }
    if (o.bands > 64) throw new RangeError(`hnsw index: bands must be at most 64, got ${o.bands}`);
    const dim = exact.dim;
    // Items by decreasing norm, split into bands of equal size.
    const ids: number[] = [];
    for (let i = 0; i < exact.slots; i++) if (exact.item(i)) ids.push(i);
    const norm = new Float64Array(exact.slots);
    for (const id of ids) {
      const it = exact.item(id)!;
      norm[id] = Math.sqrt(itemNorm2(it.vector, 0, it.bias, dim));
    }
    ids.sort((a, b) => norm[b] - norm[a] || a - b);
    const B = Math.max(1, Math.min(o.bands, Math.floor(ids.length / MIN_BAND_ITEMS)));
    const cuts = Array.from({ length: B + 1 }, (_, b) => Math.round((b * ids.length) / B));
    const bands: Band[] = [];
    for (let b = 0; b < B; b++) {
      const count = cuts[b + 1] - cuts[b];
      const hi = b === 0 ? (ids.length ? norm[ids[0]] : 0) : bands[b - 1].lo;
      const lo = b === B - 1 || count === 0 ? 0 : norm[ids[cuts[b + 1] - 1]];
      const graph = newGraph(dim + 2);
      graph.initIndex(Math.max(16, count), o.m, o.efConstruction, o.seed + b);
      bands.push({ graph, lo, hi });
    }
    const bandOf = new Uint8Array(Math.max(16, exact.slots)).fill(NO_BAND);
    const idx = new HnswIndex(exact, bands, { m: o.m, efConstruction: o.efConstruction, efSearch: o.efSearch, seed: o.seed }, bandOf, external);
    return { idx, ids, cuts };
  }

  /**
   * After the graphs are built: each graph's elements renumbered for locality (a node's
   * neighbours close in memory: the serve bench's k = 200 search ~5% faster, same answers), and
   * items present but unavailable in the source kept out of results.
   */
  private finishBuild(ids: number[], options: HnswOptions): HnswIndex {
    for (const band of this.bands) band.graph.reorderForLocality();
    this.ordered = true;
    for (const id of ids) if (!this.exact.has(id)) this.hide(id);
    options.onProgress?.(ids.length, ids.length);
    return this;
  }

  /**
   * Reads an index written by `save`. An index saved over adopted arrays needs them again in
   * `source` (same length and content as at the build). The graphs are mapped copy-on-write
   * (`map`, default true unless FUNNEL_NO_MMAP=1): see HnswGraph.readIndex.
   */
  static async load(dir: string, source?: ExternalVectors, options: Pick<HnswOptions, 'efSearch'> & { map?: boolean } = {}): Promise<HnswIndex> {
    const meta = readMeta(dir, 'hnsw');
    if (meta.format !== FORMAT) throw new Error(`${dir}: hnsw index format ${String(meta.format)}, this version reads ${FORMAT} (rebuild the index)`);
    const dim = Number(meta.dim);
    const external = meta.vectors === 'external';
    const exact = await loadExactPart(dir, meta, source);
    const specs = meta.bands as { lo: number; hi: number }[];
    const bandOf = new Uint8Array(Math.max(16, exact.slots)).fill(NO_BAND);
    const bands: Band[] = await Promise.all(specs.map(async (s, b) => {
      const path = join(dir, `hnsw-${b}.bin`);
      if (!existsSync(path)) throw new Error(`${path}: missing`);
      const graph = newGraph(dim + 2);
      // Mapped copy-on-write by default: the workers of one server share the graphs' pages;
      // a serving process that shares with no other reads them onto huge pages instead. Read
      // off the main thread: a copy onto huge pages takes ~0.7 s per 200 MB graph here.
      await graph.readIndexAsync(path, options.map ?? process.env.FUNNEL_NO_MMAP !== '1', populateMappings(), hugePageCopies());
      return { graph, lo: s.lo, hi: s.hi };
    }));
    const opts = { m: Number(meta.m), efConstruction: Number(meta.efConstruction), efSearch: options.efSearch ?? Number(meta.efSearch), seed: Number(meta.seed) };
    const idx = new HnswIndex(exact, bands, opts, bandOf, external);
    const current = (meta.bandOf as number[] | undefined) === undefined ? undefined : readUint8(dir, 'band.u8', Number(meta.slots));
    if (current) idx.bandOf.set(current);
    if (external) idx.sourceItems = Number(meta.sourceItems);
    if (meta.layout === 'bfs') idx.ordered = true;
    for (const id of (meta.overflow as number[] | undefined) ?? []) idx.overflow.add(id);
    return idx;
  }

  get size(): number {
    return this.exact.size;
  }

  /** Number of norm bands (graphs). */
  get bandCount(): number {
    return this.bands.length;
  }

  /** The search breadth used (at least the number of candidates fetched). */
  get efSearch(): number {
    return this.opts.efSearch;
  }

  set efSearch(ef: number) {
    if (!Number.isInteger(ef) || ef < 1) throw new RangeError(`hnsw index: efSearch must be an integer >= 1, got ${ef}`);
    this.opts.efSearch = ef;
  }

  has(id: number): boolean {
    return this.exact.has(id);
  }

  upsert(ids: ArrayLike<number>, vectors: Float32Array, biases: Float32Array): void {
    checkItems('hnsw', this.dim, ids, vectors, biases);
    this.exact.upsert(ids, vectors, biases);
    for (let p = 0; p < ids.length; p++) this.place(ids[p]);
  }

  remove(ids: ArrayLike<number>): void {
    const present = Array.from(ids).filter((id) => this.exact.item(id) !== undefined);
    this.exact.remove(present);
    for (const id of present) this.hide(id);
  }

  setAvailable(ids: ArrayLike<number>, available: boolean): void {
    const present = Array.from(ids).filter((id) => this.exact.item(id) !== undefined);
    this.exact.setAvailable(present, available);
    for (const id of present) {
      if (available) this.show(id);
      else this.hide(id);
    }
  }

  search(query: Float32Array, k: number, filter: SearchFilter = {}): SearchResult {
    checkQuery('hnsw', this.dim, query, k);
    const size = this.exact.size;
    if (k === 0 || size === 0) return EMPTY_RESULT;
    const ex = filter.exclude && filter.exclude.size > 0 ? filter.exclude : undefined;
    const allow = filter.allow;
    const mask = filter.mask;
    const want = k + (ex ? ex.size : 0);
    // Asking for a large share of the catalogue: the exact scan is as fast and exact.
    if (want * 4 >= size) {
      this.stats.exact++;
      return this.exact.search(query, k, filter);
    }
    const q = this.queryRow(query);
    let qn = 1;
    for (let j = 0; j < this.dim; j++) qn += query[j] * query[j];
    qn = Math.sqrt(qn);
    const exact = this.exact;
    const heap = this.heap;
    // Over-fetch: the top `fetch` candidates of each band visited, filtered here. The answer is
    // final when the k-th kept score is at least the lowest candidate score of every band
    // that had more items than were fetched (an item not fetched scores no higher than that).
    // Otherwise (a selective filter) fetch 4× more, up to 16×.
    const first = want + (want >> 3) + 8;
    for (let fetch = first; fetch <= 16 * first; fetch *= 4) {
      heap.reset(k);
      let floor = -Infinity;
      for (let b = 0; b < this.bands.length; b++) {
        const band = this.bands[b];
        // No item of this band (or a lower one) can beat the k-th score kept.
        if (qn * band.hi <= heap.worstScore()) break;
        const g = band.graph;
        const count = g.getCurrentCount();
        if (count === 0) continue;
        const f = Math.min(fetch, count);
        // A band below the top one usually adds few items: probe it with a short search first,
        // and search it fully only when every probed item beats the k-th score kept.
        let probed: Set<number> | undefined;
        let low = Infinity;
        if (heap.size >= k && f > PROBE) {
          // The probe's breadth is its size, not efSearch: at ef = 200 the probes of the lower
          // bands cost 40% of a 1M-item search (bench/serve.ts) for the same recall.
          g.setEf(PROBE);
          const n = g.search(q, PROBE, this.labelRoom(PROBE), this.values, null, true);
          this.stats.probes++;
          low = this.offer(this.labels, this.values, n, ex, allow, mask);
          if (low < heap.worstScore()) continue; // items not fetched score <= low
          probed = new Set(this.labels.subarray(0, n));
        }
        g.setEf(Math.max(this.opts.efSearch, f));
        const n = g.search(q, f, this.labelRoom(f), this.values, null, true);
        this.stats.bandsSearched++;
        low = this.offer(this.labels, this.values, n, ex, allow, mask, probed);
        if (f < count && low > floor) floor = low;
      }
      this.scanOverflow(query, heap, ex, allow, mask);
      if (heap.size >= k && heap.worstScore() >= floor) {
        this.stats.overfetch++;
        return heap.drain();
      }
    }
    // Too few survived the filter: let the graph searches skip filtered items themselves.
    heap.reset(k);
    for (let b = 0; b < this.bands.length; b++) {
      const g = this.bands[b].graph;
      if (g.getCurrentCount() === 0) continue;
      const kb = Math.min(k, g.getMaxElements());
      g.setEf(Math.max(this.opts.efSearch, kb));
      const labels = this.labelRoom(kb);
      const n = g.search(q, kb, labels, null, (id: number) => this.bandOf[id] === b && exact.has(id) && !(mask && mask[id] !== 1) && !(ex && ex.has(id)) && (!allow || allow(id)));
      for (let p = 0; p < n; p++) {
        const id = labels[p];
        const s = exact.scoreOf(query, id);
        if (heap.wouldTake(s, id)) heap.push(s, id);
      }
    }
    this.scanOverflow(query, heap, ex, allow, mask);
    if (heap.size >= k) {
      this.stats.filtered++;
      return heap.drain();
    }
    this.stats.exact++;
    return exact.search(query, k, filter);
  }

  async save(dir: string): Promise<void> {
    // Adopted arrays copied by an upsert since: the index now owns its vectors and saves them.
    const external = this.external && this.exact.sharesArrays;
    const slots = this.exact.slots;
    writeMeta(dir, {
      kind: 'hnsw', format: FORMAT, layout: this.layout, dim: this.dim, m: this.opts.m, efConstruction: this.opts.efConstruction, efSearch: this.opts.efSearch, seed: this.opts.seed,
      items: this.size, slots, bands: this.bands.map((b) => ({ lo: b.lo, hi: b.hi, items: b.graph.getCurrentCount() })), bandOf: 'band.u8',
      vectors: external ? 'external' : 'own', ...(external ? { sourceItems: this.sourceItems } : {}), overflow: [...this.overflow],
    });
    // Through a new file and a rename: servers mapping the old file keep reading it intact.
    this.bands.forEach((b, i) => {
      const path = join(dir, `hnsw-${i}.bin`);
      b.graph.writeIndex(`${path}.tmp`);
      renameSync(`${path}.tmp`, path);
    });
    writeArray(dir, 'band.u8', this.bandOf.subarray(0, slots));
    await saveExactPart(dir, this.exact, external);
  }

  memoryBytes(): number {
    // hnswlib, per element: the vector, the level-0 links (2M + 1 ints), label and lock; upper
    // levels hold about 1/M of the elements with M + 1 links each.
    const m = this.opts.m;
    const perElement = (this.dim + 2) * 4 + (2 * m + 1) * 4 + 8 + 8 + 8;
    let bytes = this.exact.memoryBytes() + this.bandOf.byteLength;
    for (const b of this.bands) {
      const n = b.graph.getMaxElements();
      bytes += n * perElement + Math.ceil(n / m) * (m + 1) * 4;
    }
    return bytes;
  }

  /** The label scratch, at least n long. */
  private labelRoom(n: number): Int32Array {
    if (this.labels.length < n) {
      this.labels = new Int32Array(n + 64);
      this.values = new Float32Array(n + 64);
    }
    return this.labels;
  }

  /** The graphs' query row [u, 1, 0] (reused). */
  private queryRow(query: Float32Array): Float32Array {
    const row = this.qRow;
    const d = this.dim;
    for (let j = 0; j < d; j++) row[j] = query[j];
    row[d] = 1;
    row[d + 1] = 0;
    return row;
  }

  /**
   * Offers one band's graph candidates with their exact scores (computed by the graph search
   * from its stored rows [v, b, s]: the same float32 values as the item matrix) to the heap,
   * filters applied, `skip` already offered; returns the lowest score among them (Infinity
   * when none). Items moved to another band or removed since never come back from the graph
   * (its deleted marks).
   */
  private offer(ids: Int32Array, scores: Float32Array, count: number, ex: ReadonlySet<number> | undefined, allow: ((id: number) => boolean) | undefined, mask: Uint8Array | undefined, skip?: Set<number>): number {
    const heap = this.heap;
    if (this.live.length < count) this.live = new Uint8Array(2 * count);
    const live = this.live;
    // A graph search returns only items live in its band: an item removed, hidden or moved to
    // another band is marked deleted in this band's graph (hide, place), and the marks are saved
    // with the graph. So no band or state byte is read here (two cache misses per candidate on
    // catalogue-sized arrays the walk has evicted: the 1M-item k = 200 search 0.287 → 0.274 ms, 3
    // alternating runs, each lower).
    // The mask bytes first, in a loop of independent loads: the CPU overlaps their cache misses,
    // which the loop below, branching on each, would take one after the other (live: 1
    // servable, 0 masked out).
    if (mask) for (let p = 0; p < count; p++) live[p] = mask[ids[p]] === 1 ? 1 : 0;
    let low = Infinity;
    for (let p = 0; p < count; p++) {
      const id = ids[p];
      const s = scores[p];
      // The lowest score fetched bounds the items not fetched, masked or not.
      if (s < low) low = s;
      if ((mask && live[p] === 0) || (skip && skip.has(id))) continue;
      if (!heap.wouldTake(s, id)) continue;
      if ((ex && ex.has(id)) || (allow && !allow(id))) continue;
      heap.push(s, id);
    }
    return low;
  }
  /** Scratch of `offer`: whether each candidate is live in the band searched. */
  private live = new Uint8Array(256);

  private scanOverflow(query: Float32Array, heap: TopK, ex: ReadonlySet<number> | undefined, allow: ((id: number) => boolean) | undefined, mask: Uint8Array | undefined): void {
    for (const id of this.overflow) {
      if (!this.exact.has(id) || (mask && mask[id] !== 1)) continue;
      const s = this.exact.scoreOf(query, id);
      if (!heap.wouldTake(s, id)) continue;
      if ((ex && ex.has(id)) || (allow && !allow(id))) continue;
      heap.push(s, id);
    }
  }

  /** Puts item `id` (present in the exact part) into the band of its norm, or the overflow set. */
  private place(id: number): void {
    const it = this.exact.item(id)!;
    const n = Math.sqrt(itemNorm2(it.vector, 0, it.bias, this.dim));
    let b = this.bands.findIndex((band) => n >= band.lo);
    if (b === 0 && n > this.bands[0].hi) {
      // Longer than every built item: the top band can take it only while it is empty (its M
      // is then raised, with room for more); otherwise it is scanned exactly.
      if (this.bands[0].graph.getCurrentCount() === 0) this.bands[0].hi = n * 2;
      else b = -1;
    }
    const prev = id < this.bandOf.length ? this.bandOf[id] : NO_BAND;
    if (prev !== NO_BAND && prev !== b) this.markDeleted(this.bands[prev].graph, id);
    if (b < 0) {
      this.overflow.add(id);
      if (id < this.bandOf.length) this.bandOf[id] = NO_BAND;
      return;
    }
    this.overflow.delete(id);
    this.addToBand(id, b);
  }

  /** Adds or replaces item `id` in band `b`'s graph. */
  private addToBand(id: number, b: number): void {
    const it = this.exact.item(id)!;
    const band = this.bands[b];
    const d = this.dim;
    augmentItemInto(it.vector, 0, it.bias, d, band.hi, this.augRow, 0);
    const g = band.graph;
    if (g.getCurrentCount() >= g.getMaxElements()) g.resizeIndex(Math.ceil(g.getMaxElements() * 1.5) + 16);
    if (id >= this.bandOf.length) {
      const next = new Uint8Array(Math.max(id + 1, Math.ceil(this.bandOf.length * 1.5))).fill(NO_BAND);
      next.set(this.bandOf);
      this.bandOf = next;
    }
    // Adding an existing label replaces its vector and clears its deleted mark.
    g.addPoint(this.augRow, id);
    this.bandOf[id] = b;
  }

  private hide(id: number): void {
    const b = id < this.bandOf.length ? this.bandOf[id] : NO_BAND;
    if (b !== NO_BAND) this.markDeleted(this.bands[b].graph, id);
  }

  private show(id: number): void {
    const b = id < this.bandOf.length ? this.bandOf[id] : NO_BAND;
    if (b === NO_BAND) return;
    this.bands[b].graph.unmarkDelete(id); // false: not marked
  }

  private markDeleted(g: HnswGraph, id: number): void {
    g.markDelete(id); // false: already marked, or not in this graph
  }
}
