/**
 * Fused serving: the scores of `model.score(extractor.encode(state, cands))` without building the
 * sparse vectors, for rankers whose logit is additive over entries (`Ranker.additiveForm`: LR
 * and FM). Such a logit is a function of a few sums over a candidate's entries (Σ w·x, and for
 * FM Σ V·x per factor and Σ (V·x)²), and each sum splits over any partition of the entries. So
 * the entries are grouped by what they depend on, and each group's partial sums are computed
 * once where they can be:
 *
 *  - at construction (model / catalog load), per item: the item's own hashed entries (id,
 *    attributes), price and relative price; per generator set (and number of generators): the
 *    set's hashed entry and the missing indicators of the generators not in it; per continuous
 *    feature and small integer value (counts, ranks): the expanded entries; per continuous
 *    feature: its missing indicator. These depend on the model alone and are shared by every
 *    scorer of the model (one per scene);
 *  - per item, lazily, while the hour-level popularity buckets and the item's age in hours stay
 *    the same: its static part plus windowed popularity (windows answered by hour or day
 *    buckets) and age;
 *  - per cross and value of a categorical item attribute, lazily, while the request side keeps
 *    its value: the cross's entry (scene, device and hour crosses carry over between requests);
 *  - per request: the shared part (request entries, activity, display position); per value of
 *    the affinity attribute: its crosses and the user × category features (affinity per window,
 *    share, time since the category was touched). An item with one value adds that row; one
 *    with several adds, per feature, the row of the value attaining the maximum the feature
 *    takes over the item's values (the maps are monotone, so it is the same entry);
 *  - per candidate: the rest (generator scores and ranks, popularity over minute buckets, time
 *    since the item was touched): a handful of table rows added, a few entries computed.
 *
 * The entries are the ones `FeatureExtractor.encode` writes (the same request part, scratch,
 * raw values, normalisation and expansion), so the scores equal the two-pass ones up to float
 * rounding of the partial sums (float32 table rows; test/rank/fused.test.ts: logits within
 * ~1e-6). Rankers without an additive form and items outside the catalog take the two-pass
 * path.
 *
 * The tables snapshot the ranker's parameters: build a new scorer after changing them.
 */
import { HOUR_MS } from '../profiles/window.js';
import type { CandidateInfo, FeatureExtractor, FeatureSpace, RequestState } from './features.js';
import { bucketOf, hashCross } from './hash.js';
import type { RankingModel } from './model.js';
import { QuantileNormalizer } from './normalize.js';
import type { AdditiveForm, SparseVector } from './types.js';

/** Small integers whose expansion is tabulated per feature (as `FeatureSpace`'s CDF table). */
const INT_TABLE = 256;

/** Crosses of request sides with one categorical item attribute: partial sums per value. */
interface CrossGroup {
  /** Values of item i: codes[ptr[i] .. ptr[i+1]). */
  ptr: Int32Array;
  codes: Int32Array;
  /** Raw hash of each value (the cross's item side). */
  valueRaw: Int32Array;
  /** The crosses (indices in config.crosses). */
  crosses: Int32Array;
  /** Whether the attribute is the affinity field (its value rows can take the user's values too). */
  affinity: boolean;
}

/** Counts of proposing generators tabulated with the generator set. */
const COUNT_TABLE = 16;

/**
 * One head's parameters and tables. A = accumulator width: 1 (LR) or k + 2 (Σ w·x, Σ V·x per
 * factor, Σ (V·x)²); rows of the tables are A floats (the dynamic rows carry 2 more: their key).
 */
class HeadTables {
  readonly A: number;
  readonly k: number;
  readonly w: Float32Array;
  readonly V: Float32Array;
  readonly dim: number;
  /** Per item: own entries, price, relative price (the static part of the dynamic rows). */
  itemT: Float32Array;
  /** Per generator set (mask): its entry and the missing indicators of absent generators... */
  maskT: Float32Array;
  /** ... and with the number of generators c < COUNT_TABLE: row mask · COUNT_TABLE + c. */
  maskCountT: Float32Array;
  /** Per continuous feature j and integer x < INT_TABLE: the expansion of F_j(x). */
  intT: Float32Array;
  /** Per continuous feature: its missing indicator. */
  missT: Float32Array;
  /**
   * Per item, A + 2 floats: [popularity epoch, age in hours, the item's static row + popularity
   * + age]; recomputed when the epoch or the age differs.
   */
  dynT: Float32Array;
  /** Per cross group, per value: the crosses' entries, valid for the request stamp. */
  crossT: Float32Array[];
  crossStamp: Int32Array[];
  /**
   * Per cross (index in config.crosses, grouped ones only), per value: the cross's entry, valid
   * while the request side keeps its value (crossEpoch): scene, device and hour crosses carry
   * over from request to request, the user cross changes with the user.
   */
  oneT: Float32Array[];
  oneStamp: Int32Array[];
  /**
   * Per affinity value and user × category feature (affinity per window, share, time since the
   * category): the feature's entries as if the item had only that value, for this request.
   */
  userT: Float32Array;
  userStamp: Int32Array;
  /** Per affinity value: the crosses of the affinity group and every user × category feature, for items with that one value. */
  codeT: Float32Array;
  codeStamp: Int32Array;
  /** Σ_f V[i·k+f]² of the continuous features' indices i (FM). */
  readonly sq: Float64Array;
  /** The shared part (and the missing "time since the item" indicator), with and without the serving position. */
  readonly basePos: Float64Array;
  readonly baseNoPos: Float64Array;

  /** Whether the static tables came from another scorer of the same model (nothing to compute). */
  readonly shared: boolean;

  constructor(form: AdditiveForm, N: number, C: number, width: number, masks: number, groups: CrossGroup[], affSize: number, userFeatures: number, statics?: StaticTables) {
    this.k = form.k;
    this.A = form.k === 0 ? 1 : form.k + 2;
    this.w = form.w;
    this.V = form.V;
    this.dim = form.dim;
    const A = this.A;
    this.sq = new Float64Array(form.k > 0 ? width * C : 0);
    for (let i = 0; i < this.sq.length; i++) {
      let q = 0;
      for (let f = 0; f < form.k; f++) q += form.V[i * form.k + f] * form.V[i * form.k + f];
      this.sq[i] = q;
    }
    this.shared = statics !== undefined;
    const st = statics ?? {
      itemT: new Float32Array(N * A),
      maskT: new Float32Array(masks * A),
      maskCountT: new Float32Array(masks * COUNT_TABLE * A),
      intT: new Float32Array(C * INT_TABLE * A),
      missT: new Float32Array(C * A),
    };
    this.itemT = st.itemT;
    this.maskT = st.maskT;
    this.maskCountT = st.maskCountT;
    this.intT = st.intT;
    this.missT = st.missT;
    this.dynT = new Float32Array(N * (A + 2)).fill(NaN);
    this.crossT = groups.map((g) => new Float32Array(g.valueRaw.length * A));
    this.crossStamp = groups.map((g) => new Int32Array(g.valueRaw.length).fill(-1));
    this.oneT = [];
    this.oneStamp = [];
    for (const g of groups) {
      for (const x of g.crosses) {
        this.oneT[x] = new Float32Array(g.valueRaw.length * A);
        this.oneStamp[x] = new Int32Array(g.valueRaw.length).fill(-1);
      }
    }
    this.userT = new Float32Array(affSize * userFeatures * A);
    this.userStamp = new Int32Array(affSize).fill(-1);
    this.codeT = new Float32Array(affSize * A);
    this.codeStamp = new Int32Array(affSize).fill(-1);
    this.basePos = new Float64Array(A);
    this.baseNoPos = new Float64Array(A);
  }
}

/** The tables that depend on the model alone (shared by the scorers of one model). */
type StaticTables = Pick<HeadTables, 'itemT' | 'maskT' | 'maskCountT' | 'intT' | 'missT'>;

/** Static tables per model and head: every scene scoring with one model shares them. */
const STATIC = new WeakMap<RankingModel, StaticTables[]>();

/** acc += entry (i, x) of a head. */
function addEntry(t: HeadTables, acc: Float64Array, i: number, x: number): void {
  acc[0] += t.w[i] * x;
  const k = t.k;
  if (k === 0) return;
  const V = t.V;
  const o = i * k;
  if (k === 8) {
    const v0 = V[o] * x, v1 = V[o + 1] * x, v2 = V[o + 2] * x, v3 = V[o + 3] * x;
    const v4 = V[o + 4] * x, v5 = V[o + 5] * x, v6 = V[o + 6] * x, v7 = V[o + 7] * x;
    acc[1] += v0; acc[2] += v1; acc[3] += v2; acc[4] += v3; acc[5] += v4; acc[6] += v5; acc[7] += v6; acc[8] += v7;
    acc[9] += v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3 + v4 * v4 + v5 * v5 + v6 * v6 + v7 * v7;
    return;
  }
  let q = 0;
  for (let f = 0; f < k; f++) {
    const v = V[o + f] * x;
    acc[1 + f] += v;
    q += v * v;
  }
  acc[k + 1] += q;
}

/** acc += T[o .. o + A) (unrolled for LR and FM with k = 8). */
function addRow(acc: Float64Array, T: Float32Array, o: number, A: number): void {
  if (A === 1) acc[0] += T[o];
  else if (A === 10) {
    acc[0] += T[o]; acc[1] += T[o + 1]; acc[2] += T[o + 2]; acc[3] += T[o + 3]; acc[4] += T[o + 4];
    acc[5] += T[o + 5]; acc[6] += T[o + 6]; acc[7] += T[o + 7]; acc[8] += T[o + 8]; acc[9] += T[o + 9];
  } else for (let a = 0; a < A; a++) acc[a] += T[o + a];
}

/** acc = b (A entries). */
function setRow(acc: Float64Array, b: Float64Array, A: number): void {
  if (A === 1) acc[0] = b[0];
  else if (A === 10) {
    acc[0] = b[0]; acc[1] = b[1]; acc[2] = b[2]; acc[3] = b[3]; acc[4] = b[4];
    acc[5] = b[5]; acc[6] = b[6]; acc[7] = b[7]; acc[8] = b[8]; acc[9] = b[9];
  } else for (let a = 0; a < A; a++) acc[a] = b[a];
}

function storeRow(T: Float32Array, o: number, acc: Float64Array, A: number): void {
  for (let a = 0; a < A; a++) T[o + a] = acc[a];
}

/** The logit from the sums. */
function finish(acc: Float64Array, k: number): number {
  if (k === 0) return acc[0];
  if (k === 8) {
    const s1 = acc[1], s2 = acc[2], s3 = acc[3], s4 = acc[4], s5 = acc[5], s6 = acc[6], s7 = acc[7], s8 = acc[8];
    return acc[0] + 0.5 * (s1 * s1 + s2 * s2 + s3 * s3 + s4 * s4 + s5 * s5 + s6 * s6 + s7 * s7 + s8 * s8 - acc[9]);
  }
  let pair = 0;
  for (let f = 1; f <= k; f++) pair += acc[f] * acc[f];
  return acc[0] + 0.5 * (pair - acc[k + 1]);
}

export class FusedScorer {
  /** Whether scores come from the tables (false: `model.score(extractor.encode(...))`). */
  readonly fused: boolean;
  private readonly space: FeatureSpace;
  private readonly norm: QuantileNormalizer;
  private readonly heads: HeadTables[] = [];
  /** Head index of each table set. */
  private readonly headOf: number[] = [];
  private readonly groups: CrossGroup[] = [];
  /** The cross group over the affinity field, or -1. */
  private readonly affGroup: number = -1;
  /** Crosses whose item side has no value codes (the item itself, numeric attributes). */
  private readonly directCrosses: number[] = [];
  private readonly acc: Float64Array;
  private readonly acc2: Float64Array;
  /** Scratch of the fills (acc2: rows of one feature; acc3: the rows summing them). */
  private readonly acc3: Float64Array;
  private readonly sh: SparseVector = { nnz: 0, indices: new Int32Array(32), values: new Float32Array(32), fields: new Uint8Array(32) };
  private logits: Float32Array[] = [];
  private readonly genScore: Float64Array;
  private readonly genRank: Float64Array;
  private readonly slot = new Float64Array(2);
  /** One bit per item: touched by the request's user. */
  private readonly touched: Uint32Array;
  private stamp = 0;
  /** Per cross: the request side's raw hash its value rows were computed for, and their epoch. */
  private readonly crossKey: Float64Array;
  private readonly crossEpoch: Int32Array;
  /**
   * Popularity specs whose arrays change at least hourly go into the items' dynamic rows; the
   * ones that change more often (windows answered by minute buckets) are read per candidate,
   * so that their refresh does not recompute every row.
   */
  private readonly slowSpecs: Int32Array;
  private readonly fastSpecs: Int32Array;
  /** The popularity columns of the slow specs. */
  private readonly slowCols: Int32Array;
  /** Popularity epoch: changes with any slow column's array (kept below 2^24, stored in float32 rows). */
  private epoch = 0;
  private epochPops: (Float32Array | undefined)[] = [];
  /** Per generator slot: its name (a linear scan beats a Map for a few names). */
  private readonly genNames: string[];
  /** User × category features: affinity per window, share (with a window), time since the category. */
  private readonly userFeatures: number;

  constructor(
    readonly model: RankingModel,
    readonly extractor: FeatureExtractor,
  ) {
    if (extractor.space !== model.space) throw new RangeError("fused scorer: the extractor must use the model's feature space");
    const sp = model.space;
    this.space = sp;
    const c = sp.config;
    this.genNames = [...c.generators];
    this.touched = new Uint32Array((sp.catalog.size + 31) >>> 5);
    this.crossKey = new Float64Array(c.crosses.length).fill(NaN);
    this.crossEpoch = new Int32Array(c.crosses.length);
    this.genScore = new Float64Array(c.generators.length);
    this.genRank = new Float64Array(c.generators.length);
    const nAff = c.affinity.windowsMs.length;
    this.userFeatures = nAff + (nAff > 0 ? 1 : 0) + 1;
    const slow: number[] = [];
    const fast: number[] = [];
    const cols = new Set<number>();
    for (let s = 0; s < c.popularity.length; s++) {
      if (extractor.specGranularity[s] >= HOUR_MS) {
        slow.push(s);
        cols.add(extractor.specCols[2 * s]);
        if (extractor.specCols[2 * s + 1] >= 0) cols.add(extractor.specCols[2 * s + 1]);
      } else fast.push(s);
    }
    this.slowSpecs = Int32Array.from(slow);
    this.fastSpecs = Int32Array.from(fast);
    this.slowCols = Int32Array.from(cols);
    this.epochPops = slow.length ? Array.from(cols, () => undefined) : [];
    const ranker = model.ranker;
    this.fused = typeof ranker.additiveForm === 'function' && sp.normalizer !== undefined;
    this.norm = sp.normalizer ?? QuantileNormalizer.identity([]);
    let A = 1;
    if (this.fused) {
      // crosses grouped by item side: categorical attributes get per-value partial sums
      const bySide = new Map<string, number[]>();
      c.crosses.forEach(([, b], x) => {
        const col = b === 'item' ? undefined : sp.catalog.column(b);
        if (!col || col.kind !== 'categorical') {
          this.directCrosses.push(x);
          return;
        }
        const l = bySide.get(b) ?? [];
        l.push(x);
        bySide.set(b, l);
      });
      const affCol = sp.catalog.column(c.affinity.field);
      for (const [name, xs] of bySide) {
        const col = sp.catalog.column(name)!;
        if (col.kind !== 'categorical') continue;
        const side = sp.crossItem[xs[0]];
        const valueRaw = new Int32Array(col.dictionary.length);
        // the raw hashes the space derived, by value (side.raw is aligned with the codes)
        const codes = col.codes;
        for (let p = 0; p < side.raw.length; p++) valueRaw[codes[p]] = side.raw[p];
        const affinity = col === affCol && side.ptr.length === sp.affPtr.length && side.ptr.every((v, i) => v === sp.affPtr[i]);
        if (affinity) this.affGroup = this.groups.length;
        this.groups.push({ ptr: side.ptr, codes, valueRaw, crosses: Int32Array.from(xs), affinity });
      }
      for (let h = 0; h < ranker.heads.length; h++) {
        if (model.weights[h] === 0) continue;
        const t = this.build(ranker.additiveForm!(h), h);
        this.heads.push(t);
        this.headOf.push(h);
        A = Math.max(A, t.A);
      }
    }
    this.acc = new Float64Array(A);
    this.acc2 = new Float64Array(A);
    this.acc3 = new Float64Array(A);
  }

  /** The per-item, per-set and per-value tables of one head. */
  private build(form: AdditiveForm, head: number): HeadTables {
    const sp = this.space;
    const c = sp.config;
    const N = sp.catalog.size;
    const C = sp.denseSize;
    const Cr = sp.requestDense.length;
    const G = c.generators.length;
    const D = sp.D;
    let statics = STATIC.get(this.model);
    if (!statics) STATIC.set(this.model, (statics = []));
    const t = new HeadTables(form, N, C, sp.width, G > 0 ? 2 ** G : 0, this.groups, sp.affSize, this.userFeatures, statics[head]);
    if (t.shared) return t;
    const A = t.A;
    const acc = new Float64Array(A);
    // continuous features: integer values and missing indicators
    for (let j = 0; j < C; j++) {
      for (let x = 0; x < INT_TABLE; x++) {
        acc.fill(0);
        this.addDense(t, acc, j, sp.cdf(j, x));
        storeRow(t.intT, (j * INT_TABLE + x) * A, acc, A);
      }
      acc.fill(0);
      addEntry(t, acc, sp.missingBase + j, 1);
      storeRow(t.missT, j * A, acc, A);
    }
    // generator sets (and counts)
    for (let m = 0; m < 2 ** G && G > 0; m++) {
      acc.fill(0);
      addEntry(t, acc, sp.genSetIdx[m], 1);
      for (let g = 0; g < G; g++) {
        if (m & (1 << g)) continue;
        addEntry(t, acc, sp.missingBase + Cr + D.genScore + g, 1);
        addEntry(t, acc, sp.missingBase + Cr + D.genRank + g, 1);
      }
      storeRow(t.maskT, m * A, acc, A);
      for (let n = 0; n < COUNT_TABLE; n++) {
        const a2 = new Float64Array(acc);
        this.addValue(t, a2, Cr + D.genCount, n);
        storeRow(t.maskCountT, (m * COUNT_TABLE + n) * A, a2, A);
      }
    }
    // items: own entries, price and relative price
    const jp = Cr + D.price;
    const jr = Cr + D.priceRel;
    for (let i = 0; i < N; i++) {
      acc.fill(0);
      for (let p = sp.itemPtr[i]; p < sp.itemPtr[i + 1]; p++) addEntry(t, acc, sp.itemIdx[p], 1);
      const u = sp.priceU[i];
      if (u === u) this.addDense(t, acc, jp, u);
      else addEntry(t, acc, sp.missingBase + jp, 1);
      const v = sp.priceRelU[i];
      if (v === v) this.addDense(t, acc, jr, v);
      else addEntry(t, acc, sp.missingBase + jr, 1);
      storeRow(t.itemT, i * A, acc, A);
    }
    statics[head] = { itemT: t.itemT, maskT: t.maskT, maskCountT: t.maskCountT, intT: t.intT, missT: t.missT };
    return t;
  }

  /** acc += the expansion of the normalised value u of continuous feature j (as `emitNormalized`). */
  private addDense(t: HeadTables, acc: Float64Array, j: number, u: number): void {
    const w = this.space.width;
    if (w === 1) {
      addEntry(t, acc, j, u);
      return;
    }
    const i = 3 * j;
    const x1 = Math.fround(u * u);
    const x2 = Math.fround(Math.sqrt(u));
    const k = t.k;
    if (k === 0) {
      const W = t.w;
      acc[0] += W[i] * u + W[i + 1] * x1 + W[i + 2] * x2;
    } else if (k === 8) {
      // the three entries at once; Σ_f (V·x)² = x²·Σ_f V² per entry
      const W = t.w;
      const V = t.V;
      const o = i * 8;
      acc[0] += W[i] * u + W[i + 1] * x1 + W[i + 2] * x2;
      for (let f = 0; f < 8; f++) acc[1 + f] += V[o + f] * u + V[o + 8 + f] * x1 + V[o + 16 + f] * x2;
      const sq = t.sq;
      acc[9] += sq[i] * u * u + sq[i + 1] * x1 * x1 + sq[i + 2] * x2 * x2;
    } else {
      addEntry(t, acc, i, u);
      addEntry(t, acc, i + 1, x1);
      addEntry(t, acc, i + 2, x2);
    }
  }

  /** acc += the entries of continuous feature j with the float32 raw value v (as `emitSlot`). */
  private addValue(t: HeadTables, acc: Float64Array, j: number, v: number): void {
    const A = t.A;
    if (v !== v) addRow(acc, t.missT, j * A, A);
    else if (v >= 0 && v < INT_TABLE && (v | 0) === v) addRow(acc, t.intT, (j * INT_TABLE + v) * A, A);
    else this.addDense(t, acc, j, Math.fround(this.norm.cdf(j, v))); // = normalizeSlot off the integer table
  }

  /**
   * The combined, calibrated scores of the candidates (`out`, default a new array), equal to
   * `model.score(extractor.encode(state, cands))` up to float rounding.
   */
  score(state: RequestState, cands: ArrayLike<CandidateInfo>, out?: Float32Array): Float32Array {
    const n = cands.length;
    const res = out ?? new Float32Array(n);
    const ex = this.extractor;
    if (!this.fused) return this.model.score(ex.encode(state, cands), res);
    if (n === 0) return res;
    if (this.logits.length === 0 || this.logits[0].length < n) this.logits = this.model.ranker.heads.map(() => new Float32Array(Math.max(64, n)));
    // the request part, the user's scratch, the caches' validity
    const sn = ex.requestPart(state);
    ex.emitShared(state, sn, this.sh);
    ex.scatterUser(state);
    // the user's touched items as bits (a bit test per candidate instead of a read of touchItem)
    const N = this.space.catalog.size;
    const ri = state.recentItems;
    const touched = this.touched;
    for (let q = 0; q < ri.length; q++) {
      const it = ri[q];
      if (it >= 0 && it < N) touched[it >>> 5] |= 1 << (it & 31);
    }
    this.stamp = (this.stamp + 1) | 0;
    const rr = ex.reqRaw;
    const crossReq = this.space.crossReq;
    for (let x = 0; x < this.crossKey.length; x++) {
      const a = rr[crossReq[x]];
      if (a !== this.crossKey[x]) {
        this.crossKey[x] = a;
        this.crossEpoch[x] = (this.crossEpoch[x] + 1) | 0;
      }
    }
    const pops = state.popularity;
    for (let s = 0; s < this.slowCols.length; s++) {
      // a new array per popularity column and bucket (FeatureExtractor.refreshPopularity)
      const col = pops[this.slowCols[s]];
      if (this.epochPops[s] !== col) {
        this.epochPops[s] = col;
        this.epoch = (this.epoch + 1) & 0xffffff;
      }
    }
    let known = true;
    try {
      for (let h = 0; h < this.heads.length && known; h++) known = this.scoreHead(this.heads[h], state, cands, this.logits[this.headOf[h]]);
    } finally {
      ex.resetUser(state);
      for (let q = 0; q < ri.length; q++) {
        const it = ri[q];
        if (it >= 0 && it < N) touched[it >>> 5] = 0;
      }
    }
    // an item outside the catalog (no tables): the two-pass path, which handles it
    if (!known) return this.model.score(ex.encode(state, cands), res);
    return this.model.scoreLogits(this.logits, n, res);
  }

  /** The logits of one head into z; false (at once) when a candidate's item is outside the catalog. */
  private scoreHead(t: HeadTables, state: RequestState, cands: ArrayLike<CandidateInfo>, z: Float32Array): boolean {
    const sp = this.space;
    const ex = this.extractor;
    const c = sp.config;
    const D = sp.D;
    const A = t.A;
    const R = A + 2;
    const k = t.k;
    const Cr = sp.requestDense.length;
    const G = c.generators.length;
    const n = cands.length;
    const now = state.info.now;
    const acc = this.acc;
    const jSinceItem = Cr + D.sinceItem;
    // shared part: bias, request entries and activity, the missing "time since the item"
    // (most items; the others subtract it), display position
    const bNo = t.baseNoPos;
    bNo.fill(0);
    bNo[0] = t.w[t.dim];
    const sh = this.sh;
    for (let e = 0; e < sh.nnz; e++) addEntry(t, bNo, sh.indices[e], sh.values[e]);
    addRow(bNo, t.missT, jSinceItem * A, A);
    const bPos = t.basePos;
    bPos.set(bNo);
    addEntry(t, bPos, sp.positionIndex(c.servePosition), 1);
    const touchItem = ex.touchItem;
    const affPtr = sp.affPtr;
    const affCodes = sp.affCodes;
    const created = sp.catalog.createdAt;
    const groups = this.groups;
    const affGroup = this.affGroup;
    const stamp = this.stamp;
    const epoch = this.epoch;
    const genNames = this.genNames;
    const gs = this.genScore;
    const gr = this.genRank;
    const dynT = t.dynT;
    const maskT = t.maskT;
    const maskCountT = t.maskCountT;
    const codeT = t.codeT;
    const codeStamp = t.codeStamp;
    const jGenScore = Cr + D.genScore;
    const jGenRank = Cr + D.genRank;
    const N = sp.catalog.size;
    const touched = this.touched;
    const fastSpecs = this.fastSpecs;
    const pops = state.popularity;
    const sc = ex.specCols;
    const jPop = Cr + D.pop;
    for (let r = 0; r < n; r++) {
      const cand = cands[r];
      const item = cand.item;
      if (!(item >= 0 && item < N)) return false;
      const pos = cand.position;
      if (pos === undefined) setRow(acc, bPos, A);
      else {
        setRow(acc, bNo, A);
        addEntry(t, acc, sp.positionIndex(pos), 1);
      }
      // the item's static part, popularity and age: per item, per popularity epoch and age
      const ct = created[item];
      const age = ct === ct ? Math.fround(Math.floor((now - ct) / HOUR_MS)) : -1; // -1: missing (an item is always or never dated)
      const o = item * R;
      if (dynT[o] !== epoch || dynT[o + 1] !== age) this.fillDyn(t, state, item, ct === ct ? age : NaN);
      addRow(acc, dynT, o + 2, A);
      for (let q = 0; q < fastSpecs.length; q++) {
        const sp2 = fastSpecs[q];
        const num = pops[sc[2 * sp2]][item];
        const den = sc[2 * sp2 + 1];
        this.addValue(t, acc, jPop + sp2, Math.fround(den < 0 ? num : num / (pops[den][item] + 1)));
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
            const name = pv.generator;
            let slot = 0;
            while (slot < G && genNames[slot] !== name) slot++;
            if (slot === G) continue;
            mask |= 1 << slot;
            gs[slot] = pv.score;
            gr[slot] = pv.rank;
          }
        }
        if (count < COUNT_TABLE) addRow(acc, maskCountT, (mask * COUNT_TABLE + count) * A, A);
        else {
          addRow(acc, maskT, mask * A, A);
          this.addValue(t, acc, Cr + D.genCount, count);
        }
        for (let g = 0; mask >> g; g++) {
          if (!(mask & (1 << g))) continue;
          this.addValue(t, acc, jGenScore + g, Math.fround(gs[g]));
          this.addValue(t, acc, jGenRank + g, Math.fround(gr[g]));
        }
      }
      // request × attribute crosses per value, with the user × category values for items with
      // one value of the affinity field
      const a0 = affPtr[item];
      const a1 = affPtr[item + 1];
      const one = a1 - a0 === 1;
      for (let x = 0; x < groups.length; x++) {
        if (x === affGroup && one) continue;
        const gp = groups[x];
        const T = t.crossT[x];
        const st = t.crossStamp[x];
        for (let p = gp.ptr[item]; p < gp.ptr[item + 1]; p++) {
          const code = gp.codes[p];
          if (st[code] !== stamp) this.fillCross(t, x, code);
          addRow(acc, T, code * A, A);
        }
      }
      if (this.directCrosses.length) this.addDirectCrosses(t, acc, item);
      if (one) {
        const code = affCodes[a0];
        if (codeStamp[code] !== stamp) this.fillCode(t, state, code);
        addRow(acc, codeT, code * A, A);
      } else if (a1 > a0) this.addUserRows(t, acc, state, a0, a1);
      else this.addUserValues(t, acc, state, a0, a1);
      if (touched[item >>> 5] & (1 << (item & 31))) {
        const ti = touchItem[item];
        this.addValue(t, acc, jSinceItem, Math.fround((now - ti) / 1000));
        subRow(acc, t.missT, jSinceItem * A, A);
      }
      z[r] = finish(acc, k);
    }
    return true;
  }

  /** Affinity (per window), share and time since the category, for the codes [a0, a1) of an item. */
  private addUserValues(t: HeadTables, acc: Float64Array, state: RequestState, a0: number, a1: number): void {
    const sp = this.space;
    const ex = this.extractor;
    const Cr = sp.requestDense.length;
    const D = sp.D;
    const codes = sp.affCodes;
    const nAff = state.affinity.length;
    const known = state.info.user >= 0;
    let lastAff = 0;
    for (let a = 0; a < nAff; a++) {
      let best = 0;
      const ad = ex.affDense[a];
      for (let p = a0; p < a1; p++) {
        const v = ad[codes[p]];
        if (v > best) best = v;
      }
      this.addValue(t, acc, Cr + D.aff + a, known ? Math.fround(best) : NaN);
      lastAff = best;
    }
    const total = nAff ? state.affinity[nAff - 1].total : 0;
    if (nAff > 0) this.addValue(t, acc, Cr + D.affShare, total > 0 ? Math.fround(lastAff / total) : NaN);
    let tc = -Infinity;
    for (let p = a0; p < a1; p++) {
      const v = ex.touchCode[codes[p]];
      if (v > tc) tc = v;
    }
    this.addValue(t, acc, Cr + D.sinceCat, tc > -Infinity ? Math.fround((state.info.now - tc) / 1000) : NaN);
  }

  /** The rows of the user × category features of an affinity value, for this request. */
  private fillUser(t: HeadTables, state: RequestState, code: number): void {
    const sp = this.space;
    const ex = this.extractor;
    const A = t.A;
    const U = this.userFeatures;
    const Cr = sp.requestDense.length;
    const D = sp.D;
    const nAff = state.affinity.length;
    const known = state.info.user >= 0;
    const acc = this.acc2;
    let o = code * U * A;
    // the values `addUserValues` gives an item with this one value
    let last = 0;
    for (let a = 0; a < nAff; a++) {
      const v = ex.affDense[a][code];
      const best = v > 0 ? v : 0;
      acc.fill(0);
      this.addValue(t, acc, Cr + D.aff + a, known ? Math.fround(best) : NaN);
      storeRow(t.userT, o, acc, A);
      o += A;
      last = best;
    }
    if (nAff > 0) {
      const total = state.affinity[nAff - 1].total;
      acc.fill(0);
      this.addValue(t, acc, Cr + D.affShare, total > 0 ? Math.fround(last / total) : NaN);
      storeRow(t.userT, o, acc, A);
      o += A;
    }
    const tc = ex.touchCode[code];
    acc.fill(0);
    this.addValue(t, acc, Cr + D.sinceCat, tc > -Infinity ? Math.fround((state.info.now - tc) / 1000) : NaN);
    storeRow(t.userT, o, acc, A);
    t.userStamp[code] = this.stamp;
  }

  /**
   * The user × category features of an item with several affinity values: each is a maximum
   * over the values (monotone maps), so it is the row of the value that attains it.
   */
  private addUserRows(t: HeadTables, acc: Float64Array, state: RequestState, a0: number, a1: number): void {
    const ex = this.extractor;
    const codes = this.space.affCodes;
    const A = t.A;
    const U = this.userFeatures;
    const nAff = state.affinity.length;
    for (let p = a0; p < a1; p++) if (t.userStamp[codes[p]] !== this.stamp) this.fillUser(t, state, codes[p]);
    let f = 0;
    for (let a = 0; a < nAff; a++, f++) {
      const ad = ex.affDense[a];
      let arg = codes[a0];
      for (let p = a0 + 1; p < a1; p++) if (ad[codes[p]] > ad[arg]) arg = codes[p];
      addRow(acc, t.userT, (arg * U + f) * A, A);
      if (a === nAff - 1) addRow(acc, t.userT, (arg * U + nAff) * A, A); // the share follows the last window
    }
    if (nAff > 0) f++;
    const tcs = ex.touchCode;
    let arg = codes[a0];
    for (let p = a0 + 1; p < a1; p++) if (tcs[codes[p]] > tcs[arg] || tcs[arg] !== tcs[arg]) arg = codes[p];
    addRow(acc, t.userT, (arg * U + f) * A, A);
  }

  /** The row of an affinity value for this request: the affinity group's crosses and the user × category features. */
  private fillCode(t: HeadTables, state: RequestState, code: number): void {
    const A = t.A;
    const U = this.userFeatures;
    if (t.userStamp[code] !== this.stamp) this.fillUser(t, state, code);
    const acc = this.acc3;
    acc.fill(0);
    if (this.affGroup >= 0) this.addCrosses(t, acc, this.affGroup, code);
    for (let f = 0; f < U; f++) addRow(acc, t.userT, (code * U + f) * A, A);
    storeRow(t.codeT, code * A, acc, A);
    t.codeStamp[code] = this.stamp;
  }

  /** Popularity (every spec) and age of an item, with its static row, into its dynamic row. */
  private fillDyn(t: HeadTables, state: RequestState, item: number, age: number): void {
    const sp = this.space;
    const A = t.A;
    const acc = this.acc2;
    for (let a = 0; a < A; a++) acc[a] = t.itemT[item * A + a];
    const pops = state.popularity;
    const sc = this.extractor.specCols;
    const Cr = sp.requestDense.length;
    const jp = Cr + sp.D.pop;
    const s2 = this.slot;
    for (let q = 0; q < this.slowSpecs.length; q++) {
      const s = this.slowSpecs[q];
      const num = pops[sc[2 * s]][item];
      const den = sc[2 * s + 1];
      s2[0] = Math.fround(den < 0 ? num : num / (pops[den][item] + 1));
      sp.normalizeSlot(jp + s, s2);
      this.addDense(t, acc, jp + s, s2[1]);
    }
    this.addValue(t, acc, Cr + sp.D.age, age);
    const o = item * (A + 2);
    t.dynT[o] = this.epoch;
    t.dynT[o + 1] = age === age ? age : -1;
    storeRow(t.dynT, o + 2, acc, A);
  }

  /** acc += the entries of every cross of group x with value `code`, for this request. */
  private addCrosses(t: HeadTables, acc: Float64Array, x: number, code: number): void {
    const sp = this.space;
    const gp = this.groups[x];
    const A = t.A;
    for (let q = 0; q < gp.crosses.length; q++) {
      const cx = gp.crosses[q];
      const T = t.oneT[cx];
      if (t.oneStamp[cx][code] !== this.crossEpoch[cx]) {
        const a2 = this.acc2;
        a2.fill(0);
        addEntry(t, a2, bucketOf(hashCross(this.crossKey[cx], gp.valueRaw[code]), sp.hashBase, sp.hashSize), 1);
        storeRow(T, code * A, a2, A);
        t.oneStamp[cx][code] = this.crossEpoch[cx];
      }
      addRow(acc, T, code * A, A);
    }
  }

  private fillCross(t: HeadTables, x: number, code: number): void {
    const acc = this.acc3;
    acc.fill(0);
    this.addCrosses(t, acc, x, code);
    storeRow(t.crossT[x], code * t.A, acc, t.A);
    t.crossStamp[x][code] = this.stamp;
  }

  /** Crosses whose item side has no value codes, entry by entry. */
  private addDirectCrosses(t: HeadTables, acc: Float64Array, item: number): void {
    const sp = this.space;
    const rr = this.extractor.reqRaw;
    for (const x of this.directCrosses) {
      const a = rr[sp.crossReq[x]];
      const side = sp.crossItem[x];
      for (let p = side.ptr[item]; p < side.ptr[item + 1]; p++) addEntry(t, acc, bucketOf(hashCross(a, side.raw[p]), sp.hashBase, sp.hashSize), 1);
    }
  }
}

function subRow(acc: Float64Array, T: Float32Array, o: number, A: number): void {
  for (let a = 0; a < A; a++) acc[a] -= T[o + a];
}
