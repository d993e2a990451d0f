/**
 * One HNSW graph: hnswlib 0.8, vendored in the native addon (native/src/hnsw.h) and compiled
 * with its flags, plus batch prefetching in the search. Searches write into typed arrays.
 * Without the addon there are no graphs: `hnswUnavailable()` says why, index kind 'auto' then
 * picks the exact index, and asking for 'hnsw' explicitly fails with that reason.
 */
import { nativeAddon } from '../math/kernels/native.js';

export interface HnswGraph {
  /** A new empty graph (hnswlib's M, efConstruction, level-assignment seed). */
  initIndex(maxElements: number, m: number, efConstruction: number, seed: number): void;
  /**
   * Reads a graph written by writeIndex (hnswlib's format, also hnswlib-node's). With `map`
   * (the default) the bulk of the file (rows and level-0 links) is mapped copy-on-write where
   * the platform can: processes serving the same file share those pages (the file must not be
   * rewritten in place meanwhile: artifacts are written once, in new folders). `populate`: a
   * mapped block gets every page mapped now rather than at its first read. `huge`: the block
   * is read instead into private memory on transparent huge pages (src/math/kernels/native.ts,
   * setHugePageCopies): faster random reads, not shared between processes.
   */
  readIndex(path: string, map?: boolean, populate?: boolean, huge?: boolean): void;
  /**
   * readIndex on a thread of libuv's pool (a server reloading its models keeps answering while a
   * large graph is read onto huge pages); every other call throws until the promise settles.
   */
  readIndexAsync(path: string, map?: boolean, populate?: boolean, huge?: boolean): Promise<void>;
  /** True when the graph's rows are a mapping of its file (see readIndex). */
  isMapped(): boolean;
  /** True when the graph's rows were read into huge-page memory (readIndex's `huge`). */
  isHugeCopy(): boolean;
  writeIndex(path: string): void;
  resizeIndex(maxElements: number): void;
  /** Adds a row (length dim) under `label`; an existing label gets the row and loses its deleted mark. */
  addPoint(row: Float32Array, label: number): void;
  /**
   * Adds rows (labels.length × dim floats) under `labels`, in order, on a worker thread (the
   * same graph as addPoint row by row); `progress[0]` counts the rows added. Every other call
   * throws until the promise settles.
   */
  addPointsAsync(rows: Float32Array, labels: Int32Array, progress?: Int32Array): Promise<void>;
  /** False when the label is not in the graph, or already (un)marked. */
  markDelete(label: number): boolean;
  unmarkDelete(label: number): boolean;
  getCurrentCount(): number;
  getMaxElements(): number;
  /**
   * Renumbers the graph's elements in breadth-first order from its entry point, so that a
   * node's neighbours lie close together in memory (a search reads fewer distinct pages).
   * Labels, links and search answers are unchanged; a mapped graph gets memory of its own.
   */
  reorderForLocality(): void;
  /** Search breadth (the search uses max(ef, k)). */
  setEf(ef: number): void;
  /**
   * The k nearest labels (squared L2, nearest first) into `labels`, and into `values` unless
   * null their squared distances or, with `inner`, the inner products of the query with the
   * stored rows (computed from the rows, not from the distances: full float32 precision); both
   * outputs at least k long. Returns how many were found. `filter` (called per candidate, may
   * be null) keeps labels out of the result while the search still walks through them.
   */
  search(query: Float32Array, k: number, labels: Int32Array, values: Float32Array | null, filter?: ((label: number) => boolean) | null, inner?: boolean): number;
}

/** Why HNSW graphs are unavailable, or null when they are. */
export function hnswUnavailable(): string | null {
  const n = nativeAddon();
  return n.addon ? null : `HNSW graphs need the native addon: ${n.error}`;
}

/** A graph over rows of `dim` floats (uninitialised: initIndex or readIndex next). */
export function newGraph(dim: number): HnswGraph {
  const n = nativeAddon();
  if (!n.addon) throw new Error(`HNSW graphs need the native addon: ${n.error}`);
  return new n.addon.HnswGraph(dim) as HnswGraph;
}
