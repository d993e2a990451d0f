/**
 * The item index behind ANN retrieval: maximum-inner-product search with a per-item bias,
 *
 *     score(u, i) = ⟨u, v_i⟩ + b_i,
 *
 * over dense integer item ids (the store's item indices). Three implementations share this
 * interface and one conformance suite (test/index/conformance.ts): an exact scan
 * (src/index/exact.ts), HNSW (src/index/hnsw.ts) and IVF lists of 8-bit codes (src/index/ivf.ts). How the biased MIPS problem becomes a
 * nearest-neighbour problem is in src/index/mips.ts.
 */

/** Which items a search may return. */
export interface SearchFilter {
  /** Items never to return (seen items, explicit exclusions, earlier pages). */
  exclude?: ReadonlySet<number>;
  /** Item-level predicate (category, price, availability...); an item is returned only when it says true. */
  allow?: (item: number) => boolean;
  /**
   * Items returned only where mask[item] === 1 (none beyond its length): availability as a
   * byte per item, which a search checks in one pass over its candidates instead of a call each.
   */
  mask?: Uint8Array;
}

/** Search answer: ids best first (ties by the lower id) and their exact scores ⟨u, v⟩ + b. */
export interface SearchResult {
  ids: Int32Array;
  scores: Float32Array;
}

export type IndexKind = 'exact' | 'hnsw' | 'ivf';

export interface VectorIndex {
  readonly kind: IndexKind;
  /** Dimension of the item vectors (and of queries). */
  readonly dim: number;
  /** Items that a search can return (added, not removed, not marked unavailable). */
  readonly size: number;
  /**
   * Adds items or replaces the vector and bias of items already present (an unavailable or
   * removed item becomes available again). `vectors` is ids.length × dim, row-major.
   */
  upsert(ids: ArrayLike<number>, vectors: Float32Array, biases: Float32Array): void;
  /** Removes items (unknown ids are ignored). */
  remove(ids: ArrayLike<number>): void;
  /** Marks items unavailable (kept, never returned) or available again. Unknown ids are ignored. */
  setAvailable(ids: ArrayLike<number>, available: boolean): void;
  /** Whether an item is present and available. */
  has(id: number): boolean;
  /**
   * The k best items for `query` (length dim) that pass `filter`, best first. Fewer than k only
   * when fewer items pass. Throws RangeError on a query of the wrong length or with non-finite
   * values, and on a k that is not an integer ≥ 0.
   */
  search(query: Float32Array, k: number, filter?: SearchFilter): SearchResult;
  /** Writes the index into `dir` (created when missing); the kind's `load(dir)` reads it back. */
  save(dir: string): Promise<void>;
  /** Approximate bytes held by the index (vectors, graph, scratch). */
  memoryBytes(): number;
}

/** Validates a query and k; shared by the implementations so their errors read alike. */
export function checkQuery(kind: string, dim: number, query: Float32Array, k: number): void {
  if (!(query instanceof Float32Array)) throw new TypeError(`${kind} index: the query must be a Float32Array`);
  if (query.length !== dim) throw new RangeError(`${kind} index: the query has ${query.length} values, the index has dimension ${dim}`);
  for (let j = 0; j < dim; j++) if (!Number.isFinite(query[j])) throw new RangeError(`${kind} index: the query has a non-finite value at position ${j}`);
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`${kind} index: k must be an integer >= 0, got ${k}`);
}

/** Validates the arguments of build/upsert. */
export function checkItems(kind: string, dim: number, ids: ArrayLike<number>, vectors: Float32Array, biases: Float32Array): void {
  if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`${kind} index: dim must be a positive integer, got ${dim}`);
  const n = ids.length;
  if (vectors.length !== n * dim) throw new RangeError(`${kind} index: ${n} ids need ${n}×${dim} = ${n * dim} vector values, got ${vectors.length}`);
  if (biases.length !== n) throw new RangeError(`${kind} index: ${n} ids need ${n} biases, got ${biases.length}`);
  for (let p = 0; p < n; p++) {
    const id = ids[p];
    if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) throw new RangeError(`${kind} index: item ids are integers in 0..2^31-1, got ${id} at position ${p}`);
    if (!Number.isFinite(biases[p])) throw new RangeError(`${kind} index: item ${id} has a non-finite bias`);
  }
  for (let q = 0; q < vectors.length; q++) if (!Number.isFinite(vectors[q])) throw new RangeError(`${kind} index: item ${ids[Math.floor(q / dim)]} has a non-finite vector value`);
}

/** Ids 0..n-1 for a build without ids, after checking that vectors and biases agree on n. */
export function defaultIds(kind: string, dim: number, vectors: Float32Array, biases: Float32Array): Int32Array {
  if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`${kind} index: dim must be a positive integer, got ${dim}`);
  if (vectors.length !== biases.length * dim) {
    throw new RangeError(`${kind} index: ${vectors.length} vector values make ${vectors.length / dim} rows of dimension ${dim}, but there are ${biases.length} biases`);
  }
  return Int32Array.from({ length: biases.length }, (_, i) => i);
}

/** Item state in the implementations' state arrays. */
export const ABSENT = 0;
export const ACTIVE = 1;
export const UNAVAILABLE = 2;
