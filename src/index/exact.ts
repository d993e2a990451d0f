/**
 * Exact maximum-inner-product search: one matrix-vector product over every stored item
 * (kernels.sgemm, the native kernel when available), then a bounded heap over the items that
 * pass the filter. O(items × dim) per query: the reference the HNSW index is measured against,
 * the right choice for small catalogues, and the HNSW index's fallback when a filter leaves it
 * too few candidates.
 *
 * Items live in slots indexed by their id (dense item indices), so the storage is
 * (1 + highest id) × dim floats; ids need not be contiguous.
 */
import { kernels } from '../math/kernels/index.js';
import { join } from 'node:path';
import { readFloat32, readMeta, readUint8, writeArray, writeMeta, type IndexMeta } from './io.js';
import { EMPTY_RESULT, TopK } from './select.js';
import { ABSENT, ACTIVE, UNAVAILABLE, checkItems, defaultIds, checkQuery, type SearchFilter, type SearchResult, type VectorIndex } from './types.js';

const FORMAT = 1;

export class ExactIndex implements VectorIndex {
  readonly kind = 'exact' as const;
  /** Slot rows: capacity × dim. */
  private vectors: Float32Array;
  private biases: Float32Array;
  /** ABSENT, ACTIVE or UNAVAILABLE per slot. */
  private state: Uint8Array;
  /** 1 + the highest slot ever used: the rows a search scores. */
  private hi = 0;
  private active = 0;
  /** Arrays adopted from a caller (e.g. a model's parameters): copied before the first write. */
  private shared: boolean;
  private scratch = new Float32Array(0);
  private readonly heap = new TopK();

  private constructor(readonly dim: number, vectors: Float32Array, biases: Float32Array, state: Uint8Array, shared: boolean) {
    this.vectors = vectors;
    this.biases = biases;
    this.state = state;
    this.shared = shared;
    for (let i = 0; i < state.length; i++) {
      if (state[i] !== ABSENT) this.hi = i + 1;
      if (state[i] === ACTIVE) this.active++;
    }
  }

  /** An empty index of dimension `dim`. */
  static empty(dim: number): ExactIndex {
    if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`exact index: dim must be a positive integer, got ${dim}`);
    return new ExactIndex(dim, new Float32Array(0), new Float32Array(0), new Uint8Array(0), false);
  }

  /**
   * An index of `vectors` (n × dim) and `biases` (n), copied. Item ids are `ids` when given,
   * else 0..n-1.
   */
  static build(vectors: Float32Array, biases: Float32Array, dim: number, ids?: ArrayLike<number>): ExactIndex {
    const idx = ExactIndex.empty(dim);
    idx.upsert(ids ?? defaultIds('exact', dim, vectors, biases), vectors, biases);
    return idx;
  }

  /**
   * An index over existing arrays without copying them (item i = row i): e.g. the item vectors
   * of a loaded model, so serving holds them once. Items with `present[i] === 0` are absent.
   * The arrays must not change while the index uses them; a write through the index (upsert)
   * copies them first.
   */
  static adopt(vectors: Float32Array, biases: Float32Array, dim: number, present?: Uint8Array): ExactIndex {
    const n = biases.length;
    if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`exact index: dim must be a positive integer, got ${dim}`);
    if (vectors.length !== n * dim) throw new RangeError(`exact index: ${n} biases need ${n}×${dim} vector values, got ${vectors.length}`);
    if (present && present.length !== n) throw new RangeError(`exact index: present has ${present.length} entries, expected ${n}`);
    const state = new Uint8Array(n);
    for (let i = 0; i < n; i++) state[i] = !present || present[i] ? ACTIVE : ABSENT;
    return new ExactIndex(dim, vectors, biases, state, true);
  }

  /** Reads an index written by `save`. */
  static async load(dir: string): Promise<ExactIndex> {
    const meta = readMeta(dir, 'exact');
    if (meta.format !== FORMAT) throw new Error(`${dir}: exact index format ${String(meta.format)}, this version reads ${FORMAT}`);
    const dim = Number(meta.dim);
    const slots = Number(meta.slots);
    if (!Number.isInteger(dim) || dim <= 0 || !Number.isInteger(slots) || slots < 0) throw new Error(`${dir}: index.json has a bad dim or slots`);
    return new ExactIndex(dim, readFloat32(dir, 'vectors.f32', slots * dim), readFloat32(dir, 'biases.f32', slots), readUint8(dir, 'state.u8', slots), false);
  }

  get size(): number {
    return this.active;
  }

  /** 1 + the highest id ever stored (the rows a search scans). */
  get slots(): number {
    return this.hi;
  }

  /** Whether the index still reads the arrays given to `adopt` (no write has copied them). */
  get sharesArrays(): boolean {
    return this.shared;
  }

  /**
   * The slot arrays (rows of dim floats and biases, by id): views for a native kernel that
   * reads rows by id; valid until the next upsert, which may reallocate them. Do not modify.
   */
  arrays(): { vectors: Float32Array; biases: Float32Array } {
    return { vectors: this.vectors, biases: this.biases };
  }

  /** Per-slot state (ABSENT, ACTIVE, UNAVAILABLE); a view, do not modify. */
  states(): Uint8Array {
    return this.state.subarray(0, this.hi);
  }

  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.hi && this.state[id] === ACTIVE;
  }

  /** The stored vector (a view, do not modify) and bias of an item present (available or not). */
  item(id: number): { vector: Float32Array; bias: number } | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.hi || this.state[id] === ABSENT) return undefined;
    return { vector: this.vectors.subarray(id * this.dim, (id + 1) * this.dim), bias: this.biases[id] };
  }

  /** Exact score ⟨query, v_id⟩ + b_id of a present item (no checks: internal fast path). */
  scoreOf(query: Float32Array, id: number): number {
    const d = this.dim;
    const v = this.vectors;
    const o = id * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += query[j] * v[o + j];
    return s + this.biases[id];
  }

  upsert(ids: ArrayLike<number>, vectors: Float32Array, biases: Float32Array): void {
    checkItems('exact', this.dim, ids, vectors, biases);
    let maxId = -1;
    for (let p = 0; p < ids.length; p++) if (ids[p] > maxId) maxId = ids[p];
    this.ensure(maxId + 1);
    const d = this.dim;
    for (let p = 0; p < ids.length; p++) {
      const id = ids[p];
      this.vectors.set(vectors.subarray(p * d, (p + 1) * d), id * d);
      this.biases[id] = biases[p];
      if (this.state[id] !== ACTIVE) this.active++;
      this.state[id] = ACTIVE;
      if (id >= this.hi) this.hi = id + 1;
    }
  }

  remove(ids: ArrayLike<number>): void {
    for (let p = 0; p < ids.length; p++) {
      const id = ids[p];
      if (!Number.isInteger(id) || id < 0 || id >= this.hi || this.state[id] === ABSENT) continue;
      if (this.state[id] === ACTIVE) this.active--;
      this.state[id] = ABSENT;
    }
  }

  setAvailable(ids: ArrayLike<number>, available: boolean): void {
    for (let p = 0; p < ids.length; p++) {
      const id = ids[p];
      if (!Number.isInteger(id) || id < 0 || id >= this.hi || this.state[id] === ABSENT) continue;
      if (available && this.state[id] === UNAVAILABLE) {
        this.state[id] = ACTIVE;
        this.active++;
      } else if (!available && this.state[id] === ACTIVE) {
        this.state[id] = UNAVAILABLE;
        this.active--;
      }
    }
  }

  search(query: Float32Array, k: number, filter: SearchFilter = {}): SearchResult {
    checkQuery('exact', this.dim, query, k);
    if (k === 0 || this.active === 0) return EMPTY_RESULT;
    const n = this.hi;
    if (this.scratch.length < n) this.scratch = new Float32Array(Math.max(n, this.scratch.length * 2));
    const s = this.scratch;
    kernels.sgemm(false, true, 1, n, this.dim, 1, query, this.vectors, 0, s);
    const { exclude, allow, mask } = filter;
    const ex = exclude && exclude.size > 0 ? exclude : undefined;
    const heap = this.heap.reset(k);
    const state = this.state;
    const b = this.biases;
    for (let i = 0; i < n; i++) {
      if (state[i] !== ACTIVE) continue;
      const v = s[i] + b[i];
      if (!heap.wouldTake(v, i)) continue;
      if ((mask && mask[i] !== 1) || (ex && ex.has(i)) || (allow && !allow(i))) continue;
      heap.push(v, i);
    }
    return heap.drain();
  }

  async save(dir: string): Promise<void> {
    const slots = this.hi;
    writeMeta(dir, { kind: 'exact', format: FORMAT, dim: this.dim, slots, items: this.active });
    writeArray(dir, 'vectors.f32', this.vectors.subarray(0, slots * this.dim));
    writeArray(dir, 'biases.f32', this.biases.subarray(0, slots));
    writeArray(dir, 'state.u8', this.state.subarray(0, slots));
  }

  memoryBytes(): number {
    return (this.shared ? 0 : this.vectors.byteLength + this.biases.byteLength) + this.state.byteLength + this.scratch.byteLength;
  }

  /** Grows the slot arrays to hold `slots` items (and stops sharing adopted arrays). */
  private ensure(slots: number): void {
    if (slots <= this.state.length && !this.shared) return;
    const cap = slots <= this.state.length ? this.state.length : Math.max(slots, Math.ceil(this.state.length * 1.5));
    const v = new Float32Array(cap * this.dim);
    v.set(this.vectors.subarray(0, Math.min(this.vectors.length, cap * this.dim)));
    const b = new Float32Array(cap);
    b.set(this.biases.subarray(0, Math.min(this.biases.length, cap)));
    const st = new Uint8Array(cap);
    st.set(this.state.subarray(0, Math.min(this.state.length, cap)));
    this.vectors = v;
    this.biases = b;
    this.state = st;
    this.shared = false;
  }
}

/** Where a loaded approximate index takes its exact vectors from when they were saved outside it. */
export interface ExternalVectors {
  vectors: Float32Array;
  biases: Float32Array;
  /** present[i] = 0: item i is not in the index. */
  present?: Uint8Array;
}

/**
 * The exact part of an approximate index (HNSW, IVF) built over items given (copied): ids are
 * `ids` or 0..n-1; errors name the index `kind`.
 */
export function exactPartOf(kind: string, vectors: Float32Array, biases: Float32Array, dim: number, ids?: ArrayLike<number>): ExactIndex {
  const all = ids ?? defaultIds(kind, dim, vectors, biases);
  checkItems(kind, dim, all, vectors, biases);
  const exact = ExactIndex.empty(dim);
  exact.upsert(all, vectors, biases);
  return exact;
}

/**
 * The exact part of a saved approximate index: its own files (`exact/`), or, when the index was
 * saved over adopted arrays (`vectors: 'external'`), those arrays again from `source` with the
 * item states saved beside (`state.u8`: items removed or hidden after the build).
 */
export async function loadExactPart(dir: string, meta: IndexMeta, source?: ExternalVectors): Promise<ExactIndex> {
  const dim = Number(meta.dim);
  let exact: ExactIndex;
  if (meta.vectors === 'external') {
    if (!source) throw new Error(`${dir}: this index was saved without its vectors; load it with the model's vectors and biases`);
    if (source.biases.length !== Number(meta.sourceItems)) throw new Error(`${dir}: the index was built over ${String(meta.sourceItems)} items, the vectors given have ${source.biases.length}`);
    exact = ExactIndex.adopt(source.vectors, source.biases, dim, source.present);
    const state = readUint8(dir, 'state.u8', Number(meta.slots));
    const gone: number[] = [];
    const hidden: number[] = [];
    for (let i = 0; i < state.length; i++) {
      if (state[i] === ABSENT) gone.push(i);
      else if (state[i] === UNAVAILABLE) hidden.push(i);
    }
    exact.remove(gone);
    exact.setAvailable(hidden, false);
  } else exact = await ExactIndex.load(join(dir, 'exact'));
  if (exact.dim !== dim) throw new Error(`${dir}: index dimension ${dim}, vectors of dimension ${exact.dim}`);
  return exact;
}

/** Saves the exact part as `loadExactPart` reads it (external: the item states only). */
export async function saveExactPart(dir: string, exact: ExactIndex, external: boolean): Promise<void> {
  if (!external) await exact.save(join(dir, 'exact'));
  else writeArray(dir, 'state.u8', exact.states());
}
