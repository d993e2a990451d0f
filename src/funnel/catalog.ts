/**
 * Columnar per-item metadata for serving (re-ranking rules, filters): one entry per dense item
 * index, in typed arrays. Built from the store (`ColumnarCatalog.fromStore`) or from item
 * objects (`ColumnarCatalog.fromItems`), immutable once built (rebuild and swap to refresh).
 *
 * Columns
 *  - builtins: `available` (Uint8Array, 1 = recommendable), `createdAt` (Float64Array, NaN when
 *    unknown), `price` (Float32Array, NaN when unknown), `categories` and `tags` (categorical);
 *  - attributes: every `item.attributes` key (or the ones asked for). An attribute whose values
 *    are all finite numbers becomes a numeric column (NaN when missing); otherwise a categorical
 *    one (strings, booleans and numbers as strings; arrays give several values).
 * Categorical columns are multi-valued, in CSR form: the values of item i are the codes
 * codes[offsets[i] .. offsets[i+1]) into `dictionary`, interned in first-seen order.
 * Built-in names win over attributes of the same name.
 */
import type { Item } from '../data/model.js';
import type { Store, StoredItem } from '../store/types.js';

export interface CategoricalColumn {
  readonly kind: 'categorical';
  readonly name: string;
  /** size + 1 entries. */
  readonly offsets: Int32Array;
  readonly codes: Int32Array;
  readonly dictionary: readonly string[];
  /** Code of a value, -1 when no item has it. */
  code(value: string): number;
}

export interface NumericColumn {
  readonly kind: 'numeric';
  readonly name: string;
  /** One value per item, NaN when missing. */
  readonly values: Float32Array | Float64Array;
}

export type CatalogColumn = CategoricalColumn | NumericColumn;

export interface ItemEmbeddings {
  dim: number;
  /** size × dim, row-major by item index; an all-zero row means "no embedding". */
  vectors: Float32Array;
}

export interface ItemCatalog {
  /** Item indices covered: 0 .. size-1. Indices beyond are unknown items (no metadata). */
  readonly size: number;
  readonly available: Uint8Array;
  readonly createdAt: Float64Array;
  readonly price: Float32Array;
  readonly categories: CategoricalColumn;
  readonly embeddings?: ItemEmbeddings;
  /** A column by name ('categories', 'tags', 'price', 'createdAt', 'available', or an attribute). */
  column(name: string): CatalogColumn | undefined;
  columnNames(): string[];
  /** Item id by index ('' when unknown). */
  itemId(item: number): string;
  /** Index of an item id, -1 when unknown. */
  itemIndex(id: string): number;
}

export interface CatalogOptions {
  /** Attribute columns to build (default: every attribute found). */
  attributes?: string[];
  embeddings?: ItemEmbeddings;
}

class Categorical implements CategoricalColumn {
  readonly kind = 'categorical';
  private readonly index: Map<string, number>;
  constructor(
    readonly name: string,
    readonly offsets: Int32Array,
    readonly codes: Int32Array,
    readonly dictionary: readonly string[],
  ) {
    this.index = new Map(dictionary.map((v, i) => [v, i]));
  }

  code(value: string): number {
    return this.index.get(value) ?? -1;
  }
}

/** Accumulates a categorical column item by item (items in index order or not). */
class CategoricalBuilder {
  private readonly values: (number[] | undefined)[];
  private readonly dict: string[] = [];
  private readonly index = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly size: number,
  ) {
    this.values = new Array(size);
  }

  add(item: number, raw: unknown): void {
    const list = Array.isArray(raw) ? raw : [raw];
    for (const v of list) {
      let s: string;
      if (typeof v === 'string') s = v;
      else if (typeof v === 'number' && Number.isFinite(v)) s = String(v);
      else if (typeof v === 'boolean') s = String(v);
      else continue;
      if (s === '') continue;
      let c = this.index.get(s);
      if (c === undefined) {
        c = this.dict.length;
        this.dict.push(s);
        this.index.set(s, c);
      }
      const cur = (this.values[item] ??= []);
      if (!cur.includes(c)) cur.push(c);
    }
  }

  build(): Categorical {
    const offsets = new Int32Array(this.size + 1);
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      offsets[i] = n;
      n += this.values[i]?.length ?? 0;
    }
    offsets[this.size] = n;
    const codes = new Int32Array(n);
    for (let i = 0; i < this.size; i++) {
      const v = this.values[i];
      if (v) codes.set(v, offsets[i]);
    }
    return new Categorical(this.name, offsets, codes, this.dict);
  }
}

const BUILTINS = new Set(['categories', 'tags', 'price', 'createdAt', 'available']);

export class ColumnarCatalog implements ItemCatalog {
  readonly categories: CategoricalColumn;
  private readonly columns: Map<string, CatalogColumn>;
  private readonly ids: string[];
  private idIndex: Map<string, number> | undefined;

  private constructor(
    readonly size: number,
    readonly available: Uint8Array,
    readonly createdAt: Float64Array,
    readonly price: Float32Array,
    columns: Map<string, CatalogColumn>,
    ids: string[],
    readonly embeddings?: ItemEmbeddings,
  ) {
    this.columns = columns;
    this.categories = columns.get('categories') as CategoricalColumn;
    this.ids = ids;
    if (embeddings) {
      if (!Number.isInteger(embeddings.dim) || embeddings.dim < 1) throw new Error(`catalog: embeddings.dim must be a positive integer, got ${embeddings.dim}`);
      if (embeddings.vectors.length !== size * embeddings.dim) {
        throw new Error(`catalog: embeddings hold ${embeddings.vectors.length} floats, expected size × dim = ${size} × ${embeddings.dim}`);
      }
    }
  }

  /**
   * From item objects. An item's index is its `idx` when it has one (stored items), else its
   * position in the array; `size` defaults to the largest index + 1. Indices without an item
   * are unknown: unavailable, no metadata.
   */
  static fromItems(items: (Item & { idx?: number })[], opts: CatalogOptions & { size?: number } = {}): ColumnarCatalog {
    let size = opts.size ?? 0;
    const index = (it: Item & { idx?: number }, pos: number) => it.idx ?? pos;
    items.forEach((it, pos) => {
      const i = index(it, pos);
      if (!Number.isInteger(i) || i < 0) throw new Error(`catalog: item '${it.id}' has an invalid index ${i}`);
      if (opts.size === undefined) size = Math.max(size, i + 1);
      else if (i >= opts.size) throw new Error(`catalog: item '${it.id}' has index ${i} >= size ${opts.size}`);
    });
    const b = new Builder(size, opts.attributes);
    items.forEach((it, pos) => b.add(index(it, pos), it));
    return b.build(opts.embeddings);
  }

  /** From a store: every live item (deleted ones are unknown: unavailable, no metadata). */
  static async fromStore(store: Store, opts: CatalogOptions = {}): Promise<ColumnarCatalog> {
    const ids = await store.itemIds();
    const b = new Builder(ids.length, opts.attributes);
    // Small batches with the event loop free between them: a server rebuilding its snapshot
    // (seconds for a million items) keeps answering meanwhile instead of stalling for the
    // whole read (the async iteration alone only yields to microtasks).
    for await (const batch of store.scanItems(2000)) {
      for (const it of batch as StoredItem[]) b.add(it.idx, it);
      await new Promise<void>((r) => setImmediate(r)); // ~7 ms of work per batch
    }
    return b.build(opts.embeddings);
  }

  /** The same catalog with item embeddings (for MMR). */
  withEmbeddings(embeddings: ItemEmbeddings): ColumnarCatalog {
    return new ColumnarCatalog(this.size, this.available, this.createdAt, this.price, this.columns, this.ids, embeddings);
  }

  column(name: string): CatalogColumn | undefined {
    return this.columns.get(name);
  }

  columnNames(): string[] {
    return [...this.columns.keys()];
  }

  itemId(item: number): string {
    return this.ids[item] ?? '';
  }

  itemIndex(id: string): number {
    if (!this.idIndex) {
      this.idIndex = new Map();
      this.ids.forEach((s, i) => {
        if (s !== '') this.idIndex!.set(s, i);
      });
    }
    return this.idIndex.get(id) ?? -1;
  }

  /** @internal */
  static make(
    size: number,
    available: Uint8Array,
    createdAt: Float64Array,
    price: Float32Array,
    columns: Map<string, CatalogColumn>,
    ids: string[],
    embeddings?: ItemEmbeddings,
  ): ColumnarCatalog {
    return new ColumnarCatalog(size, available, createdAt, price, columns, ids, embeddings);
  }
}

class Builder {
  private readonly available: Uint8Array;
  private readonly createdAt: Float64Array;
  private readonly price: Float32Array;
  private readonly ids: string[];
  private readonly cats: CategoricalBuilder;
  private readonly tags: CategoricalBuilder;
  /** attribute → raw values by item. */
  private readonly attrs = new Map<string, Map<number, unknown>>();

  constructor(
    readonly size: number,
    private readonly only: string[] | undefined,
  ) {
    this.available = new Uint8Array(size);
    this.createdAt = new Float64Array(size).fill(NaN);
    this.price = new Float32Array(size).fill(NaN);
    this.ids = new Array<string>(size).fill('');
    this.cats = new CategoricalBuilder('categories', size);
    this.tags = new CategoricalBuilder('tags', size);
    for (const a of only ?? []) this.attrs.set(a, new Map());
  }

  add(i: number, it: Item): void {
    if (i >= this.size) throw new Error(`catalog: item '${it.id}' has index ${i} >= size ${this.size}`);
    this.ids[i] = it.id;
    this.available[i] = it.available === false ? 0 : 1;
    if (typeof it.createdAt === 'number' && Number.isFinite(it.createdAt)) this.createdAt[i] = it.createdAt;
    if (typeof it.price === 'number' && Number.isFinite(it.price)) this.price[i] = it.price;
    if (it.categories) this.cats.add(i, it.categories);
    if (it.tags) this.tags.add(i, it.tags);
    if (it.attributes) {
      for (const [k, v] of Object.entries(it.attributes)) {
        if (v === undefined || v === null || BUILTINS.has(k)) continue;
        let m = this.attrs.get(k);
        if (!m) {
          if (this.only) continue;
          m = new Map();
          this.attrs.set(k, m);
        }
        m.set(i, v);
      }
    }
  }

  build(embeddings?: ItemEmbeddings): ColumnarCatalog {
    const columns = new Map<string, CatalogColumn>();
    columns.set('categories', this.cats.build());
    columns.set('tags', this.tags.build());
    columns.set('price', { kind: 'numeric', name: 'price', values: this.price });
    columns.set('createdAt', { kind: 'numeric', name: 'createdAt', values: this.createdAt });
    columns.set('available', { kind: 'numeric', name: 'available', values: Float32Array.from(this.available) });
    for (const [name, values] of this.attrs) {
      let numeric = values.size > 0;
      for (const v of values.values()) {
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          numeric = false;
          break;
        }
      }
      if (numeric) {
        const col = new Float64Array(this.size).fill(NaN);
        for (const [i, v] of values) col[i] = v as number;
        columns.set(name, { kind: 'numeric', name, values: col });
      } else {
        const cb = new CategoricalBuilder(name, this.size);
        for (const [i, v] of values) cb.add(i, v);
        columns.set(name, cb.build());
      }
    }
    return ColumnarCatalog.make(this.size, this.available, this.createdAt, this.price, columns, this.ids, embeddings);
  }
}

/** Values (codes) of item i in a categorical column; empty for unknown items. */
export function valuesOf(col: CategoricalColumn, item: number): Int32Array {
  if (item < 0 || item + 1 >= col.offsets.length) return col.codes.subarray(0, 0);
  return col.codes.subarray(col.offsets[item], col.offsets[item + 1]);
}
