/**
 * Training samples for the ranker, without leakage.
 *
 * 1. Labels (`joinLabels`): every logged impression is joined with the clicks and conversions
 *    that FOLLOW it: by request id and item when the later event carries the impression's
 *    request id, else by user and item, to the latest impression of that item to that user
 *    at most `clickWindowMs` (`conversionWindowMs`) before the event.
 * 2. Features (`buildSamples`): the whole log is replayed in time order through a fresh
 *    ProfileStore; the impressions of each request are featurised through the serving code
 *    path (`FeatureExtractor.fetch` + `extractRaw`) BEFORE any event at or after their
 *    timestamp is applied to the profiles. So a sample's features are those the ranker would
 *    have seen when the impression was served, and no later event (its own click included)
 *    can change them. Samples keep raw values; `encodeSamples` turns them into vectors with
 *    the same `encodeRaw` logic serving uses (identical vectors for the same event).
 *
 * Logged events come from the store (`loggedEventsFromStore`: the timelines carry the request
 * id, position, scene, device and, when serving logged it, the generators' provenance as
 * `context.sources`), from `funnel synth` batches or from event objects.
 */
import type { Event, StoredEvent } from '../data/model.js';
import { SYNTH_DEVICES, SYNTH_EVENT_TYPES, SYNTH_SCENES, NO_SCENE, type SynthEventBatch } from '../data/synth.js';
import type { Provenance } from '../funnel/types.js';
import type { ProfileStore } from '../profiles/types.js';
import { DAY_MS } from '../profiles/window.js';
import type { Store } from '../store/types.js';
import { decodeSources, type CandidateInfo, type FeatureExtractor, type FeatureSpace, type RawBatch } from './features.js';
import { QuantileNormalizer } from './normalize.js';
import type { LabeledRows } from './types.js';

type Awaitable<T> = T | Promise<T>;

// ---------------------------------------------------------------------------------------------
// Logged events
// ---------------------------------------------------------------------------------------------

/** Logged events in columns (any order; the sample builder sorts them by time, stably). */
export interface LoggedEvents {
  length: number;
  user: Int32Array;
  item: Int32Array;
  /** Index into typeNames. */
  type: Uint16Array;
  typeNames: string[];
  /** Epoch ms. */
  timestamp: Float64Array;
  /** Request code (equal codes: same request), -1 when the event has no request id. */
  request: Float64Array;
  /** Display position, -1 when none. */
  position: Int32Array;
  /** Index into sceneNames, -1 when none. */
  scene: Int32Array;
  sceneNames: string[];
  /** Index into deviceNames, -1 when none. */
  device: Int32Array;
  deviceNames: string[];
  /** Generator provenance of impressions, when it was logged. */
  sources?: (readonly Provenance[] | undefined)[];
}

/** Accumulates logged events column by column (strings interned). */
export class LoggedEventsBuilder {
  private n = 0;
  private cap = 1024;
  private cols = {
    user: new Int32Array(1024),
    item: new Int32Array(1024),
    type: new Uint16Array(1024),
    timestamp: new Float64Array(1024),
    request: new Float64Array(1024),
    position: new Int32Array(1024),
    scene: new Int32Array(1024),
    device: new Int32Array(1024),
  };
  private readonly types = new Interner();
  private readonly scenes = new Interner();
  private readonly devices = new Interner();
  private readonly requests = new Map<string, number>();
  private sources: (readonly Provenance[] | undefined)[] | undefined;

  private grow(): void {
    this.cap *= 2;
    const g = <T extends Int32Array | Uint16Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(this.cap);
      b.set(a);
      return b;
    };
    const c = this.cols;
    this.cols = {
      user: g(c.user), item: g(c.item), type: g(c.type), timestamp: g(c.timestamp),
      request: g(c.request), position: g(c.position), scene: g(c.scene), device: g(c.device),
    };
  }

  /** Adds one event (indices already resolved). Request ids are interned to codes. */
  add(e: {
    user: number; item: number; type: string; timestamp: number;
    requestId?: string | number; position?: number; scene?: string; device?: string; sources?: readonly Provenance[];
  }): void {
    if (!Number.isInteger(e.user) || e.user < 0) throw new RangeError(`samples: user index must be a non-negative integer, got ${e.user}`);
    if (!Number.isInteger(e.item) || e.item < 0) throw new RangeError(`samples: item index must be a non-negative integer, got ${e.item}`);
    if (!Number.isFinite(e.timestamp)) throw new RangeError(`samples: timestamp must be a finite epoch ms, got ${e.timestamp}`);
    if (this.n === this.cap) this.grow();
    const c = this.cols;
    const j = this.n++;
    c.user[j] = e.user;
    c.item[j] = e.item;
    c.type[j] = this.types.code(e.type);
    c.timestamp[j] = e.timestamp;
    let req = -1;
    if (e.requestId !== undefined && e.requestId !== '') {
      const key = String(e.requestId);
      let r = this.requests.get(key);
      if (r === undefined) {
        r = this.requests.size;
        this.requests.set(key, r);
      }
      req = r;
    }
    c.request[j] = req;
    c.position[j] = e.position !== undefined && Number.isInteger(e.position) && e.position >= 0 ? e.position : -1;
    c.scene[j] = e.scene ? this.scenes.code(e.scene) : -1;
    c.device[j] = e.device ? this.devices.code(e.device) : -1;
    if (e.sources) {
      this.sources ??= [];
      this.sources[j] = e.sources;
    }
  }

  build(): LoggedEvents {
    const n = this.n;
    const c = this.cols;
    const out: LoggedEvents = {
      length: n,
      user: c.user.slice(0, n),
      item: c.item.slice(0, n),
      type: c.type.slice(0, n),
      typeNames: this.types.names,
      timestamp: c.timestamp.slice(0, n),
      request: c.request.slice(0, n),
      position: c.position.slice(0, n),
      scene: c.scene.slice(0, n),
      sceneNames: this.scenes.names,
      device: c.device.slice(0, n),
      deviceNames: this.devices.names,
    };
    if (this.sources) {
      this.sources.length = n;
      out.sources = this.sources;
    }
    return out;
  }
}

class Interner {
  readonly names: string[] = [];
  private readonly map = new Map<string, number>();
  code(s: string): number {
    let c = this.map.get(s);
    if (c === undefined) {
      c = this.names.length;
      this.names.push(s);
      this.map.set(s, c);
    }
    return c;
  }
}

/** Logged events from event objects with their dense indices (stored events fit). */
export function loggedEventsFromEvents(events: Iterable<(Event & { userIdx: number; itemIdx: number }) | StoredEvent>): LoggedEvents {
  const b = new LoggedEventsBuilder();
  for (const e of events) {
    addStored(b, e);
  }
  return b.build();
}

/** Adds one stored event (its context: request id, position, scene, device, sources). */
function addStored(b: LoggedEventsBuilder, e: (Event & { userIdx: number; itemIdx: number }) | StoredEvent): void {
  const ctx = e.context ?? {};
  b.add({
    user: e.userIdx,
    item: e.itemIdx,
    type: e.type,
    timestamp: e.timestamp,
    ...(ctx.requestId !== undefined ? { requestId: ctx.requestId } : {}),
    ...(typeof ctx.position === 'number' ? { position: ctx.position } : {}),
    ...(typeof ctx.scene === 'string' ? { scene: ctx.scene } : {}),
    ...(typeof ctx.device === 'string' ? { device: ctx.device } : {}),
    ...(ctx.sources !== undefined ? { sources: decodeSources(ctx.sources) } : {}),
  });
}

/** Logged events from `funnel synth` batches (the ground-truth generator's columns). */
export function loggedEventsFromSynth(batches: Iterable<SynthEventBatch>): LoggedEvents {
  const parts: LoggedEvents[] = [];
  let total = 0;
  for (const b of batches) {
    const n = b.length;
    total += n;
    const scene = new Int32Array(n);
    for (let j = 0; j < n; j++) scene[j] = b.scenes[j] === NO_SCENE ? -1 : b.scenes[j];
    parts.push({
      length: n,
      user: b.users.slice(0, n),
      item: b.items.slice(0, n),
      type: Uint16Array.from(b.types.subarray(0, n)),
      typeNames: [...SYNTH_EVENT_TYPES],
      timestamp: b.timestamps.slice(0, n),
      request: b.requests.slice(0, n),
      position: Int32Array.from(b.positions.subarray(0, n)),
      scene,
      sceneNames: [...SYNTH_SCENES],
      device: Int32Array.from(b.devices.subarray(0, n)),
      deviceNames: [...SYNTH_DEVICES],
    });
  }
  const out: LoggedEvents = {
    length: total,
    user: new Int32Array(total),
    item: new Int32Array(total),
    type: new Uint16Array(total),
    typeNames: [...SYNTH_EVENT_TYPES],
    timestamp: new Float64Array(total),
    request: new Float64Array(total),
    position: new Int32Array(total),
    scene: new Int32Array(total),
    sceneNames: [...SYNTH_SCENES],
    device: new Int32Array(total),
    deviceNames: [...SYNTH_DEVICES],
  };
  let o = 0;
  for (const p of parts) {
    out.user.set(p.user, o);
    out.item.set(p.item, o);
    out.type.set(p.type, o);
    out.timestamp.set(p.timestamp, o);
    out.request.set(p.request, o);
    out.position.set(p.position, o);
    out.scene.set(p.scene, o);
    out.device.set(p.device, o);
    o += p.length;
  }
  return out;
}

/**
 * Logged events from a store, with their context (request id, position, scene, device,
 * `sources`): read user by user through `timeline` (the columnar scan carries no context).
 * Memory: O(events) objects at a time per user, O(events) columns in all.
 */
export async function loggedEventsFromStore(store: Store, opts: { since?: number; until?: number; types?: string[] } = {}): Promise<LoggedEvents> {
  const b = new LoggedEventsBuilder();
  const ids = await store.userIds();
  for (const id of ids) {
    if (!id) continue;
    const tl = await store.timeline(id, {
      limit: 2 ** 31 - 1,
      ...(opts.since !== undefined ? { after: opts.since } : {}),
      ...(opts.until !== undefined ? { before: opts.until } : {}),
      ...(opts.types ? { types: opts.types } : {}),
    });
    for (let k = tl.length - 1; k >= 0; k--) {
      addStored(b, tl[k]);
    }
  }
  return b.build();
}

/** Event indices sorted by (timestamp, index): the replay order. */
export function timeOrder(ev: LoggedEvents): Int32Array {
  const order = new Int32Array(ev.length);
  let sorted = true;
  for (let j = 0; j < ev.length; j++) {
    order[j] = j;
    if (j > 0 && ev.timestamp[j] < ev.timestamp[j - 1]) sorted = false;
  }
  if (!sorted) order.sort((a, b) => ev.timestamp[a] - ev.timestamp[b] || a - b);
  return order;
}

// ---------------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------------

export interface LabelOptions {
  /** The impression event type (default 'impression'). */
  impressionType?: string;
  /** Types that count as a click (default ['click']). */
  clickTypes?: string[];
  /** Types that count as a conversion (default ['purchase']). */
  conversionTypes?: string[];
  /** A click more than this after the impression does not count (default 30 min). */
  clickWindowMs?: number;
  /** A conversion more than this after the impression does not count (default 1 day). */
  conversionWindowMs?: number;
}

export interface Labels {
  /** Per event: 1 when the event is an impression that was clicked / converted. */
  click: Uint8Array;
  conversion: Uint8Array;
  /** Number of impressions, and of clicks / conversions matched to one. */
  impressions: number;
  clicks: number;
  conversions: number;
  /** Clicks / conversions matched by request id (the rest by user and item). */
  byRequest: number;
  unmatched: number;
}

function resolveLabelOptions(o: LabelOptions): Required<LabelOptions> {
  const r = {
    impressionType: o.impressionType ?? 'impression',
    clickTypes: o.clickTypes ?? ['click'],
    conversionTypes: o.conversionTypes ?? ['purchase'],
    clickWindowMs: o.clickWindowMs ?? 30 * 60_000,
    conversionWindowMs: o.conversionWindowMs ?? DAY_MS,
  };
  if (!(r.clickWindowMs > 0)) throw new RangeError(`samples: clickWindowMs must be > 0, got ${r.clickWindowMs}`);
  if (!(r.conversionWindowMs > 0)) throw new RangeError(`samples: conversionWindowMs must be > 0, got ${r.conversionWindowMs}`);
  return r;
}

/**
 * Joins impressions with the clicks and conversions that follow them (by request id and item,
 * else the latest impression of the item to the user within the window). Only events after
 * the impression can label it.
 */
export function joinLabels(ev: LoggedEvents, opts: LabelOptions = {}, order: Int32Array = timeOrder(ev)): Labels {
  const o = resolveLabelOptions(opts);
  const code = (names: string[]) => new Set(names.map((t) => ev.typeNames.indexOf(t)).filter((c) => c >= 0));
  const impT = ev.typeNames.indexOf(o.impressionType);
  const clickT = code(o.clickTypes);
  const convT = code(o.conversionTypes);
  const click = new Uint8Array(ev.length);
  const conversion = new Uint8Array(ev.length);
  // request → [item, event, item, event, ...]
  const byRequest = new Map<number, number[]>();
  // user → item → latest impression event
  const byUser = new Map<number, Map<number, number>>();
  const out: Labels = { click, conversion, impressions: 0, clicks: 0, conversions: 0, byRequest: 0, unmatched: 0 };
  for (let q = 0; q < order.length; q++) {
    const j = order[q];
    const t = ev.type[j];
    const u = ev.user[j];
    const it = ev.item[j];
    if (t === impT) {
      out.impressions++;
      const r = ev.request[j];
      if (r >= 0) {
        let l = byRequest.get(r);
        if (!l) byRequest.set(r, (l = []));
        l.push(it, j);
      }
      let m = byUser.get(u);
      if (!m) byUser.set(u, (m = new Map()));
      m.set(it, j);
      continue;
    }
    const isClick = clickT.has(t);
    const isConv = convT.has(t);
    if (!isClick && !isConv) continue;
    const window = isClick ? o.clickWindowMs : o.conversionWindowMs;
    const ts = ev.timestamp[j];
    let imp = -1;
    let viaRequest = false;
    const r = ev.request[j];
    if (r >= 0) {
      const l = byRequest.get(r);
      if (l) {
        for (let k = l.length - 2; k >= 0; k -= 2) {
          if (l[k] === it && ev.user[l[k + 1]] === u) {
            imp = l[k + 1];
            break;
          }
        }
      }
      viaRequest = imp >= 0;
    }
    if (imp < 0) imp = byUser.get(u)?.get(it) ?? -1;
    if (imp < 0 || ts - ev.timestamp[imp] > window || ts < ev.timestamp[imp]) {
      out.unmatched++;
      continue;
    }
    if (viaRequest) out.byRequest++;
    if (isClick && click[imp] === 0) {
      click[imp] = 1;
      out.clicks++;
    }
    if (isConv && conversion[imp] === 0) {
      conversion[imp] = 1;
      out.conversions++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Samples
// ---------------------------------------------------------------------------------------------

/** Growable typed array. */
class Column<T extends Int32Array | Float32Array | Float64Array | Uint8Array> {
  n = 0;
  constructor(public a: T) {}
  reserve(extra: number): void {
    if (this.n + extra <= this.a.length) return;
    let c = Math.max(1024, this.a.length);
    while (c < this.n + extra) c *= 2;
    const b = new (this.a.constructor as new (n: number) => T)(c);
    b.set(this.a.subarray(0, this.n) as never);
    this.a = b;
  }
  push(v: number): void {
    if (this.n === this.a.length) this.reserve(1);
    this.a[this.n++] = v;
  }
  get data(): T {
    return this.a.subarray(0, this.n) as T;
  }
}

/**
 * Samples with raw features: per request group the shared part (categorical entries and
 * request-scope continuous values), per sample (one impression) its candidate part and labels.
 * Samples are in replay (time) order.
 */
export class SampleSet {
  // per group
  private gPtr = new Column(new Int32Array(1024));
  private gIdx = new Column(new Int32Array(4096));
  private gFld = new Column(new Uint8Array(4096));
  private gDense: Column<Float32Array>;
  private gUser = new Column(new Int32Array(1024));
  private gTime = new Column(new Float64Array(1024));
  // per sample
  private sGroup = new Column(new Int32Array(1024));
  private sItem = new Column(new Int32Array(1024));
  private sPos = new Column(new Int32Array(1024));
  private sEvent = new Column(new Int32Array(1024));
  private sClick = new Column(new Uint8Array(1024));
  private sConv = new Column(new Uint8Array(1024));
  private rPtr = new Column(new Int32Array(1024));
  private rIdx = new Column(new Int32Array(16384));
  private rFld = new Column(new Uint8Array(16384));
  private rDense: Column<Float32Array>;

  constructor(
    readonly requestDense: number,
    readonly candidateDense: number,
  ) {
    this.gDense = new Column(new Float32Array(1024 * Math.max(1, requestDense)));
    this.rDense = new Column(new Float32Array(1024 * Math.max(1, candidateDense)));
    this.gPtr.push(0);
    this.rPtr.push(0);
  }

  get size(): number {
    return this.sGroup.n;
  }

  get groups(): number {
    return this.gUser.n;
  }

  /** Appends one request's raw features; `meta` gives, per row, its item, event, position and labels. */
  append(raw: RawBatch, user: number, now: number, meta: { item: ArrayLike<number>; event: ArrayLike<number>; position: ArrayLike<number>; click: ArrayLike<number>; conversion: ArrayLike<number> }): void {
    const g = this.gUser.n;
    this.gUser.push(user);
    this.gTime.push(now);
    this.gIdx.reserve(raw.sharedN);
    this.gFld.reserve(raw.sharedN);
    for (let k = 0; k < raw.sharedN; k++) {
      this.gIdx.push(raw.sharedIdx[k]);
      this.gFld.push(raw.sharedFld[k]);
    }
    this.gPtr.push(this.gIdx.n);
    this.gDense.reserve(this.requestDense);
    for (let j = 0; j < this.requestDense; j++) this.gDense.push(raw.sharedDense[j]);
    const n = raw.n;
    const entries = raw.rowPtr[n];
    this.rIdx.reserve(entries);
    this.rFld.reserve(entries);
    this.rDense.reserve(n * this.candidateDense);
    for (let r = 0; r < n; r++) {
      this.sGroup.push(g);
      this.sItem.push(meta.item[r]);
      this.sEvent.push(meta.event[r]);
      this.sPos.push(meta.position[r]);
      this.sClick.push(meta.click[r]);
      this.sConv.push(meta.conversion[r]);
      for (let k = raw.rowPtr[r]; k < raw.rowPtr[r + 1]; k++) {
        this.rIdx.push(raw.rowIdx[k]);
        this.rFld.push(raw.rowFld[k]);
      }
      this.rPtr.push(this.rIdx.n);
      const d0 = r * this.candidateDense;
      for (let j = 0; j < this.candidateDense; j++) this.rDense.push(raw.rowDense[d0 + j]);
    }
  }

  /** Per sample: request group, item, position, logged event index, labels. */
  get group(): Int32Array { return this.sGroup.data; }
  get item(): Int32Array { return this.sItem.data; }
  get position(): Int32Array { return this.sPos.data; }
  get event(): Int32Array { return this.sEvent.data; }
  get click(): Uint8Array { return this.sClick.data; }
  get conversion(): Uint8Array { return this.sConv.data; }
  /** Per group: user and time. */
  get groupUser(): Int32Array { return this.gUser.data; }
  get groupTime(): Float64Array { return this.gTime.data; }

  /** Sample s's raw continuous values: request-scope then candidate-scope (NaN = missing). */
  denseOf(s: number, out = new Float32Array(this.requestDense + this.candidateDense)): Float32Array {
    const g = this.sGroup.a[s];
    for (let j = 0; j < this.requestDense; j++) out[j] = this.gDense.a[g * this.requestDense + j];
    for (let j = 0; j < this.candidateDense; j++) out[this.requestDense + j] = this.rDense.a[s * this.candidateDense + j];
    return out;
  }

  /** Fits the continuous features' normaliser on the samples `rows` (default all). */
  fitNormalizer(space: FeatureSpace, rows?: ArrayLike<number>, opts: { maxKnots?: number; maxSample?: number } = {}): QuantileNormalizer {
    const C = this.requestDense + this.candidateDense;
    if (C !== space.denseSize) throw new RangeError(`samples: built with ${C} continuous features, the space has ${space.denseSize}`);
    const m = rows ? rows.length : this.size;
    const maxSample = opts.maxSample ?? 200_000;
    const step = Math.max(1, Math.floor(m / maxSample));
    const k = Math.ceil(m / step);
    const values = new Float32Array(k * C);
    const buf = new Float32Array(C);
    for (let q = 0, r = 0; q < m; q += step, r++) {
      this.denseOf(rows ? rows[q] : q, buf);
      values.set(buf, r * C);
    }
    return QuantileNormalizer.fit(space.denseNames, values, k, { ...(opts.maxKnots ? { maxKnots: opts.maxKnots } : {}), maxSample: k });
  }

  /**
   * The encoded feature vectors (shared entries then the sample's own, exactly as a serving
   * batch's shared part followed by the candidate's row) with click / conversion labels; groups
   * are the request groups. `rows`: the samples to take (default all, in order). With
   * `position`, every sample's position entry is replaced by that position's (how serving
   * sees a candidate: `servePosition`), e.g. to rank logged lists counterfactually.
   */
  encode(space: FeatureSpace, rows?: ArrayLike<number>, opts: { position?: number } = {}): LabeledRows {
    if (space.requestDense.length !== this.requestDense || space.candidateDense.length !== this.candidateDense) {
      throw new RangeError('samples: the feature space does not match the one the samples were built with');
    }
    const m = rows ? rows.length : this.size;
    const w = space.width;
    const Cr = this.requestDense;
    const Cc = this.candidateDense;
    let nnz = 0;
    for (let q = 0; q < m; q++) {
      const s = rows ? rows[q] : q;
      const g = this.sGroup.a[s];
      nnz += this.gPtr.a[g + 1] - this.gPtr.a[g] + this.rPtr.a[s + 1] - this.rPtr.a[s] + (Cr + Cc) * w;
    }
    const indptr = new Int32Array(m + 1);
    let indices = new Int32Array(nnz);
    let values = new Float32Array(nnz);
    let fields = new Uint8Array(nnz);
    const click = new Float32Array(m);
    const conversion = new Float32Array(m);
    const groups = new Int32Array(m);
    const posField = space.F.position;
    const posIndex = opts.position !== undefined ? space.positionIndex(opts.position) : -1;
    let e = 0;
    for (let q = 0; q < m; q++) {
      const s = rows ? rows[q] : q;
      const g = this.sGroup.a[s];
      for (let k = this.gPtr.a[g]; k < this.gPtr.a[g + 1]; k++) {
        indices[e] = this.gIdx.a[k];
        values[e] = 1;
        fields[e++] = this.gFld.a[k];
      }
      for (let j = 0; j < Cr; j++) e = space.emitDense(j, this.gDense.a[g * Cr + j], indices, values, fields, e);
      for (let k = this.rPtr.a[s]; k < this.rPtr.a[s + 1]; k++) {
        const f = this.rFld.a[k];
        indices[e] = posIndex >= 0 && f === posField ? posIndex : this.rIdx.a[k];
        values[e] = 1;
        fields[e++] = f;
      }
      for (let j = 0; j < Cc; j++) e = space.emitDense(Cr + j, this.rDense.a[s * Cc + j], indices, values, fields, e);
      indptr[q + 1] = e;
      click[q] = this.sClick.a[s];
      conversion[q] = this.sConv.a[s];
      groups[q] = g;
    }
    if (e < nnz) {
      indices = indices.slice(0, e);
      values = values.slice(0, e);
      fields = fields.slice(0, e);
    }
    return { x: { rows: m, indptr, indices, values, fields }, labels: { click, conversion }, groups };
  }

  /**
   * Sample indices split by time at request-group boundaries into consecutive parts of the
   * given shares (e.g. [0.7, 0.2, 0.1]: train, calibration/validation, test).
   */
  splitByTime(shares: number[]): Int32Array[] {
    const total = shares.reduce((a, b) => a + b, 0);
    if (!(total > 0) || shares.some((x) => !(x >= 0))) throw new RangeError(`samples: split shares must be non-negative with a positive sum, got ${shares.join(', ')}`);
    const n = this.size;
    const out: Int32Array[] = [];
    let start = 0;
    let acc = 0;
    for (let p = 0; p < shares.length; p++) {
      acc += shares[p];
      let end = p === shares.length - 1 ? n : Math.round((acc / total) * n);
      while (end > start && end < n && this.sGroup.a[end] === this.sGroup.a[end - 1]) end++;
      end = Math.max(end, start);
      const part = new Int32Array(end - start);
      for (let s = start; s < end; s++) part[s - start] = s;
      out.push(part);
      start = end;
    }
    return out;
  }
}

/** One request's impressions at feature time, for a provenance hook. */
export interface ImpressionRequest {
  user: number;
  now: number;
  /** Impressed items and their logged event indices, in position order. */
  items: Int32Array;
  events: Int32Array;
}

export interface SampleOptions extends LabelOptions {
  /** Only impressions with a timestamp in [from, until) become samples (every event replays). */
  from?: number;
  until?: number;
  /**
   * Generator provenance of a request's impressions, computed at feature time (before any
   * event of that time is applied), e.g. by re-running generators trained before `from`.
   * Overrides logged `sources`.
   */
  provenance?: (req: ImpressionRequest, profiles: ProfileStore) => Awaitable<(readonly Provenance[] | undefined)[]>;
  /** Called every ~64K events replayed. */
  onProgress?: (done: number, total: number) => void;
}

export interface SampleReport {
  events: number;
  samples: number;
  requests: number;
  labels: Omit<Labels, 'click' | 'conversion'>;
  ms: number;
}

/**
 * Replays `ev` in time order through the extractor's profile store (which should start empty
 * and have the catalog's item keys set: `space.profileKeys()`), turning every impression into
 * a sample with the features it had when served. Impressions sharing a request id (else user,
 * time, scene and device) form one request group.
 */
export async function buildSamples(ev: LoggedEvents, extractor: FeatureExtractor, opts: SampleOptions = {}): Promise<{ samples: SampleSet; report: SampleReport }> {
  const t0 = performance.now();
  const space = extractor.space;
  const profiles = extractor.profiles;
  const order = timeOrder(ev);
  const labels = joinLabels(ev, opts, order);
  const impT = ev.typeNames.indexOf(opts.impressionType ?? 'impression');
  const from = opts.from ?? -Infinity;
  const until = opts.until ?? Infinity;
  const set = new SampleSet(space.requestDense.length, space.candidateDense.length);
  const n = ev.length;
  // time-sorted columns for the profile replay (subarrays per chunk)
  const userS = new Int32Array(n);
  const itemS = new Int32Array(n);
  const typeS = new Uint16Array(n);
  const tsS = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    const j = order[q];
    userS[q] = ev.user[j];
    itemS[q] = ev.item[j];
    typeS[q] = ev.type[j];
    tsS[q] = ev.timestamp[j];
  }
  const typeNames = new Map(ev.typeNames.map((name, c) => [c, name]));
  let applied = 0; // events [0, applied) of the sorted order are in the profiles
  const applyUpTo = async (end: number) => {
    if (end <= applied) return;
    await profiles.recordBatch({
      length: end - applied,
      userIdx: userS.subarray(applied, end),
      itemIdx: itemS.subarray(applied, end),
      type: typeS.subarray(applied, end),
      timestamp: tsS.subarray(applied, end),
      typeNames,
    });
    applied = end;
  };
  let requests = 0;
  let nextProgress = 65_536;
  const cands: CandidateInfo[] = [];
  const meta = { item: [] as number[], event: [] as number[], position: [] as number[], click: [] as number[], conversion: [] as number[] };
  let q = 0;
  while (q < n) {
    // the group of events with the same timestamp
    const ts = tsS[q];
    let end = q + 1;
    while (end < n && tsS[end] === ts) end++;
    if (ts >= from && ts < until && impT >= 0) {
      // impressions of this timestamp, grouped into requests (first-seen order)
      const groups = new Map<string | number, number[]>();
      for (let k = q; k < end; k++) {
        const j = order[k];
        if (ev.type[j] !== impT) continue;
        const r = ev.request[j];
        const key = r >= 0 ? r : `${ev.user[j]}|${ev.scene[j]}|${ev.device[j]}`;
        let l = groups.get(key);
        if (!l) groups.set(key, (l = []));
        l.push(j);
      }
      if (groups.size > 0) {
        await applyUpTo(q); // everything strictly before this timestamp, nothing at or after it
        for (const list of groups.values()) {
          list.sort((a, b) => (ev.position[a] < 0 ? 1e9 : ev.position[a]) - (ev.position[b] < 0 ? 1e9 : ev.position[b]) || a - b);
          const j0 = list[0];
          const user = ev.user[j0];
          const info = {
            user,
            now: ts,
            ...(ev.scene[j0] >= 0 ? { scene: ev.sceneNames[ev.scene[j0]] } : {}),
            ...(ev.device[j0] >= 0 ? { device: ev.deviceNames[ev.device[j0]] } : {}),
          };
          let prov: (readonly Provenance[] | undefined)[] | undefined;
          if (opts.provenance) {
            prov = await opts.provenance({ user, now: ts, items: Int32Array.from(list, (j) => ev.item[j]), events: Int32Array.from(list) }, profiles);
          }
          const state = await extractor.fetch(info);
          cands.length = 0;
          meta.item.length = meta.event.length = meta.position.length = meta.click.length = meta.conversion.length = 0;
          for (let k = 0; k < list.length; k++) {
            const j = list[k];
            const src = prov ? prov[k] : ev.sources?.[j];
            const pos = ev.position[j];
            cands.push({ item: ev.item[j], ...(src ? { sources: src } : {}), ...(pos >= 0 ? { position: pos } : {}) });
            meta.item.push(ev.item[j]);
            meta.event.push(j);
            meta.position.push(pos);
            meta.click.push(labels.click[j]);
            meta.conversion.push(labels.conversion[j]);
          }
          const raw = extractor.extractRaw(state, cands);
          set.append(raw, user, ts, meta);
          requests++;
        }
      }
    }
    q = end;
    if (q >= nextProgress) {
      opts.onProgress?.(q, n);
      nextProgress += 65_536;
    }
  }
  await applyUpTo(n);
  const { click: _c, conversion: _v, ...lab } = labels;
  return { samples: set, report: { events: n, samples: set.size, requests, labels: lab, ms: performance.now() - t0 } };
}
