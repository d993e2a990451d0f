/**
 * Events as columns: how a batch of events crosses a thread boundary and reaches a store that
 * can write it without an object per event (the import worker → SqliteStore.ingestEventColumns).
 *
 * Every string column is dictionary-encoded per batch (the distinct strings once, an index per
 * row): a structured clone copies each distinct string once, and the store resolves each
 * distinct user and item id once per batch instead of once per event. Numbers travel in typed
 * arrays (transferred, not copied).
 *
 * `encodeEvents` → `decodeEvents` gives back the same events. Context keys other than scene,
 * position, requestId and device travel as one JSON object per event (`rest`); an event whose
 * fields do not fit the columns (a value that is not a finite number, say) travels whole in
 * `whole`, and its columns are placeholders.
 */
import type { Event, EventContext } from './model.js';
import { checkEvent, eventChecks, type EventCheckOptions, type FieldError } from './schema.js';

/** A dictionary-encoded string column: `codes[i]` indexes `values`, -1 when the row has none. */
export interface StrColumn {
  values: string[];
  codes: Int32Array;
  /**
   * Optional (user and item ids of a batch with a `keySpace`): `keys[c]` names `values[c]` in
   * every batch of the same key space, so a receiver can remember what it derived from a
   * string (a store's dense index) under a small integer instead of looking the string up again.
   */
  keys?: Int32Array;
}

export interface EventColumns {
  n: number;
  userId: StrColumn;
  itemId: StrColumn;
  type: StrColumn;
  timestamp: Float64Array;
  /** NaN: no value. */
  value: Float64Array;
  id: StrColumn;
  /** 1 when the event has a context object (even an empty one). */
  hasContext: Uint8Array;
  scene: StrColumn;
  requestId: StrColumn;
  device: StrColumn;
  /** NaN: no position. */
  position: Float64Array;
  /** JSON of the other context keys. */
  rest: StrColumn;
  /** Events that travel whole (index in the batch). */
  whole: { index: number; event: Event }[];
  /**
   * Present when `userId.keys` and `itemId.keys` are: the batches of one sender that share this
   * name give the same key to the same id (see IdKeySpace).
   */
  keySpace?: string;
}

const KNOWN = new Set(['scene', 'position', 'requestId', 'device']);

/**
 * Builds a StrColumn. A column whose strings keep repeating (types, scenes, users of a
 * session) is deduplicated; one that mostly does not (event ids) stops looking strings up
 * after its first rows and stores each row's string (codes then count up).
 */
class StrBuilder {
  readonly values: string[] = [];
  readonly codes: Int32Array;
  private dict: Map<string, number> | undefined = new Map<string, number>();
  private seen = 0;
  private lastV: string | undefined;
  private lastC = -1;
  constructor(n: number) {
    this.codes = new Int32Array(n).fill(-1);
  }
  set(i: number, v: string): void {
    // The same string as the row before (a mapper hands repeats out again, as one object): its code.
    this.codes[i] = v === this.lastV ? this.lastC : (this.lastC = this.code((this.lastV = v)));
  }
  /** The code of a string not equal to the previous row's. */
  protected code(v: string): number {
    const dict = this.dict;
    if (dict === undefined) {
      this.values.push(v);
      return this.values.length - 1;
    }
    let c = dict.get(v);
    if (c === undefined) {
      c = this.values.length;
      this.values.push(v);
      dict.set(v, c);
    }
    if (++this.seen === 1024 && dict.size > 768) this.dict = undefined;
    return c;
  }
  build(): StrColumn {
    return { values: this.values, codes: this.codes };
  }
}

/** The persistent half of a keyed column: id → key for a series of batches. */
class KeyDict {
  readonly map = new Map<string, number>();
  /** Per key: its code in the batch being built (valid when stamp[key] === batch). */
  codeOf = new Int32Array(1024);
  stamp = new Int32Array(1024);
  batch = 0;
  grow(k: number): void {
    if (k < this.codeOf.length) return;
    const n = Math.max(k + 1, this.codeOf.length * 2);
    const c = new Int32Array(n);
    c.set(this.codeOf);
    this.codeOf = c;
    const s = new Int32Array(n);
    s.set(this.stamp);
    this.stamp = s;
  }
}

/**
 * Keys for the user and item ids of a sender's batches (EventColumns.keySpace): the same id
 * gets the same key in every batch of one key space, so a receiver resolves each distinct id
 * once per import instead of once per batch (the import worker's batches: a store then turns a
 * key into its dense index with one array read). Memory stays bounded: past `limit` distinct
 * ids a new key space starts (its name changes, receivers drop what they remembered).
 */
export class IdKeySpace {
  readonly users = new KeyDict();
  readonly items = new KeyDict();
  private generation = 0;
  private dicts: { users: KeyDict; items: KeyDict } = { users: this.users, items: this.items };
  constructor(
    private readonly base: string,
    private readonly limit = 1 << 21,
  ) {}
  /** The dictionaries for the next batch (a fresh key space once one outgrew the limit). */
  next(): { name: string; users: KeyDict; items: KeyDict } {
    if (this.dicts.users.map.size > this.limit || this.dicts.items.map.size > this.limit) {
      this.dicts = { users: new KeyDict(), items: new KeyDict() };
      this.generation++;
    }
    return { name: `${this.base}/${this.generation}`, ...this.dicts };
  }
}

/** A StrBuilder whose strings also get their key in a KeyDict (always deduplicated). */
class KeyedStrBuilder extends StrBuilder {
  private readonly keys: number[] = [];
  private readonly batch: number;
  constructor(
    n: number,
    private readonly d: KeyDict,
  ) {
    super(n);
    this.batch = ++d.batch;
  }
  protected override code(v: string): number {
    const d = this.d;
    let k = d.map.get(v);
    if (k === undefined) {
      k = d.map.size;
      d.map.set(v, k);
      d.grow(k);
    }
    if (d.stamp[k] !== this.batch) {
      d.stamp[k] = this.batch;
      d.codeOf[k] = this.values.length;
      this.values.push(v);
      this.keys.push(k);
    }
    return d.codeOf[k];
  }
  override build(): StrColumn {
    return { values: this.values, codes: this.codes, keys: Int32Array.from(this.keys) };
  }
}

/** Where a context key goes: one of the four columns, or the JSON of the rest. */
export const ContextSlot = { Scene: 0, RequestId: 1, Device: 2, Position: 3, Rest: 4 } as const;
export type ContextSlot = (typeof ContextSlot)[keyof typeof ContextSlot];

export function contextSlot(key: string): ContextSlot {
  return key === 'scene' ? ContextSlot.Scene : key === 'requestId' ? ContextSlot.RequestId : key === 'device' ? ContextSlot.Device : key === 'position' ? ContextSlot.Position : ContextSlot.Rest;
}

/**
 * Fills the columns of up to `capacity` events, one at a time: `add` for an event object, or
 * `fits` + `addFields` for fields a mapper has in hand (no object made).
 */
export class EventColumnsBuilder {
  n = 0;
  private readonly userId: StrBuilder;
  private readonly itemId: StrBuilder;
  private readonly keySpace: string | undefined;
  private readonly type: StrBuilder;
  private readonly id: StrBuilder;
  private readonly scene: StrBuilder;
  private readonly requestId: StrBuilder;
  private readonly device: StrBuilder;
  private readonly rest: StrBuilder;
  private readonly timestamp: Float64Array;
  private readonly value: Float64Array;
  private readonly position: Float64Array;
  private readonly hasContext: Uint8Array;
  private readonly whole: { index: number; event: Event }[] = [];

  /** With `keys`, user and item ids get their keys in that key space (IdKeySpace). */
  constructor(
    readonly capacity: number,
    keys?: IdKeySpace,
  ) {
    const n = capacity;
    if (keys) {
      const k = keys.next();
      this.keySpace = k.name;
      this.userId = new KeyedStrBuilder(n, k.users);
      this.itemId = new KeyedStrBuilder(n, k.items);
    } else {
      this.userId = new StrBuilder(n);
      this.itemId = new StrBuilder(n);
    }
    this.type = new StrBuilder(n);
    this.id = new StrBuilder(n);
    this.scene = new StrBuilder(n);
    this.requestId = new StrBuilder(n);
    this.device = new StrBuilder(n);
    this.rest = new StrBuilder(n);
    this.timestamp = new Float64Array(n);
    this.value = new Float64Array(n).fill(NaN);
    this.position = new Float64Array(n).fill(NaN);
    this.hasContext = new Uint8Array(n);
  }

  /** True when these fields go into the columns as they are (else `add` the event). */
  static fits(userId: unknown, itemId: unknown, type: unknown, timestamp: unknown, value: unknown, id: unknown): boolean {
    return (
      typeof userId === 'string' && typeof itemId === 'string' && typeof type === 'string' &&
      typeof timestamp === 'number' && Number.isFinite(timestamp) &&
      (value === undefined || (typeof value === 'number' && Number.isFinite(value))) &&
      (id === undefined || typeof id === 'string')
    );
  }

  /** True when a context value goes into its column (or, for other keys, survives JSON). */
  static fitsContext(slot: ContextSlot, v: unknown): boolean {
    if (v === undefined) return true;
    if (slot === ContextSlot.Position) return typeof v === 'number' && Number.isFinite(v);
    if (slot === ContextSlot.Rest) return jsonSafe(v, 0);
    return typeof v === 'string';
  }

  /**
   * An event from fields that `fits` (and context values that `fitsContext`); context keys
   * `ctxKeys[k]` with slots `ctxSlots[k]` and values `ctxVals[ctxIndex[k]]`, undefined ones
   * left out.
   */
  addFields(
    userId: string, itemId: string, type: string, timestamp: number, value: number | undefined, id: string | undefined,
    ctxKeys: readonly string[], ctxSlots: readonly ContextSlot[], ctxIndex: readonly number[], ctxVals: readonly unknown[],
  ): void {
    const i = this.n++;
    this.userId.set(i, userId);
    this.itemId.set(i, itemId);
    this.type.set(i, type);
    this.timestamp[i] = timestamp;
    if (value !== undefined) this.value[i] = value;
    if (id !== undefined) this.id.set(i, id);
    let more: Record<string, unknown> | undefined;
    for (let k = 0; k < ctxKeys.length; k++) {
      const v = ctxVals[ctxIndex[k]];
      if (v === undefined) continue;
      this.hasContext[i] = 1;
      switch (ctxSlots[k]) {
        case ContextSlot.Scene:
          this.scene.set(i, v as string);
          break;
        case ContextSlot.RequestId:
          this.requestId.set(i, v as string);
          break;
        case ContextSlot.Device:
          this.device.set(i, v as string);
          break;
        case ContextSlot.Position:
          this.position[i] = v as number;
          break;
        default:
          (more ??= {})[ctxKeys[k]] = v;
      }
    }
    if (more) this.rest.set(i, JSON.stringify(more));
  }

  /** Any event. */
  add(e: Event): void {
    const ctx = e.context;
    if (!EventColumnsBuilder.fits(e.userId, e.itemId, e.type, e.timestamp, e.value, e.id) || (ctx !== undefined && !regularContext(ctx))) {
      this.whole.push({ index: this.n++, event: e });
      return;
    }
    const i = this.n++;
    this.userId.set(i, e.userId);
    this.itemId.set(i, e.itemId);
    this.type.set(i, e.type);
    this.timestamp[i] = e.timestamp;
    if (e.value !== undefined) this.value[i] = e.value;
    if (e.id !== undefined) this.id.set(i, e.id);
    if (ctx !== undefined) {
      this.hasContext[i] = 1;
      if (ctx.scene !== undefined) this.scene.set(i, ctx.scene);
      if (ctx.requestId !== undefined) this.requestId.set(i, ctx.requestId);
      if (ctx.device !== undefined) this.device.set(i, ctx.device);
      if (ctx.position !== undefined) this.position[i] = ctx.position;
      let more: Record<string, unknown> | undefined;
      for (const k in ctx) {
        if (!KNOWN.has(k) && ctx[k] !== undefined) (more ??= {})[k] = ctx[k];
      }
      if (more) this.rest.set(i, JSON.stringify(more));
    }
  }

  build(): EventColumns {
    const n = this.n;
    const cut = (c: StrColumn): StrColumn => (c.keys ? { values: c.values, codes: c.codes.subarray(0, n), keys: c.keys } : { values: c.values, codes: c.codes.subarray(0, n) });
    const out: EventColumns = {
      n,
      userId: cut(this.userId.build()),
      itemId: cut(this.itemId.build()),
      type: cut(this.type.build()),
      timestamp: this.timestamp.subarray(0, n),
      value: this.value.subarray(0, n),
      id: cut(this.id.build()),
      hasContext: this.hasContext.subarray(0, n),
      scene: cut(this.scene.build()),
      requestId: cut(this.requestId.build()),
      device: cut(this.device.build()),
      position: this.position.subarray(0, n),
      rest: cut(this.rest.build()),
      whole: this.whole,
    };
    if (this.keySpace !== undefined) out.keySpace = this.keySpace;
    return out;
  }
}

/** Packs events into columns (user and item ids keyed in `keys` when given). */
export function encodeEvents(events: Event[], keys?: IdKeySpace): EventColumns {
  const b = new EventColumnsBuilder(events.length, keys);
  for (const e of events) b.add(e);
  return b.build();
}

/** The buffers of a batch's typed arrays, for `postMessage`'s transfer list. */
export function columnBuffers(c: EventColumns): ArrayBuffer[] {
  const arrays = [c.timestamp, c.value, c.position, c.hasContext, c.userId.codes, c.itemId.codes, c.type.codes, c.id.codes, c.scene.codes, c.requestId.codes, c.device.codes, c.rest.codes];
  if (c.userId.keys) arrays.push(c.userId.keys);
  if (c.itemId.keys) arrays.push(c.itemId.keys);
  return arrays.map((a) => a.buffer as ArrayBuffer);
}

/** Context whose known keys fit their columns and whose other keys survive JSON unchanged. */
function regularContext(ctx: EventContext): boolean {
  if (typeof ctx !== 'object' || ctx === null || Array.isArray(ctx) || Object.getPrototypeOf(ctx) !== Object.prototype) return false;
  for (const k in ctx) {
    const v = ctx[k];
    if (v === undefined) continue;
    if (k === 'position') {
      if (typeof v !== 'number' || !Number.isFinite(v)) return false;
    } else if (k === 'scene' || k === 'requestId' || k === 'device') {
      if (typeof v !== 'string') return false;
    } else if (!jsonSafe(v, 0)) return false;
  }
  return true;
}

function jsonSafe(v: unknown, depth: number): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0);
  if (depth > 8 || typeof v !== 'object') return false;
  if (Array.isArray(v)) {
    for (const x of v) if (x === undefined || !jsonSafe(x, depth + 1)) return false;
    return true;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype || '__proto__' in Object.getOwnPropertyDescriptors(v)) return false;
  for (const x of Object.values(v as object)) if (x === undefined || !jsonSafe(x, depth + 1)) return false;
  return true;
}

const str = (c: StrColumn, i: number): string | undefined => {
  const k = c.codes[i];
  return k < 0 ? undefined : c.values[k];
};

/** Event i of a batch, as it was given to `encodeEvents`. */
export function decodeEvent(c: EventColumns, i: number): Event {
  const e: Event = { userId: str(c.userId, i) ?? '', itemId: str(c.itemId, i) ?? '', type: str(c.type, i) ?? '', timestamp: c.timestamp[i] };
  const v = c.value[i];
  if (v === v) e.value = v;
  const id = str(c.id, i);
  if (id !== undefined) e.id = id;
  if (c.hasContext[i]) {
    const ctx: EventContext = {};
    const scene = str(c.scene, i);
    if (scene !== undefined) ctx.scene = scene;
    const p = c.position[i];
    if (p === p) ctx.position = p;
    const rid = str(c.requestId, i);
    if (rid !== undefined) ctx.requestId = rid;
    const dev = str(c.device, i);
    if (dev !== undefined) ctx.device = dev;
    const rest = str(c.rest, i);
    if (rest !== undefined) Object.assign(ctx, JSON.parse(rest) as Record<string, unknown>);
    e.context = ctx;
  }
  return e;
}

/** Unpacks columns into events (the events `encodeEvents` was given). */
export function decodeEvents(c: EventColumns): Event[] {
  const out = new Array<Event>(c.n);
  const whole = new Map(c.whole.map((w) => [w.index, w.event]));
  for (let i = 0; i < c.n; i++) out[i] = whole.get(i) ?? decodeEvent(c, i);
  return out;
}

/**
 * What `checkEvent` says of every event of a batch: null for the events it accepts, else the
 * errors it gives. The columns' types are known, so most checks run once per distinct string;
 * an event that fails any of them, or that travels whole, goes through `checkEvent` itself.
 */
export function checkEventColumns(
  c: EventColumns,
  opts: EventCheckOptions = {},
  allowed?: Set<string>,
  /** Receives the accepted whole events as checkEvent normalised them (index → event). */
  wholeChecked?: Map<number, Event>,
): (FieldError[] | null)[] {
  const okIds = (col: StrColumn) => col.values.map((v) => eventChecks.id(v));
  const userOk = okIds(c.userId);
  const itemOk = okIds(c.itemId);
  const idOk = okIds(c.id);
  const typeOk = c.type.values.map((t) => eventChecks.type(t, opts, allowed));
  const out = new Array<FieldError[] | null>(c.n).fill(null);
  const slow = (i: number, e: Event) => {
    const r = checkEvent(e, opts, allowed);
    out[i] = r.ok ? null : r.errors;
  };
  const whole = new Set<number>();
  for (const w of c.whole) {
    whole.add(w.index);
    const r = checkEvent(w.event, opts, allowed);
    if (r.ok) wholeChecked?.set(w.index, r.value);
    else out[w.index] = r.errors;
  }
  for (let i = 0; i < c.n; i++) {
    if (whole.has(i)) continue;
    const idc = c.id.codes[i];
    const p = c.position[i];
    const ok =
      userOk[c.userId.codes[i]] && itemOk[c.itemId.codes[i]] && typeOk[c.type.codes[i]] &&
      eventChecks.timestamp(c.timestamp[i]) && (idc < 0 || idOk[idc]) && (p !== p || eventChecks.position(p));
    if (!ok) slow(i, decodeEvent(c, i));
  }
  return out;
}
