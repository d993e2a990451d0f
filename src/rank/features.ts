/**
 * The ranking features: ONE definition used to build training samples (samples.ts) and to score
 * candidates at serving (the funnel's `RankerScorer`), so there is no train/serve skew: both go
 * through `FeatureExtractor.fetch` (profile reads), `extractRaw` (raw values and hashed
 * categorical entries) and `encodeRaw` (normalisation and expansion into a sparse vector).
 *
 * ## What a candidate's vector holds
 *
 * Request part (computed once per request, shared by every candidate):
 *  - categorical (hashed): hour of day, weekday (UTC + `utcOffsetMinutes`), device, scene, the user;
 *  - continuous: user activity levels, `userCounts` over `activity` windows/types.
 * Candidate part:
 *  - categorical (hashed): the item, its `itemFields` values (categories...), the display position
 *    (logged position at training, `servePosition` at serving), the set of generators that
 *    proposed it, and crosses request-side × item-side (`crosses`, e.g. scene × category,
 *    user × category);
 *  - continuous: each configured generator's score and rank (missing when it did not propose the
 *    item) and the number of generators; windowed item popularity (`popularity`, optionally as a
 *    ratio such as clicks per impression); the user's affinity to the item's categories over
 *    `affinity.windowsMs` (the largest over the item's values) and its share of the user's total;
 *    seconds since the user last touched the item and any of its categories (from the profile's
 *    recent buffer, `touchTypes`); price, price relative to the median of its category, item age
 *    (whole hours).
 *
 * Continuous values are normalised by their training CDF (normalize.ts) and expanded into x̃, x̃²
 * and √x̃ (YouTube DNN) at fixed indices; a missing value sets its own indicator instead.
 * Categorical values are hashed (hash.ts) into 2^bits buckets after them. Index layout, with C
 * continuous features and w = 3 (or 1 without `expand`): value t of feature j at w·j + t, its
 * missing indicator at w·C + j, hashed entries in [(w+1)·C, (w+1)·C + 2^bits) = [.., dim). Every entry carries a field
 * id: j for continuous feature j, then one id per categorical template (`fieldNames`).
 *
 * ## Time semantics (what "features as they were at impression time" means)
 *
 * User-side features read the profile at the request time `now`: every event before the request
 * counts (samples.ts replays events in time order and computes a request's features before
 * applying any event at or after its timestamp). Item popularity counts complete buckets only:
 * the window ends at the start of the bucket holding `now` (of the level that answers the
 * window), so its value depends only on events before that boundary; it is cached per bucket
 * (recomputed with `topItems` when the bucket changes, e.g. once a minute for a 1 h window), so
 * the per-candidate cost is one array read.
 *
 * ## Speed
 *
 * Item attributes are hashed once when the space is built (`prehash`, per catalog); per request
 * the strings (scene, device) are hashed once; per candidate only integer mixes and array reads
 * run, into reused buffers (no allocation). A batch returned by `encode` is valid until the next
 * call on the same extractor. Rankers with an additive logit (LR, FM) are served without the
 * vectors: rank/fused.ts sums the same entries from per-item and per-request partial sums,
 * through this extractor's request part and scratch (`requestPart`, `emitShared`, `scatterUser`).
 */
import type { CategoricalColumn, ItemCatalog } from '../funnel/catalog.js';
import type { Provenance } from '../funnel/types.js';
import type { ProfileStore, RecentItems } from '../profiles/types.js';
import { DAY_MS, HOUR_MS } from '../profiles/window.js';
import { bucketOf, hashCross, hashInt, hashStr } from './hash.js';
import { QuantileNormalizer, type NormalizerJSON } from './normalize.js';
import type { FeatureBatch, SparseRows, SparseVector } from './types.js';

type Awaitable<T> = T | Promise<T>;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/** Windowed item popularity: events of `type` in the window, or per event of type `per` (a/(b+1)). */
export interface PopularitySpec {
  type: string;
  windowMs: number;
  per?: string;
}

/** A user activity level: the user's events (of `type`, default every type) in the window. */
export interface ActivitySpec {
  type?: string;
  windowMs: number;
}

/** User × item-attribute affinity from the profile's weighted key counts. */
export interface AffinitySpec {
  /** Catalog categorical column whose values are the profile keys (default 'categories'). */
  field: string;
  /** Profile key prefix of that column's values (default 'cat:', as profiles/rebuild.ts writes). */
  prefix: string;
  /** Windows, ms (default 1 day and 30 days). */
  windowsMs: number[];
  /** Event type weights (types absent do not count). */
  weights: Record<string, number>;
}

/** Request-side names a cross may use. */
export const REQUEST_SIDES = ['user', 'scene', 'device', 'hour', 'weekday'] as const;
export type RequestSide = (typeof REQUEST_SIDES)[number];

export interface FeatureConfig {
  /** The hashed part of the space has 2^bits buckets (default 18). */
  bits: number;
  /** Generator names, in slot order: each gets a score and a rank feature (at most 16). */
  generators: string[];
  /** Catalog columns hashed as item features (default ['categories']). */
  itemFields: string[];
  /** Hash the item itself (default true). */
  itemId: boolean;
  /** Hash the user itself (default true). */
  userId: boolean;
  affinity: AffinitySpec;
  popularity: PopularitySpec[];
  activity: ActivitySpec[];
  /** Event types that count as touching an item (for the "time since" features). */
  touchTypes: string[];
  /** Recent events read per request for the "time since" features (bounded by the profile's buffer). */
  recentN: number;
  /** Crosses [request side, item side]; the item side is 'item' or one of `itemFields`. */
  crosses: [string, string][];
  /** Position used at serving, where the display position is not known yet (default 0). */
  servePosition: number;
  /** Offset of local time from UTC for hour/weekday, minutes (default 0). */
  utcOffsetMinutes: number;
  /** Expand each continuous value into x̃, x̃², √x̃ (default true) or keep x̃ only. */
  expand: boolean;
}

export const DEFAULT_FEATURES: FeatureConfig = {
  bits: 18,
  generators: [],
  itemFields: ['categories'],
  itemId: true,
  userId: true,
  affinity: { field: 'categories', prefix: 'cat:', windowsMs: [DAY_MS, 30 * DAY_MS], weights: { view: 1, click: 2, add_to_cart: 4, purchase: 8, like: 4, rating: 2 } },
  popularity: [
    { type: 'click', windowMs: HOUR_MS },
    { type: 'click', windowMs: DAY_MS },
    { type: 'click', windowMs: 7 * DAY_MS },
    { type: 'impression', windowMs: 7 * DAY_MS },
    { type: 'click', windowMs: 7 * DAY_MS, per: 'impression' },
    { type: 'purchase', windowMs: 7 * DAY_MS },
  ],
  activity: [
    { windowMs: HOUR_MS },
    { windowMs: DAY_MS },
    { windowMs: 30 * DAY_MS },
    { type: 'click', windowMs: 30 * DAY_MS },
    { type: 'purchase', windowMs: 30 * DAY_MS },
  ],
  touchTypes: ['view', 'click', 'add_to_cart', 'purchase', 'like', 'rating'],
  recentN: 200,
  crosses: [
    ['scene', 'categories'],
    ['device', 'categories'],
    ['hour', 'categories'],
    ['user', 'categories'],
  ],
  servePosition: 0,
  utcOffsetMinutes: 0,
  expand: true,
};

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Fills defaults and validates; throws a RangeError naming the offending setting. */
export function resolveFeatureConfig(input: Partial<FeatureConfig> = {}): FeatureConfig {
  if (!isObj(input)) throw new RangeError('features: the configuration must be an object');
  for (const k of Object.keys(input)) if (!(k in DEFAULT_FEATURES)) throw new RangeError(`features.${k}: unknown setting`);
  const c: FeatureConfig = structuredClone({ ...DEFAULT_FEATURES, ...input });
  if (input.affinity) c.affinity = { ...structuredClone(DEFAULT_FEATURES.affinity), ...input.affinity };
  if (!Number.isInteger(c.bits) || c.bits < 8 || c.bits > 26) throw new RangeError(`features.bits must be an integer in [8, 26], got ${c.bits}`);
  if (!Array.isArray(c.generators) || c.generators.some((g) => typeof g !== 'string' || g === '')) throw new RangeError('features.generators must be an array of generator names');
  if (new Set(c.generators).size !== c.generators.length) throw new RangeError('features.generators: names must be distinct');
  if (c.generators.length > 16) throw new RangeError(`features.generators: at most 16, got ${c.generators.length}`);
  if (!Array.isArray(c.itemFields) || c.itemFields.some((f) => typeof f !== 'string' || f === '')) throw new RangeError('features.itemFields must be an array of catalog column names');
  const win = (w: unknown, where: string) => {
    if (typeof w !== 'number' || !(w > 0) || !Number.isFinite(w)) throw new RangeError(`${where} must be a positive number of ms, got ${String(w)}`);
  };
  c.popularity.forEach((p, i) => {
    if (!isObj(p) || typeof p.type !== 'string' || p.type === '') throw new RangeError(`features.popularity[${i}].type must be an event type name`);
    win(p.windowMs, `features.popularity[${i}].windowMs`);
    if (p.per !== undefined && (typeof p.per !== 'string' || p.per === '')) throw new RangeError(`features.popularity[${i}].per must be an event type name`);
  });
  c.activity.forEach((a, i) => {
    if (!isObj(a) || (a.type !== undefined && (typeof a.type !== 'string' || a.type === ''))) throw new RangeError(`features.activity[${i}].type must be an event type name or absent`);
    win(a.windowMs, `features.activity[${i}].windowMs`);
  });
  if (typeof c.affinity.field !== 'string' || typeof c.affinity.prefix !== 'string') throw new RangeError('features.affinity.field and .prefix must be strings');
  if (!Array.isArray(c.affinity.windowsMs)) throw new RangeError('features.affinity.windowsMs must be an array');
  c.affinity.windowsMs.forEach((w, i) => win(w, `features.affinity.windowsMs[${i}]`));
  if (!isObj(c.affinity.weights)) throw new RangeError('features.affinity.weights must be an object of type → weight');
  for (const [t, w] of Object.entries(c.affinity.weights)) if (typeof w !== 'number' || !Number.isFinite(w)) throw new RangeError(`features.affinity.weights.${t} must be a finite number`);
  if (!Array.isArray(c.touchTypes) || c.touchTypes.some((t) => typeof t !== 'string')) throw new RangeError('features.touchTypes must be an array of event type names');
  if (!Number.isInteger(c.recentN) || c.recentN < 0) throw new RangeError(`features.recentN must be an integer >= 0, got ${c.recentN}`);
  if (!Number.isInteger(c.servePosition) || c.servePosition < 0) throw new RangeError(`features.servePosition must be an integer >= 0, got ${c.servePosition}`);
  if (typeof c.utcOffsetMinutes !== 'number' || !Number.isFinite(c.utcOffsetMinutes)) throw new RangeError('features.utcOffsetMinutes must be a number');
  if (!Array.isArray(c.crosses)) throw new RangeError('features.crosses must be an array of [request side, item side] pairs');
  c.crosses.forEach((x, i) => {
    if (!Array.isArray(x) || x.length !== 2) throw new RangeError(`features.crosses[${i}] must be a pair [request side, item side]`);
    if (!REQUEST_SIDES.includes(x[0] as RequestSide)) throw new RangeError(`features.crosses[${i}][0] must be one of ${REQUEST_SIDES.join(', ')}, got '${x[0]}'`);
    if (x[1] !== 'item' && !c.itemFields.includes(x[1])) throw new RangeError(`features.crosses[${i}][1] must be 'item' or one of itemFields (${c.itemFields.join(', ')}), got '${x[1]}'`);
  });
  return c;
}

// ---------------------------------------------------------------------------------------------
// Provenance as logged with impressions
// ---------------------------------------------------------------------------------------------

// Moved to data/provenance.ts (the store reads them too); re-exported for the ranking code.
export { encodeSources, decodeSources } from '../data/provenance.js';

// ---------------------------------------------------------------------------------------------
// The feature space: layout, item prehash, normaliser
// ---------------------------------------------------------------------------------------------

/** What a request brings (the user as the store's dense index, -1 when unknown). */
export interface RequestInfo {
  user: number;
  /** Epoch ms of the request. */
  now: number;
  scene?: string;
  device?: string;
}

/** A candidate: a funnel `Candidate` fits; `position` is the logged slot at training. */
export interface CandidateInfo {
  item: number;
  sources?: readonly Provenance[];
  position?: number;
}

/** The serialisable part of a space (the catalog comes from wherever it is served). */
export interface FeatureSpaceJSON {
  config: FeatureConfig;
  normalizer?: NormalizerJSON;
}

/** Small integers whose normalised value is tabulated per feature. */
const INT_TABLE = 256;

const POSITION_BUCKETS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 30, 50, 100];

function positionBucket(p: number): number {
  let b = 0;
  while (b + 1 < POSITION_BUCKETS.length && p >= POSITION_BUCKETS[b + 1]) b++;
  return b;
}

/** The item-side values of a cross or item field: hashes per item in CSR form. */
interface ItemSide {
  ptr: Int32Array;
  raw: Int32Array;
}

export class FeatureSpace {
  readonly config: FeatureConfig;
  readonly catalog: ItemCatalog;
  readonly normalizer: QuantileNormalizer | undefined;
  /** (w + 1)·C reserved indices + 2^bits hashed buckets. */
  readonly dim: number;
  /** Continuous features: request-scope names then candidate-scope names. */
  readonly requestDense: readonly string[];
  readonly candidateDense: readonly string[];
  readonly denseNames: readonly string[];
  /** Name of every field id. */
  readonly fieldNames: readonly string[];

  /** @internal layout */
  readonly width: number;
  /** @internal */ readonly missingBase: number;
  /** @internal */ readonly hashBase: number;
  /** @internal */ readonly hashSize: number;
  /** @internal field ids */
  readonly F: {
    hour: number; weekday: number; device: number; scene: number; user: number; position: number;
    item: number; itemFields: number[]; genSet: number; crosses: number[];
  };
  /** @internal candidate dense offsets (relative to the candidate block) */
  readonly D: {
    genScore: number; genRank: number; genCount: number; pop: number; aff: number; affShare: number;
    sinceItem: number; sinceCat: number; price: number; priceRel: number; age: number;
  };
  /** @internal generator name → slot. */
  readonly genSlot: Map<string, number>;
  /** @internal hashed index of each generator set (bit mask of slots). */
  readonly genSetIdx: Int32Array;
  /** @internal hashed index of positions 0..127. */
  readonly posIdx: Int32Array;
  /** F_j(x) for the integers x in [0, INT_TABLE) (counts, ranks), per feature; empty without a normaliser. */
  private readonly intTable: Float32Array;
  /** [raw value, normalised value] passed to the emitters. */
  private readonly scratch = new Float64Array(2);

  // item prehash
  /** @internal per item: bucket indices (and fields) of its own categorical entries. */
  readonly itemPtr: Int32Array;
  /** @internal */ readonly itemIdx: Int32Array;
  /** @internal */ readonly itemFld: Uint8Array;
  /** @internal item-side raw hashes by name ('item' and each item field). */
  readonly sides: Map<string, ItemSide>;
  /** @internal per cross: request side (index in REQUEST_SIDES) and item side. */
  readonly crossReq: Int32Array;
  /** @internal */ readonly crossItem: ItemSide[];
  /** @internal per item: most categorical entries of its row (position, gen set, own, crosses). */
  readonly rowCat: Int32Array;
  /** @internal affinity codes per item (values of `affinity.field`). */
  readonly affPtr: Int32Array;
  /** @internal */ readonly affCodes: Int32Array;
  /** @internal number of affinity codes, and profile key → code. */
  readonly affSize: number;
  /** @internal */ readonly affKeyCode: Map<string, number>;
  /** @internal log(price / median price of the item's first affinity value). */
  readonly priceRel: Float32Array;
  /** @internal normalised price and relative price per item (NaN: missing). */
  readonly priceU: Float32Array;
  /** @internal */ readonly priceRelU: Float32Array;

  constructor(config: Partial<FeatureConfig>, catalog: ItemCatalog, normalizer?: QuantileNormalizer) {
    const c = resolveFeatureConfig(config);
    this.config = c;
    this.catalog = catalog;
    this.width = c.expand ? 3 : 1;

    const req: string[] = c.activity.map((a) => `act:${a.type ?? 'all'}:${a.windowMs}`);
    const cand: string[] = [];
    const G = c.generators.length;
    for (const g of c.generators) cand.push(`gen:${g}:score`);
    for (const g of c.generators) cand.push(`gen:${g}:rank`);
    if (G > 0) cand.push('gen:count');
    for (const p of c.popularity) cand.push(`pop:${p.type}${p.per ? `/${p.per}` : ''}:${p.windowMs}`);
    for (const w of c.affinity.windowsMs) cand.push(`aff:${w}`);
    if (c.affinity.windowsMs.length) cand.push('aff:share');
    cand.push('since:item', 'since:cat', 'price', 'price:rel', 'age');
    const D = {
      genScore: 0,
      genRank: G,
      genCount: 2 * G,
      pop: 2 * G + (G > 0 ? 1 : 0),
      aff: 0,
      affShare: 0,
      sinceItem: 0,
      sinceCat: 0,
      price: 0,
      priceRel: 0,
      age: 0,
    };
    D.aff = D.pop + c.popularity.length;
    D.affShare = D.aff + c.affinity.windowsMs.length;
    D.sinceItem = D.affShare + (c.affinity.windowsMs.length ? 1 : 0);
    D.sinceCat = D.sinceItem + 1;
    D.price = D.sinceItem + 2;
    D.priceRel = D.sinceItem + 3;
    D.age = D.sinceItem + 4;
    this.D = D;
    this.requestDense = req;
    this.candidateDense = cand;
    this.denseNames = [...req, ...cand];
    const C = this.denseNames.length;
    if (normalizer && (normalizer.size !== C || normalizer.names.some((n, j) => n !== this.denseNames[j]))) {
      throw new RangeError(`features: the normalizer's features (${normalizer.names.join(', ')}) do not match this configuration's (${this.denseNames.join(', ')})`);
    }
    this.normalizer = normalizer;
    this.missingBase = this.width * C;
    this.hashBase = (this.width + 1) * C;
    this.hashSize = 2 ** c.bits;
    this.dim = this.hashBase + this.hashSize;
    this.intTable = new Float32Array(normalizer ? C * INT_TABLE : 0);
    if (normalizer) for (let j = 0; j < C; j++) for (let x = 0; x < INT_TABLE; x++) this.intTable[j * INT_TABLE + x] = normalizer.cdf(j, x);

    const names: string[] = [...this.denseNames];
    const field = (n: string) => names.push(n) - 1;
    this.F = {
      hour: field('hour'),
      weekday: field('weekday'),
      device: field('device'),
      scene: field('scene'),
      user: field('user'),
      position: field('position'),
      item: field('item'),
      itemFields: c.itemFields.map((f) => field(`item.${f}`)),
      genSet: field('gen:set'),
      crosses: c.crosses.map(([a, b]) => field(`${a}×${b}`)),
    };
    if (names.length > 256) throw new RangeError(`features: ${names.length} fields, at most 256`);
    this.fieldNames = names;
    this.genSlot = new Map(c.generators.map((g, i) => [g, i]));
    this.genSetIdx = Int32Array.from({ length: 2 ** c.generators.length }, (_, m) => bucketOf(hashInt(this.F.genSet, m), this.hashBase, this.hashSize));
    this.posIdx = Int32Array.from({ length: 128 }, (_, p) => bucketOf(hashInt(this.F.position, positionBucket(p)), this.hashBase, this.hashSize));

    // ---- item prehash
    const N = catalog.size;
    const sides = new Map<string, ItemSide>();
    const need = new Set<string>(c.itemFields); // crosses use 'item' or one of these (validated)
    // 'item': one raw hash per item (of its id when known, else of its index)
    {
      const ptr = new Int32Array(N + 1);
      const raw = new Int32Array(N);
      for (let i = 0; i < N; i++) {
        const id = catalog.itemId(i);
        raw[i] = (id === '' ? hashInt(this.F.item, i) : hashStr(this.F.item, id)) | 0;
        ptr[i + 1] = i + 1;
      }
      sides.set('item', { ptr, raw });
    }
    for (const name of need) {
      if (name === 'item') continue;
      const col = catalog.column(name);
      if (!col) throw new RangeError(`features.itemFields: the catalog has no column '${name}' (has ${catalog.columnNames().join(', ')})`);
      const fid = this.F.itemFields[c.itemFields.indexOf(name)];
      let ptr: Int32Array;
      let raw: Int32Array;
      if (col.kind === 'categorical') {
        // values of item i: codes[offsets[i] .. offsets[i+1]); raw hashes aligned with codes
        const dictHash = Int32Array.from(col.dictionary, (v) => hashStr(fid, v) | 0);
        ptr = padOffsets(col, N);
        raw = Int32Array.from(col.codes, (code) => dictHash[code]);
      } else {
        ptr = new Int32Array(N + 1);
        const r: number[] = [];
        for (let i = 0; i < N; i++) {
          const v = col.values[i];
          if (v === v) r.push(hashStr(fid, String(v)) | 0);
          ptr[i + 1] = r.length;
        }
        raw = Int32Array.from(r);
      }
      sides.set(name, { ptr, raw });
    }
    this.sides = sides;
    // own categorical entries: item id + item fields
    const ownSides: { side: ItemSide; fid: number }[] = [];
    if (c.itemId) ownSides.push({ side: sides.get('item')!, fid: this.F.item });
    c.itemFields.forEach((f, k) => ownSides.push({ side: sides.get(f)!, fid: this.F.itemFields[k] }));
    const itemPtr = new Int32Array(N + 1);
    for (let i = 0; i < N; i++) {
      let n = 0;
      for (const { side } of ownSides) n += side.ptr[i + 1] - side.ptr[i];
      itemPtr[i + 1] = itemPtr[i] + n;
    }
    const itemIdx = new Int32Array(itemPtr[N]);
    const itemFld = new Uint8Array(itemPtr[N]);
    for (let i = 0; i < N; i++) {
      let o = itemPtr[i];
      for (const { side, fid } of ownSides) {
        for (let p = side.ptr[i]; p < side.ptr[i + 1]; p++) {
          itemIdx[o] = bucketOf(side.raw[p], this.hashBase, this.hashSize);
          itemFld[o++] = fid;
        }
      }
    }
    this.itemPtr = itemPtr;
    this.itemIdx = itemIdx;
    this.itemFld = itemFld;
    this.crossReq = Int32Array.from(c.crosses, ([a]) => REQUEST_SIDES.indexOf(a as RequestSide));
    this.crossItem = c.crosses.map(([, b]) => sides.get(b)!);
    const rowCat = new Int32Array(N + 1); // entry N: an unknown item
    for (let i = 0; i < N; i++) {
      let m = 2 + itemPtr[i + 1] - itemPtr[i];
      for (const s of this.crossItem) m += s.ptr[i + 1] - s.ptr[i];
      rowCat[i] = m;
    }
    rowCat[N] = 3 + c.crosses.length;
    this.rowCat = rowCat;

    // ---- affinity codes and relative price
    const affCol = catalog.column(c.affinity.field);
    const priceRel = new Float32Array(N).fill(NaN);
    if (affCol && affCol.kind === 'categorical') {
      this.affPtr = affCol.offsets.length === N + 1 ? affCol.offsets : padOffsets(affCol, N);
      this.affCodes = affCol.codes;
      this.affSize = affCol.dictionary.length;
      this.affKeyCode = new Map(affCol.dictionary.map((v, k) => [`${c.affinity.prefix}${v}`, k]));
      // median price per first value
      const byCode: number[][] = Array.from({ length: this.affSize }, () => []);
      for (let i = 0; i < N; i++) {
        const p = catalog.price[i];
        if (p === p && this.affPtr[i + 1] > this.affPtr[i]) byCode[this.affCodes[this.affPtr[i]]].push(p);
      }
      const median = byCode.map((l) => {
        if (l.length === 0) return NaN;
        l.sort((a, b) => a - b);
        const m = l.length >> 1;
        return l.length % 2 ? l[m] : (l[m - 1] + l[m]) / 2;
      });
      for (let i = 0; i < N; i++) {
        const p = catalog.price[i];
        if (!(p > 0) || this.affPtr[i + 1] === this.affPtr[i]) continue;
        const m = median[this.affCodes[this.affPtr[i]]];
        if (m > 0) priceRel[i] = Math.log(p / m);
      }
    } else {
      this.affPtr = new Int32Array(N + 1);
      this.affCodes = new Int32Array(0);
      this.affSize = 0;
      this.affKeyCode = new Map();
    }
    this.priceRel = priceRel;
    // normalised static item features, once per item (identical to cdf on the raw value)
    this.priceU = new Float32Array(N).fill(NaN);
    this.priceRelU = new Float32Array(N).fill(NaN);
    if (normalizer) {
      const jp = this.requestDense.length + D.price;
      const jr = this.requestDense.length + D.priceRel;
      for (let i = 0; i < N; i++) {
        const p = catalog.price[i];
        if (p === p) this.priceU[i] = this.cdf(jp, p);
        const r = priceRel[i];
        if (r === r) this.priceRelU[i] = this.cdf(jr, r);
      }
    }
  }

  /** The same configuration and normaliser over another catalog (e.g. after a catalog refresh). */
  withCatalog(catalog: ItemCatalog): FeatureSpace {
    return new FeatureSpace(this.config, catalog, this.normalizer);
  }

  /** The same space with a fitted normaliser. */
  withNormalizer(normalizer: QuantileNormalizer): FeatureSpace {
    return new FeatureSpace(this.config, this.catalog, normalizer);
  }

  toJSON(): FeatureSpaceJSON {
    return { config: structuredClone(this.config), ...(this.normalizer ? { normalizer: this.normalizer.toJSON() } : {}) };
  }

  static fromJSON(j: FeatureSpaceJSON, catalog: ItemCatalog): FeatureSpace {
    return new FeatureSpace(j.config, catalog, j.normalizer ? QuantileNormalizer.fromJSON(j.normalizer) : undefined);
  }

  /** The profile keys of every catalog item for `ProfileStore.setItemKeys` (affinity field only). */
  profileKeys(): { items: Int32Array; keys: string[][] } {
    const col = this.catalog.column(this.config.affinity.field);
    const items: number[] = [];
    const keys: string[][] = [];
    if (!col || col.kind !== 'categorical') return { items: new Int32Array(0), keys };
    for (let i = 0; i < this.catalog.size; i++) {
      const a = this.affPtr[i];
      const b = this.affPtr[i + 1];
      if (b === a) continue;
      items.push(i);
      const k: string[] = [];
      for (let p = a; p < b; p++) k.push(`${this.config.affinity.prefix}${col.dictionary[this.affCodes[p]]}`);
      keys.push(k);
    }
    return { items: Int32Array.from(items), keys };
  }

  /** The hashed index of the position entry for a display position (0-based). */
  positionIndex(position: number): number {
    if (position >= 0 && position < 128) return this.posIdx[position];
    return bucketOf(hashInt(this.F.position, positionBucket(position)), this.hashBase, this.hashSize);
  }

  /**
   * The normalised value F_j(x), rounded to float32 (a table lookup for small non-negative
   * integers such as counts and ranks, else the normaliser's binary search).
   */
  cdf(j: number, x: number): number {
    const s = this.scratch;
    s[0] = x;
    this.normalizeSlot(j, s);
    return s[1];
  }

  /**
   * s[1] = F_j(s[0]) (float32-rounded). Values travel through a Float64Array rather than as
   * arguments / results so that the hot loops call it without boxing doubles.
   */
  normalizeSlot(j: number, s: Float64Array): void {
    const x = s[0];
    if (x >= 0 && x < INT_TABLE && (x | 0) === x) {
      if (this.intTable.length === 0) throw new Error('features: no normalizer (fit one on training samples with QuantileNormalizer.fit, then withNormalizer)');
      s[1] = this.intTable[j * INT_TABLE + x];
      return;
    }
    const norm = this.normalizer;
    if (!norm) throw new Error('features: no normalizer (fit one on training samples with QuantileNormalizer.fit, then withNormalizer)');
    s[1] = Math.fround(norm.cdf(j, x));
  }

  /** Number of continuous features. */
  get denseSize(): number {
    return this.denseNames.length;
  }

  /**
   * Writes the entries of continuous feature j with raw value x at `pos` of the arrays: the
   * normalised value expanded (x̃, x̃², √x̃), or the missing indicator when x is NaN. Returns
   * the next position. The single place where raw values become vector entries (serving goes
   * through the same `emitSlot`).
   */
  emitDense(j: number, x: number, idx: Int32Array, val: Float32Array, fld: Uint8Array | undefined, pos: number): number {
    const s = this.scratch;
    s[0] = x;
    return this.emitSlot(j, s, idx, val, fld, pos);
  }

  /** `emitDense` of the raw value s[0] (s[1] is overwritten). */
  emitSlot(j: number, s: Float64Array, idx: Int32Array, val: Float32Array, fld: Uint8Array | undefined, pos: number): number {
    const x = s[0];
    if (x !== x) {
      idx[pos] = this.missingBase + j;
      val[pos] = 1;
      if (fld !== undefined) fld[pos] = j;
      return pos + 1;
    }
    this.normalizeSlot(j, s);
    return this.emitNormalized(j, s, idx, val, fld, pos);
  }

  /** Writes the expansion of the already normalised value u = s[1] of feature j. */
  emitNormalized(j: number, s: Float64Array, idx: Int32Array, val: Float32Array, fld: Uint8Array | undefined, pos: number): number {
    const u = s[1];
    const w = this.width;
    const i = w * j;
    idx[pos] = i;
    val[pos] = u;
    if (w === 1) {
      if (fld !== undefined) fld[pos] = j;
      return pos + 1;
    }
    idx[pos + 1] = i + 1;
    val[pos + 1] = u * u;
    idx[pos + 2] = i + 2;
    val[pos + 2] = Math.sqrt(u);
    if (fld !== undefined) {
      fld[pos] = j;
      fld[pos + 1] = j;
      fld[pos + 2] = j;
    }
    return pos + 3;
  }

  /** Most entries one candidate row can have (categorical + continuous), for a given item. */
  maxRowEntries(item: number): number {
    const N = this.catalog.size;
    return this.rowCat[item >= 0 && item < N ? item : N] + this.candidateDense.length * this.width;
  }
}

function padOffsets(col: CategoricalColumn, n: number): Int32Array {
  const out = new Int32Array(n + 1);
  const m = Math.min(n + 1, col.offsets.length);
  out.set(col.offsets.subarray(0, m));
  for (let i = m; i <= n; i++) out[i] = out[m - 1];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Raw features (before normalisation): what samples store
// ---------------------------------------------------------------------------------------------

/** Raw features of one request: hashed categorical entries and raw continuous values (NaN = missing). */
export class RawBatch {
  n = 0;
  sharedN = 0;
  sharedIdx = new Int32Array(16);
  sharedFld = new Uint8Array(16);
  /** Request-scope continuous values. */
  sharedDense: Float32Array;
  rowPtr = new Int32Array(65);
  rowIdx = new Int32Array(1024);
  rowFld = new Uint8Array(1024);
  /** n × candidateDense values, row-major. */
  rowDense: Float32Array;

  constructor(readonly requestDense: number, readonly candidateDense: number) {
    this.sharedDense = new Float32Array(requestDense);
    this.rowDense = new Float32Array(64 * candidateDense);
  }

  /** Room for n rows and `entries` categorical entries in all. */
  reserve(n: number, entries: number): void {
    if (this.rowPtr.length < n + 1) this.rowPtr = new Int32Array(grow(this.rowPtr.length, n + 1));
    if (this.rowDense.length < n * this.candidateDense) this.rowDense = new Float32Array(grow(this.rowDense.length, n * this.candidateDense));
    if (this.rowIdx.length < entries) {
      const c = grow(this.rowIdx.length, entries);
      const a = new Int32Array(c);
      a.set(this.rowIdx);
      this.rowIdx = a;
      const f = new Uint8Array(c);
      f.set(this.rowFld);
      this.rowFld = f;
    }
  }
}

function grow(cur: number, need: number): number {
  let c = Math.max(16, cur);
  while (c < need) c *= 2;
  return c;
}

/** An empty batch of a space, with buffers to reuse. */
export function newFeatureBatch(dim: number): FeatureBatch {
  return {
    dim,
    shared: { nnz: 0, indices: new Int32Array(64), values: new Float32Array(64), fields: new Uint8Array(64) },
    rows: { rows: 0, indptr: new Int32Array(65), indices: new Int32Array(4096), values: new Float32Array(4096), fields: new Uint8Array(4096) },
  };
}

function ensureVector(v: SparseVector, n: number): void {
  if (v.indices.length >= n && v.fields !== undefined) return;
  const c = grow(v.indices.length, n);
  v.indices = new Int32Array(c);
  v.values = new Float32Array(c);
  v.fields = new Uint8Array(c);
}

function ensureRows(r: SparseRows, rows: number, nnz: number): void {
  if (r.indptr.length < rows + 1) r.indptr = new Int32Array(grow(r.indptr.length, rows + 1));
  if (r.indices.length < nnz || r.fields === undefined) {
    const c = grow(r.indices.length, nnz);
    r.indices = new Int32Array(c);
    r.values = new Float32Array(c);
    r.fields = new Uint8Array(c);
  }
}

// ---------------------------------------------------------------------------------------------
// The extractor: a space bound to a profile store, with its caches and buffers
// ---------------------------------------------------------------------------------------------

/** What `fetch` read from the profiles for one request (everything `encode` needs from them). */
export interface RequestState {
  info: RequestInfo;
  /** Request-scope continuous raw values (activity levels). */
  activity: Float64Array;
  /** Per affinity window: codes and weights of the user's keys, and the window's total. */
  affinity: { codes: Int32Array; values: Float64Array; total: number }[];
  /** The user's recent touches (item, epoch ms), most recent first. */
  recentItems: Int32Array;
  recentTs: Float64Array;
  /** Popularity arrays by spec, as of this request's buckets. */
  popularity: Float32Array[];
}

/** Popularity per item of one (type, window), for the complete buckets before `now`'s bucket. */
class PopularityColumn {
  bucket = NaN;
  values: Float32Array;
  constructor(
    readonly type: string,
    readonly windowMs: number,
    readonly granularityMs: number,
    size: number,
  ) {
    this.values = new Float32Array(size);
  }
}

/**
 * Binds a `FeatureSpace` to a `ProfileStore`: per-request profile reads (`fetch`), the
 * popularity cache, and the reused buffers of `extractRaw` / `encode`. One per serving process
 * (or per sample replay). Not for concurrent `encode` calls (JavaScript runs them one at a time;
 * a batch is valid until the next call).
 */
export class FeatureExtractor {
  private readonly cols: PopularityColumn[] = [];
  /** spec s → [numerator column, denominator column or -1]. */
  /** @internal */ readonly specCols: Int32Array;
  /** @internal per spec: how often its popularity arrays change (the bucket of its window's level), ms. */
  readonly specGranularity: Float64Array;
  private readonly raw: RawBatch;
  private readonly batch: FeatureBatch;
  // request scratch (dense by item / affinity code, reset after each request)
  /** @internal */ readonly touchItem: Float64Array;
  /** @internal */ readonly touchCode: Float64Array;
  /** @internal */ readonly affDense: Float64Array[];
  /** @internal */ readonly reqRaw = new Int32Array(REQUEST_SIDES.length);
  private readonly shCat = new Int32Array(8);
  private readonly shFld = new Uint8Array(8);
  /** One candidate's continuous values. */
  private readonly dv: Float64Array;
  /** [raw, normalised] value slot for the emitters. */
  private readonly slot = new Float64Array(2);
  // per-item caches of normalised values (encode only): popularity per spec, for the arrays
  // they were computed from; item age per whole-hour value
  private readonly popU: Float32Array[];
  private readonly popFor: (Float32Array | undefined)[];
  private readonly popForDen: (Float32Array | undefined)[];
  private readonly ageKey: Float64Array;
  private readonly ageU: Float32Array;

  /** Whether encoded batches carry entry fields (default true; LR and FM do not need them). */
  readonly fields: boolean;
  private fieldScratch = new Uint8Array(4096);

  constructor(
    readonly space: FeatureSpace,
    readonly profiles: ProfileStore,
    opts: { fields?: boolean } = {},
  ) {
    this.fields = opts.fields ?? true;
    const c = space.config;
    const N = space.catalog.size;
    const key = new Map<string, number>();
    const colFor = (type: string, windowMs: number) => {
      const k = `${type}\u0000${windowMs}`;
      let i = key.get(k);
      if (i === undefined) {
        i = this.cols.length;
        key.set(k, i);
        this.cols.push(new PopularityColumn(type, windowMs, levelGranularity(profiles, windowMs), N));
      }
      return i;
    };
    this.specCols = new Int32Array(2 * c.popularity.length);
    this.specGranularity = new Float64Array(c.popularity.length);
    c.popularity.forEach((p, s) => {
      this.specCols[2 * s] = colFor(p.type, p.windowMs);
      this.specCols[2 * s + 1] = p.per ? colFor(p.per, p.windowMs) : -1;
      this.specGranularity[s] = this.cols[this.specCols[2 * s]].granularityMs;
    });
    this.raw = new RawBatch(space.requestDense.length, space.candidateDense.length);
    this.batch = newFeatureBatch(space.dim);
    this.touchItem = new Float64Array(N).fill(NaN);
    this.touchCode = new Float64Array(space.affSize).fill(NaN);
    this.affDense = c.affinity.windowsMs.map(() => new Float64Array(space.affSize));
    this.dv = new Float64Array(space.candidateDense.length);
    this.popU = c.popularity.map(() => new Float32Array(N).fill(NaN));
    this.popFor = c.popularity.map(() => undefined);
    this.popForDen = c.popularity.map(() => undefined);
    this.ageKey = new Float64Array(N).fill(NaN);
    this.ageU = new Float32Array(N);
  }

  /**
   * Reads what the request needs from the profiles (and refreshes the popularity cache when a
   * bucket has closed). Synchronous with an in-memory profile store.
   */
  fetch(info: RequestInfo): Awaitable<RequestState> {
    if (!Number.isFinite(info.now)) throw new RangeError(`features: request now must be a finite epoch ms, got ${info.now}`);
    if (!Number.isInteger(info.user)) throw new RangeError(`features: request user must be an integer index (-1 when unknown), got ${info.user}`);
    const c = this.space.config;
    const p = this.profiles;
    const pending: Promise<unknown>[] = [];
    const refresh = this.refreshPopularity(info.now);
    if (refresh) pending.push(refresh);
    const known = info.user >= 0;
    const activity = new Float64Array(c.activity.length);
    const acts: Awaitable<number>[] = known ? c.activity.map((a) => p.userCounts(info.user, { windowMs: a.windowMs, now: info.now, ...(a.type ? { type: a.type } : {}) })) : [];
    const affTypes = Object.keys(c.affinity.weights);
    const affs: Awaitable<Map<string, number>>[] =
      known && this.space.affSize > 0
        ? c.affinity.windowsMs.map((w) => p.userAffinities(info.user, { windowMs: w, now: info.now, prefix: c.affinity.prefix, weights: c.affinity.weights, types: affTypes }))
        : [];
    const recent: Awaitable<RecentItems> | undefined = known && c.recentN > 0 ? p.recentItems(info.user, c.recentN, c.touchTypes) : undefined;
    const build = (actV: number[], affV: Map<string, number>[], rec: RecentItems | undefined): RequestState => {
      for (let j = 0; j < actV.length; j++) activity[j] = actV[j];
      const affinity = c.affinity.windowsMs.map((_, w) => {
        const m = affV[w];
        if (!m) return { codes: new Int32Array(0), values: new Float64Array(0), total: 0 };
        const codes: number[] = [];
        const values: number[] = [];
        let total = 0;
        for (const [k, v] of m) {
          total += v;
          const code = this.space.affKeyCode.get(k);
          if (code === undefined) continue;
          codes.push(code);
          values.push(v);
        }
        return { codes: Int32Array.from(codes), values: Float64Array.from(values), total };
      });
      return {
        info,
        activity,
        affinity,
        recentItems: rec ? rec.itemIdx : new Int32Array(0),
        recentTs: rec ? rec.timestamp : new Float64Array(0),
        popularity: [],
      };
    };
    const anyPromise = pending.length > 0 || acts.some(isPromise) || affs.some(isPromise) || isPromise(recent);
    if (!anyPromise) {
      const s = build(acts as number[], affs as Map<string, number>[], recent as RecentItems | undefined);
      s.popularity = this.cols.map((col) => col.values);
      return s;
    }
    return (async () => {
      await Promise.all(pending);
      const [a, f, r] = await Promise.all([Promise.all(acts), Promise.all(affs), recent]);
      const s = build(a, f, r);
      s.popularity = this.cols.map((col) => col.values);
      return s;
    })();
  }

  /** Recomputes the popularity columns whose bucket has closed since the last request. */
  private refreshPopularity(now: number): Promise<void> | undefined {
    const todo: Promise<void>[] = [];
    for (const col of this.cols) {
      const b = Math.floor(now / col.granularityMs);
      if (b === col.bucket) continue;
      col.bucket = b;
      const end = b * col.granularityMs - 1; // the last complete bucket ends here
      const size = this.space.catalog.size;
      if (end < 0 || size === 0) {
        col.values = new Float32Array(size);
        continue;
      }
      const fill = (top: { items: Int32Array; counts: Float64Array }) => {
        const v = new Float32Array(size);
        for (let k = 0; k < top.items.length; k++) {
          const it = top.items[k];
          if (it < size) v[it] = top.counts[k];
        }
        col.values = v; // a new array: states fetched earlier keep theirs
      };
      if (this.profiles.itemCounts) {
        // the dense counts straight away (a new array: states fetched earlier keep theirs)
        const r = this.profiles.itemCounts({ type: col.type, windowMs: col.windowMs, now: end }, size);
        if (isPromise(r)) todo.push(r.then((v) => void (col.values = v)));
        else col.values = r;
        continue;
      }
      const r = this.profiles.topItems({ k: size, type: col.type, windowMs: col.windowMs, now: end });
      if (isPromise(r)) todo.push(r.then(fill));
      else fill(r);
    }
    return todo.length ? Promise.all(todo).then(() => undefined) : undefined;
  }

  /**
   * Raw features of a request's candidates into `out` (default: the extractor's buffer):
   * categorical entries as bucket indices, continuous values raw (NaN = missing). What samples
   * store; `encodeRaw` of it equals `encode` of the same request.
   */
  extractRaw(state: RequestState, cands: ArrayLike<CandidateInfo>, out: RawBatch = this.raw): RawBatch {
    this.run(state, cands, out, undefined);
    return out;
  }

  /**
   * The encoded batch of a request (into the extractor's reused buffers, valid until the next
   * call): the same extraction as `extractRaw`, normalised and expanded on the fly.
   */
  encode(state: RequestState, cands: ArrayLike<CandidateInfo>): FeatureBatch {
    this.run(state, cands, undefined, this.batch);
    if (this.fields) return this.batch;
    return { dim: this.batch.dim, shared: { ...this.batch.shared, fields: undefined }, rows: { ...this.batch.rows, fields: undefined } };
  }

  /**
   * The one extraction: writes either raw features (`raw`) or encoded entries (`enc`). Both
   * sinks see the same entries in the same order (categorical, then continuous in feature
   * order), and the encoded sink normalises the float32-rounded raw value, as `encodeRaw` and
   * `SampleSet.encode` do with stored raw values.
   */
  private run(state: RequestState, cands: ArrayLike<CandidateInfo>, raw: RawBatch | undefined, enc: FeatureBatch | undefined): void {
    const sp = this.space;
    const c = sp.config;
    const F = sp.F;
    const D = sp.D;
    const info = state.info;
    const now = info.now;
    const N = sp.catalog.size;
    const n = cands.length;
    const hb = sp.hashBase;
    const hs = sp.hashSize;
    const w = sp.width;
    const Cr = sp.requestDense.length;
    const Cc = sp.candidateDense.length;

    // ---- request part
    const sn = this.requestPart(state);
    const shCat = this.shCat;
    const shFld = this.shFld;
    if (raw) {
      raw.sharedN = sn;
      raw.sharedIdx.set(shCat.subarray(0, sn));
      raw.sharedFld.set(shFld.subarray(0, sn));
      for (let j = 0; j < Cr; j++) raw.sharedDense[j] = info.user >= 0 ? state.activity[j] : NaN;
    } else if (enc) {
      this.emitShared(state, sn, enc.shared);
      enc.dim = sp.dim;
    }

    // ---- scatter the user's state into dense scratch
    this.scatterUser(state);
    const affDense = this.affDense;
    const touchItem = this.touchItem;
    const touchCode = this.touchCode;
    const affTotalLast = state.affinity.length ? state.affinity[state.affinity.length - 1].total : 0;
    const nAff = state.affinity.length;

    // ---- capacity
    let entries = 0;
    const rowCat = sp.rowCat;
    for (let r = 0; r < n; r++) {
      const it = cands[r].item;
      entries += rowCat[it >= 0 && it < N ? it : N];
    }
    let cIdx: Int32Array;
    /** Fields of categorical entries (a scratch when not kept), and of continuous ones (or none). */
    let cFld: Uint8Array;
    let dFld: Uint8Array | undefined;
    let cVal: Float32Array | undefined;
    let rowPtr: Int32Array;
    let rawDense: Float32Array | undefined;
    if (raw) {
      raw.reserve(n, entries);
      raw.n = n;
      cIdx = raw.rowIdx;
      cFld = raw.rowFld;
      rowPtr = raw.rowPtr;
      rawDense = raw.rowDense;
      dFld = undefined;
    } else {
      const rows = enc!.rows;
      const need = entries + n * Cc * w;
      ensureRows(rows, n, need);
      rows.rows = n;
      cIdx = rows.indices;
      cVal = rows.values;
      rowPtr = rows.indptr;
      if (this.fields) {
        cFld = rows.fields!;
        dFld = cFld;
      } else {
        if (this.fieldScratch.length < need) this.fieldScratch = new Uint8Array(grow(this.fieldScratch.length, need));
        cFld = this.fieldScratch;
        dFld = undefined;
      }
    }
    const dv = this.dv;
    const G = c.generators.length;
    const crosses = c.crosses;
    const crossSide = sp.crossReq;
    const crossItem = sp.crossItem;
    const pops = state.popularity;
    const specCols = this.specCols;
    const nPop = c.popularity.length;
    const price = sp.catalog.price;
    const created = sp.catalog.createdAt;
    const servePos = sp.positionIndex(c.servePosition);
    const sl = this.slot;
    if (enc) {
      // the normalised popularity caches follow the arrays this request reads
      for (let sIdx = 0; sIdx < nPop; sIdx++) {
        const num = pops[specCols[2 * sIdx]];
        const den = specCols[2 * sIdx + 1] >= 0 ? pops[specCols[2 * sIdx + 1]] : undefined;
        if (this.popFor[sIdx] !== num || this.popForDen[sIdx] !== den) {
          this.popFor[sIdx] = num;
          this.popForDen[sIdx] = den;
          this.popU[sIdx].fill(NaN);
        }
      }
    }
    let e = 0;
    rowPtr[0] = 0;
    for (let r = 0; r < n; r++) {
      const cand = cands[r];
      const item = cand.item;
      const known = item >= 0 && item < N;
      for (let j = 0; j < Cc; j++) dv[j] = NaN;
      // categorical: position, item, item fields
      const pos = cand.position;
      cIdx[e] = pos === undefined ? servePos : sp.positionIndex(pos);
      cFld[e++] = F.position;
      if (known) {
        for (let p = sp.itemPtr[item]; p < sp.itemPtr[item + 1]; p++) {
          cIdx[e] = sp.itemIdx[p];
          cFld[e++] = sp.itemFld[p];
        }
      } else if (c.itemId) {
        cIdx[e] = bucketOf(hashInt(F.item, item), hb, hs);
        cFld[e++] = F.item;
      }
      // generators
      if (G > 0) {
        let mask = 0;
        let count = 0;
        const src = cand.sources;
        if (src) {
          for (let q = 0; q < src.length; q++) {
            const pv = src[q];
            count++;
            const slot = sp.genSlot.get(pv.generator);
            if (slot === undefined) continue;
            mask |= 1 << slot;
            dv[D.genScore + slot] = pv.score;
            dv[D.genRank + slot] = pv.rank;
          }
        }
        dv[D.genCount] = count;
        cIdx[e] = sp.genSetIdx[mask];
        cFld[e++] = F.genSet;
      }
      // crosses
      for (let x = 0; x < crosses.length; x++) {
        const a = this.reqRaw[crossSide[x]];
        const side = crossItem[x];
        const fid = F.crosses[x];
        if (known) {
          for (let p = side.ptr[item]; p < side.ptr[item + 1]; p++) {
            cIdx[e] = bucketOf(hashCross(a, side.raw[p]), hb, hs);
            cFld[e++] = fid;
          }
        } else if (crosses[x][1] === 'item') {
          cIdx[e] = bucketOf(hashCross(a, hashInt(F.item, item)), hb, hs);
          cFld[e++] = fid;
        }
      }
      if (cVal) for (let k = rowPtr[r]; k < e; k++) cVal[k] = 1;
      // continuous (item-level values the encoded path takes from its per-item caches are
      // computed there, on a cache miss only)
      if (rawDense || !known) {
        for (let s = 0; s < nPop; s++) {
          const num = known ? pops[specCols[2 * s]][item] : 0;
          const den = specCols[2 * s + 1];
          dv[D.pop + s] = den < 0 ? num : num / ((known ? pops[den][item] : 0) + 1);
        }
      }
      if (known) {
        const a0 = sp.affPtr[item];
        const a1 = sp.affPtr[item + 1];
        let lastAff = 0;
        for (let a = 0; a < nAff; a++) {
          let best = 0;
          const ad = affDense[a];
          for (let p = a0; p < a1; p++) {
            const v = ad[sp.affCodes[p]];
            if (v > best) best = v;
          }
          dv[D.aff + a] = info.user >= 0 ? best : NaN;
          lastAff = best;
        }
        if (nAff > 0) dv[D.affShare] = affTotalLast > 0 ? lastAff / affTotalLast : NaN;
        const ti = touchItem[item];
        if (ti === ti) dv[D.sinceItem] = (now - ti) / 1000;
        let tc = -Infinity;
        for (let p = a0; p < a1; p++) {
          const v = touchCode[sp.affCodes[p]];
          if (v > tc) tc = v;
        }
        if (tc > -Infinity) dv[D.sinceCat] = (now - tc) / 1000;
        if (rawDense) {
          dv[D.price] = price[item];
          dv[D.priceRel] = sp.priceRel[item];
        }
        const ct = created[item];
        if (ct === ct) dv[D.age] = Math.floor((now - ct) / HOUR_MS);
      }
      if (rawDense) {
        const d0 = r * Cc;
        for (let j = 0; j < Cc; j++) rawDense[d0 + j] = dv[j];
      } else {
        // Item-level values come normalised from per-item caches (each holds exactly the
        // normalised float32 raw value, so the entries equal what emitDense gives at training).
        // Values pass through the slot array `sl` (no boxed doubles across calls).
        for (let j = 0; j < Cc; j++) {
          const jj = Cr + j;
          if (known && j >= D.pop && j < D.pop + nPop) {
            const sp2 = j - D.pop;
            const cache = this.popU[sp2];
            const u = cache[item];
            if (u === u) sl[1] = u;
            else {
              const num = pops[specCols[2 * sp2]][item];
              const den = specCols[2 * sp2 + 1];
              sl[0] = Math.fround(den < 0 ? num : num / (pops[den][item] + 1));
              sp.normalizeSlot(jj, sl);
              cache[item] = sl[1];
            }
            e = sp.emitNormalized(jj, sl, cIdx, cVal!, dFld, e);
            continue;
          }
          if (known && (j === D.price || j === D.priceRel)) {
            // NaN when the item has no price: the missing indicator, as for the raw value
            const u = j === D.price ? sp.priceU[item] : sp.priceRelU[item];
            sl[0] = u;
            sl[1] = u;
            e = u === u ? sp.emitNormalized(jj, sl, cIdx, cVal!, dFld, e) : sp.emitSlot(jj, sl, cIdx, cVal!, dFld, e);
            continue;
          }
          const v = Math.fround(dv[j]);
          sl[0] = v;
          if (!known || v !== v) e = sp.emitSlot(jj, sl, cIdx, cVal!, dFld, e);
          else if (j === D.age && v >= INT_TABLE) {
            if (this.ageKey[item] !== v) {
              this.ageKey[item] = v;
              sp.normalizeSlot(jj, sl);
              this.ageU[item] = sl[1];
            } else sl[1] = this.ageU[item];
            e = sp.emitNormalized(jj, sl, cIdx, cVal!, dFld, e);
          } else e = sp.emitSlot(jj, sl, cIdx, cVal!, dFld, e);
        }
      }
      rowPtr[r + 1] = e;
    }

    this.resetUser(state);
  }

  /**
   * @internal The request's categorical entries (hashed) into `shCat` / `shFld` and the raw
   * request-side hashes into `reqRaw`; returns their number.
   */
  requestPart(state: RequestState): number {
    const sp = this.space;
    const c = sp.config;
    const F = sp.F;
    const info = state.info;
    const hb = sp.hashBase;
    const hs = sp.hashSize;
    const local = info.now + c.utcOffsetMinutes * 60_000;
    const day = Math.floor(local / DAY_MS);
    const hour = Math.floor((local - day * DAY_MS) / HOUR_MS);
    const weekday = (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
    const rr = this.reqRaw;
    rr[0] = hashInt(F.user, info.user >= 0 ? info.user : -1) | 0;
    rr[1] = hashStr(F.scene, info.scene ?? '') | 0;
    rr[2] = hashStr(F.device, info.device ?? '') | 0;
    rr[3] = hashInt(F.hour, hour) | 0;
    rr[4] = hashInt(F.weekday, weekday) | 0;
    const shCat = this.shCat;
    const shFld = this.shFld;
    let sn = 0;
    shCat[sn] = bucketOf(rr[3], hb, hs);
    shFld[sn++] = F.hour;
    shCat[sn] = bucketOf(rr[4], hb, hs);
    shFld[sn++] = F.weekday;
    shCat[sn] = bucketOf(rr[2], hb, hs);
    shFld[sn++] = F.device;
    shCat[sn] = bucketOf(rr[1], hb, hs);
    shFld[sn++] = F.scene;
    if (c.userId && info.user >= 0) {
      shCat[sn] = bucketOf(rr[0], hb, hs);
      shFld[sn++] = F.user;
    }
    return sn;
  }

  /** @internal The encoded shared part (after `requestPart`, whose `sn` entries it takes). */
  emitShared(state: RequestState, sn: number, sh: SparseVector): void {
    const sp = this.space;
    const Cr = sp.requestDense.length;
    ensureVector(sh, sn + Cr * sp.width);
    const f = this.fields ? sh.fields : undefined;
    for (let k = 0; k < sn; k++) {
      sh.indices[k] = this.shCat[k];
      sh.values[k] = 1;
      if (f) f[k] = this.shFld[k];
    }
    let s = sn;
    for (let j = 0; j < Cr; j++) s = sp.emitDense(j, state.info.user >= 0 ? Math.fround(state.activity[j]) : NaN, sh.indices, sh.values, f, s);
    sh.nnz = s;
  }

  /**
   * @internal Scatters the user's state into the dense scratch: affinity weights by code
   * (`affDense`), last touch time by item (`touchItem`) and by affinity code (`touchCode`).
   * `resetUser` with the same state clears it.
   */
  scatterUser(state: RequestState): void {
    const sp = this.space;
    const N = sp.catalog.size;
    const affDense = this.affDense;
    for (let a = 0; a < state.affinity.length; a++) {
      const af = state.affinity[a];
      for (let k = 0; k < af.codes.length; k++) affDense[a][af.codes[k]] = af.values[k];
    }
    const touchItem = this.touchItem;
    const touchCode = this.touchCode;
    const ri = state.recentItems;
    const rt = state.recentTs;
    for (let k = ri.length - 1; k >= 0; k--) {
      // oldest first so that the most recent touch wins
      const it = ri[k];
      if (it < 0 || it >= N) continue;
      touchItem[it] = rt[k];
      for (let p = sp.affPtr[it]; p < sp.affPtr[it + 1]; p++) touchCode[sp.affCodes[p]] = rt[k];
    }
  }

  /** @internal Clears what `scatterUser` wrote. */
  resetUser(state: RequestState): void {
    const sp = this.space;
    const N = sp.catalog.size;
    for (let a = 0; a < state.affinity.length; a++) {
      const af = state.affinity[a];
      for (let k = 0; k < af.codes.length; k++) this.affDense[a][af.codes[k]] = 0;
    }
    const ri = state.recentItems;
    for (let k = 0; k < ri.length; k++) {
      const it = ri[k];
      if (it < 0 || it >= N) continue;
      this.touchItem[it] = NaN;
      for (let p = sp.affPtr[it]; p < sp.affPtr[it + 1]; p++) this.touchCode[sp.affCodes[p]] = NaN;
    }
  }
}

/**
 * Normalises and expands raw features into a batch (`out`'s buffers grow as needed): the shared
 * part (request categorical entries, then request continuous features) and one row per
 * candidate (its categorical entries, then its continuous features).
 */
export function encodeRaw(space: FeatureSpace, raw: RawBatch, out: FeatureBatch = newFeatureBatch(space.dim)): FeatureBatch {
  const w = space.width;
  const Cr = space.requestDense.length;
  const Cc = space.candidateDense.length;
  const sh = out.shared;
  ensureVector(sh, raw.sharedN + Cr * w);
  let s = 0;
  for (let k = 0; k < raw.sharedN; k++) {
    sh.indices[s] = raw.sharedIdx[k];
    sh.values[s] = 1;
    sh.fields![s++] = raw.sharedFld[k];
  }
  for (let j = 0; j < Cr; j++) s = space.emitDense(j, raw.sharedDense[j], sh.indices, sh.values, sh.fields, s);
  sh.nnz = s;
  const n = raw.n;
  const rows = out.rows;
  ensureRows(rows, n, raw.rowPtr[n] + n * Cc * w);
  rows.rows = n;
  const idx = rows.indices;
  const val = rows.values;
  const fld = rows.fields!;
  let e = 0;
  rows.indptr[0] = 0;
  for (let r = 0; r < n; r++) {
    for (let k = raw.rowPtr[r]; k < raw.rowPtr[r + 1]; k++) {
      idx[e] = raw.rowIdx[k];
      val[e] = 1;
      fld[e++] = raw.rowFld[k];
    }
    const d0 = r * Cc;
    for (let j = 0; j < Cc; j++) e = space.emitDense(Cr + j, raw.rowDense[d0 + j], idx, val, fld, e);
    rows.indptr[r + 1] = e;
  }
  out.dim = space.dim;
  return out;
}

function isPromise(x: unknown): x is Promise<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

/** Granularity of the finest level that can hold a window of `windowMs` (how often it changes). */
function levelGranularity(profiles: ProfileStore, windowMs: number): number {
  for (const l of profiles.levels) if (Math.ceil(windowMs / l.granularityMs) <= l.buckets) return l.granularityMs;
  throw new RangeError(`features: a window of ${windowMs} ms is longer than the profile store keeps (${profiles.maxWindowMs} ms)`);
}
