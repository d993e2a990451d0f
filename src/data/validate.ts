/**
 * Data validation: the data-quality report of the BytePlus whitepaper, for files before an
 * import or for a store's contents.
 *
 * - schema errors per field, and the empty rate of every field;
 * - duplicate rates (events with a repeated id, identical events, repeated user/item ids);
 * - events that name users or items missing from the users / items data;
 * - timestamps in the future or implausibly old (the usual seconds-vs-milliseconds mistake);
 * - counts per event type;
 * - the impression → click join rate (by request id, else by user, item and a time window);
 * - distributions of events per user and per item;
 * - warnings with advice ('no impressions: ranking cannot be trained', '42% of items have no
 *   category').
 *
 * The analyzer streams: memory grows with the number of distinct ids (8-16 bytes each in open
 * addressing tables of 53-bit hashes), not with the number of rows.
 */
import type { EntityKind, Event, Item, User } from './model.js';
import type { FieldError } from './schema.js';
import type { EventBatch, Store, StoredItem } from '../store/types.js';
import { openSource, type SourceOptions } from './import.js';
import type { MappingSpec } from './mapping.js';
import { DataFileError, type Encoding, type Format } from './parse.js';

// ---- hashing ----------------------------------------------------------------------------------

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** Incremental 53-bit hash of strings and numbers (two independent 32-bit lanes). */
class Hasher {
  private a = 0x811c9dc5;
  private b = 0x9747b28c;
  reset(): this {
    this.a = 0x811c9dc5;
    this.b = 0x9747b28c;
    return this;
  }
  str(s: string): this {
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 13;
    }
    // separator, so that ('ab','c') and ('a','bc') differ
    this.a = Math.imul(a ^ 0xff, 0x01000193);
    this.b = Math.imul(b ^ 0x1f, 0x5bd1e995) ^ s.length;
    return this;
  }
  num(n: number): this {
    f64[0] = n;
    this.a = Math.imul(this.a ^ u32[0], 0x01000193);
    this.a = Math.imul(this.a ^ u32[1], 0x01000193);
    let b = Math.imul(this.b ^ u32[0], 0x5bd1e995);
    b ^= b >>> 13;
    b = Math.imul(b ^ u32[1], 0x5bd1e995);
    this.b = b ^ (b >>> 15);
    return this;
  }
  key(): number {
    let a = this.a;
    a ^= a >>> 16;
    a = Math.imul(a, 0x85ebca6b);
    a ^= a >>> 13;
    let b = this.b;
    b ^= b >>> 16;
    b = Math.imul(b, 0xc2b2ae35);
    b ^= b >>> 16;
    const k = (a >>> 0) * 2097152 + (b >>> 11);
    return k === 0 ? 1 : k;
  }
}

/** Open-addressing map from non-zero 53-bit keys to counts. */
export class KeyCounter {
  private keys: Float64Array;
  private counts: Int32Array;
  private mask: number;
  size = 0;
  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Float64Array(cap);
    this.counts = new Int32Array(cap);
    this.mask = cap - 1;
  }
  private slot(key: number): number {
    return (Math.imul((key >>> 0) ^ ((key / 4294967296) >>> 0), 0x9e3779b1) >>> 0) & this.mask;
  }
  /** Adds `by` to the key's count; returns the count before. */
  add(key: number, by = 1): number {
    let i = this.slot(key);
    const keys = this.keys;
    for (;;) {
      const k = keys[i];
      if (k === key) {
        const before = this.counts[i];
        this.counts[i] = before + by;
        return before;
      }
      if (k === 0) {
        keys[i] = key;
        this.counts[i] = by;
        if (++this.size * 2 > keys.length) this.grow();
        return 0;
      }
      i = (i + 1) & this.mask;
    }
  }
  get(key: number): number {
    let i = this.slot(key);
    for (;;) {
      const k = this.keys[i];
      if (k === key) return this.counts[i];
      if (k === 0) return 0;
      i = (i + 1) & this.mask;
    }
  }
  has(key: number): boolean {
    return this.get(key) > 0;
  }
  forEach(fn: (key: number, count: number) => void): void {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== 0) fn(this.keys[i], this.counts[i]);
  }
  countValues(): Int32Array {
    const out = new Int32Array(this.size);
    let n = 0;
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== 0) out[n++] = this.counts[i];
    return out;
  }
  private grow(): void {
    const oldK = this.keys;
    const oldC = this.counts;
    this.keys = new Float64Array(oldK.length * 2);
    this.counts = new Int32Array(oldK.length * 2);
    this.mask = this.keys.length - 1;
    this.size = 0;
    for (let i = 0; i < oldK.length; i++) if (oldK[i] !== 0) this.add(oldK[i], oldC[i]);
  }
}

// ---- report types -----------------------------------------------------------------------------

export interface FieldStats {
  field: string;
  /** Rows where the field has a value. */
  present: number;
  /** Rows where it is empty or absent. */
  empty: number;
  /** Rows where its value is invalid. */
  errors: number;
  emptyRate: number;
  errorRate: number;
  errorsByCode: Record<string, number>;
}

export interface EntityStats {
  source: string;
  rows: number;
  valid: number;
  invalid: number;
  /** Rows that could not be read at all (bad quotes, bad UTF-8, wrong column count, bad JSON). */
  unreadable: number;
  fields: FieldStats[];
  /** Rows whose id repeats an earlier row's (users, items; events with an id). */
  duplicateIds: number;
  duplicateIdRate: number;
  firstErrors: { line?: number; field?: string; code: string; message: string }[];
}

export interface Distribution {
  /** Number of users (items) counted. */
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** Histogram: events per entity in [from, to]. */
  buckets: { label: string; count: number }[];
}

export interface EventChecks {
  total: number;
  byType: Record<string, number>;
  /** Events with the same user, item, type, timestamp, value and context as an earlier one. */
  duplicateEvents: number;
  duplicateEventRate: number;
  /** Events whose user (item) is not in the users (items) data; null when there is none to check. */
  unknownUsers: number | null;
  unknownUserRate: number | null;
  unknownItems: number | null;
  unknownItemRate: number | null;
  time: {
    min: string | null;
    max: string | null;
    future: number;
    futureRate: number;
    tooOld: number;
    tooOldRate: number;
    /** Thresholds used. */
    now: string;
    oldBefore: string;
  };
  join: {
    impressions: number;
    clicks: number;
    /** Clicks matched to an impression. */
    joinedClicks: number;
    joinRate: number | null;
    /** clicks / impressions. */
    ctr: number | null;
    method: 'requestId' | 'window' | 'mixed' | 'none';
    windowMinutes: number;
    /** Why the join could not use request ids, when it could not. */
    note?: string;
  };
  perUser: Distribution;
  perItem: Distribution;
}

export interface Coverage {
  /** Items (declared) without any category. */
  itemsWithoutCategory: number | null;
  itemsWithoutCategoryRate: number | null;
  /** Declared items no event names. */
  itemsWithoutEvents: number | null;
  itemsWithoutEventsRate: number | null;
  /** Declared users without events. */
  usersWithoutEvents: number | null;
  usersWithoutEventsRate: number | null;
}

export type WarningLevel = 'error' | 'warning' | 'info';

export interface ValidationWarning {
  level: WarningLevel;
  code: string;
  message: string;
  advice: string;
}

export interface ValidationReport {
  source: { kind: 'files' | 'store'; files?: Partial<Record<EntityKind, string>>; db?: string };
  generatedAt: string;
  users: EntityStats | null;
  items: EntityStats | null;
  events: (EntityStats & EventChecks) | null;
  coverage: Coverage;
  warnings: ValidationWarning[];
}

export interface ValidatorOptions {
  /** "Now" for future timestamps (epoch ms; default the current time). */
  now?: number;
  /** Timestamps after now + this are in the future (default 1 day: clock skew). */
  futureSlackMs?: number;
  /** Timestamps before this are implausibly old (default 1995-01-01). */
  oldBefore?: number;
  /** Impression → click window when there is no request id (default 30 minutes). */
  joinWindowMs?: number;
  /** Errors kept per entity kind (default 10). */
  maxErrors?: number;
}

// ---- analyzer ---------------------------------------------------------------------------------

class FieldCounter {
  present = 0;
  errors = 0;
  byCode: Record<string, number> = {};
}

class KindStats {
  rows = 0;
  valid = 0;
  unreadable = 0;
  duplicateIds = 0;
  readonly ids = new KeyCounter();
  readonly fields = new Map<string, FieldCounter>();
  readonly firstErrors: EntityStats['firstErrors'] = [];
  constructor(
    readonly source: string,
    targets: string[],
  ) {
    for (const t of targets) this.fields.set(t, new FieldCounter());
  }
  field(t: string): FieldCounter {
    let f = this.fields.get(t);
    if (!f) {
      f = new FieldCounter();
      this.fields.set(t, f);
    }
    return f;
  }
}

const BUCKETS: [number, number, string][] = [
  [1, 1, '1'],
  [2, 4, '2-4'],
  [5, 9, '5-9'],
  [10, 49, '10-49'],
  [50, 99, '50-99'],
  [100, 999, '100-999'],
  [1000, Infinity, '1000+'],
];

function distribution(counts: ArrayLike<number>): Distribution {
  const vals = Int32Array.from(counts).filter((c) => c > 0).sort();
  const n = vals.length;
  const q = (p: number) => (n ? vals[Math.min(n - 1, Math.floor(p * n))] : 0);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += vals[i];
  const buckets = BUCKETS.map(([lo, hi, label]) => {
    let c = 0;
    for (let i = 0; i < n; i++) if (vals[i] >= lo && vals[i] <= hi) c++;
    return { label, count: c };
  });
  return { count: n, min: n ? vals[0] : 0, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: n ? vals[n - 1] : 0, mean: n ? sum / n : 0, buckets };
}

function rate(a: number, b: number): number {
  return b > 0 ? a / b : 0;
}

function getField(entity: Record<string, unknown>, target: string): unknown {
  const dot = target.indexOf('.');
  if (dot < 0) return entity[target];
  const sub = entity[target.slice(0, dot)] as Record<string, unknown> | undefined;
  return sub ? sub[target.slice(dot + 1)] : undefined;
}

/**
 * The streaming analyzer. Feed users and items first (so that events can be checked against
 * them), then events; `finish()` returns the report.
 */
export class Validator {
  private readonly now: number;
  private readonly futureAfter: number;
  private readonly oldBefore: number;
  private readonly window: number;
  private readonly maxErrors: number;
  private readonly h = new Hasher();
  private users: KindStats | null = null;
  private items: KindStats | null = null;
  private events: KindStats | null = null;
  private sourceInfo: ValidationReport['source'] = { kind: 'files' };
  // events
  private byType = new Map<string, number>();
  private contentKeys = new KeyCounter();
  private duplicateEvents = 0;
  private perUser = new KeyCounter();
  private perItem = new KeyCounter();
  private unknownUsers = 0;
  private unknownItems = 0;
  private minTs = Infinity;
  private maxTs = -Infinity;
  private future = 0;
  private tooOld = 0;
  private impressionsByRequest = new KeyCounter();
  private impressionsByWindow = new KeyCounter();
  private impressions = 0;
  private clickReqKeys: number[] = [];
  private clickWinKeys: number[] = [];
  private clickWinKeys2: number[] = [];
  private clicksWithRequest = 0;
  private clicksWithoutRequest = 0;
  // items
  private itemsWithoutCategory = 0;
  private declaredItems = 0;
  private declaredUsers = 0;

  constructor(opts: ValidatorOptions = {}) {
    this.now = opts.now ?? Date.now();
    this.futureAfter = this.now + (opts.futureSlackMs ?? 86_400_000);
    this.oldBefore = opts.oldBefore ?? Date.UTC(1995, 0, 1);
    this.window = opts.joinWindowMs ?? 30 * 60_000;
    this.maxErrors = opts.maxErrors ?? 10;
  }

  setSource(info: ValidationReport['source']): void {
    this.sourceInfo = info;
  }

  /** Starts a kind's data (a file or the store's table) with the fields it maps. */
  begin(kind: EntityKind, source: string, targets: string[]): void {
    const s = new KindStats(source, targets);
    if (kind === 'users') this.users = s;
    else if (kind === 'items') this.items = s;
    else this.events = s;
  }

  private stats(kind: EntityKind): KindStats {
    const s = kind === 'users' ? this.users : kind === 'items' ? this.items : this.events;
    if (!s) throw new Error(`validator: begin('${kind}', ...) first`);
    return s;
  }

  /** A row that could not be read at all. */
  unreadable(kind: EntityKind, line: number | undefined, code: string, message: string): void {
    const s = this.stats(kind);
    s.rows++;
    s.unreadable++;
    if (s.firstErrors.length < this.maxErrors) s.firstErrors.push({ line, code, message });
  }

  /** A row mapped to an entity (or refused with field errors). */
  row(kind: EntityKind, entity: User | Item | Event | undefined, errors: FieldError[], line?: number): void {
    const s = this.stats(kind);
    s.rows++;
    for (const e of errors) {
      const f = s.field(e.field || '(row)');
      if (e.code !== 'MISSING_FIELD') {
        f.errors++;
        f.byCode[e.code] = (f.byCode[e.code] ?? 0) + 1;
      } else f.byCode[e.code] = (f.byCode[e.code] ?? 0) + 1;
      if (s.firstErrors.length < this.maxErrors) s.firstErrors.push({ line, field: e.field || undefined, code: e.code, message: e.message });
    }
    if (!entity) {
      // Field presence is known for valid rows only; count the invalid ones' other fields as present
      // so that the empty rate reflects what is missing, not what failed.
      for (const [t, f] of s.fields) if (!errors.some((e) => e.field === t)) f.present++;
      return;
    }
    s.valid++;
    const rec = entity as unknown as Record<string, unknown>;
    for (const [t, f] of s.fields) {
      const v = getField(rec, t);
      if (v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0)) f.present++;
    }
    if (kind === 'events') this.event(entity as Event);
    else if (kind === 'items') this.item(entity as Item, s);
    else this.user(entity as User, s);
  }

  private user(u: User, s: KindStats): void {
    if (s.ids.add(this.h.reset().str(u.id).key()) > 0) s.duplicateIds++;
    else this.declaredUsers++;
  }

  private item(it: Item, s: KindStats): void {
    if (s.ids.add(this.h.reset().str(it.id).key()) > 0) {
      s.duplicateIds++;
      return;
    }
    this.declaredItems++;
    if (!it.categories || it.categories.length === 0) this.itemsWithoutCategory++;
  }

  private event(e: Event): void {
    const s = this.events!;
    const h = this.h;
    if (e.id !== undefined && s.ids.add(h.reset().str(e.id).key()) > 0) s.duplicateIds++;
    const uk = h.reset().str(e.userId).key();
    const ik = h.reset().str(e.itemId).key();
    h.reset().str(e.userId).str(e.itemId).str(e.type).num(e.timestamp).num(e.value ?? NaN);
    if (e.context) {
      for (const k in e.context) {
        const x = e.context[k];
        if (x === undefined) continue;
        h.str(k);
        if (typeof x === 'number') h.num(x);
        else h.str(typeof x === 'string' ? x : JSON.stringify(x));
      }
    }
    const content = h.key();
    const requestId = typeof e.context?.requestId === 'string' ? e.context.requestId : undefined;
    this.countEvent(uk, ik, e.type, e.timestamp, content, requestId === undefined ? undefined : h.reset().str(requestId).str(e.itemId).key());
    if (this.users && this.users.ids.size > 0 && !this.users.ids.has(uk)) this.unknownUsers++;
    if (this.items && this.items.ids.size > 0 && !this.items.ids.has(ik)) this.unknownItems++;
  }

  /** The per-event checks shared by files and the store (keys are hashes, or indices + 1). */
  private countEvent(userKey: number, itemKey: number, type: string, ts: number, contentKey: number, requestKey: number | undefined): void {
    this.byType.set(type, (this.byType.get(type) ?? 0) + 1);
    if (this.contentKeys.add(contentKey) > 0) this.duplicateEvents++;
    this.perUser.add(userKey);
    this.perItem.add(itemKey);
    if (ts < this.minTs) this.minTs = ts;
    if (ts > this.maxTs) this.maxTs = ts;
    if (ts > this.futureAfter) this.future++;
    if (ts < this.oldBefore) this.tooOld++;
    if (type === 'impression' || type === 'click') {
      const bucket = Math.floor(ts / this.window);
      const win = this.h.reset().num(userKey).num(itemKey).num(bucket).key();
      if (type === 'impression') {
        this.impressions++;
        if (requestKey !== undefined) this.impressionsByRequest.add(requestKey);
        this.impressionsByWindow.add(win);
      } else {
        this.clickReqKeys.push(requestKey ?? 0);
        if (requestKey !== undefined) this.clicksWithRequest++;
        else this.clicksWithoutRequest++;
        this.clickWinKeys.push(win);
        this.clickWinKeys2.push(this.h.reset().num(userKey).num(itemKey).num(bucket - 1).key());
      }
    }
  }

  // ---- store mode ----

  /** Counts of a columnar event batch from the store. */
  eventBatch(b: EventBatch, typeNames: Map<number, string>, userDeclared: Uint8Array | null, itemDeclared: Uint8Array | null): void {
    const s = this.stats('events');
    const h = this.h;
    const value = s.field('value');
    for (let i = 0; i < b.length; i++) {
      s.rows++;
      s.valid++;
      for (const t of ['userId', 'itemId', 'type', 'timestamp']) s.field(t).present++;
      const v = b.value[i];
      if (v === v) value.present++;
      const u = b.userIdx[i];
      const it = b.itemIdx[i];
      const type = typeNames.get(b.type[i]) ?? String(b.type[i]);
      const content = h.reset().num(u).num(it).num(b.type[i]).num(b.timestamp[i]).num(v).key();
      this.countEvent(u + 1, it + 1, type, b.timestamp[i], content, undefined);
      if (userDeclared && !(userDeclared[u] === 1)) this.unknownUsers++;
      if (itemDeclared && !(itemDeclared[it] === 1)) this.unknownItems++;
    }
  }

  finish(): ValidationReport {
    const kindReport = (s: KindStats | null): EntityStats | null => {
      if (!s) return null;
      const fields: FieldStats[] = [];
      for (const [t, f] of s.fields) {
        const readable = s.rows - s.unreadable;
        const empty = Math.max(0, readable - f.present - f.errors);
        fields.push({
          field: t,
          present: f.present,
          empty,
          errors: f.errors,
          emptyRate: rate(empty, readable),
          errorRate: rate(f.errors, readable),
          errorsByCode: f.byCode,
        });
      }
      return {
        source: s.source,
        rows: s.rows,
        valid: s.valid,
        invalid: s.rows - s.valid,
        unreadable: s.unreadable,
        fields,
        duplicateIds: s.duplicateIds,
        duplicateIdRate: rate(s.duplicateIds, s.valid),
        firstErrors: s.firstErrors,
      };
    };

    let events: ValidationReport['events'] = null;
    const ev = kindReport(this.events);
    if (ev) {
      const total = this.events!.valid;
      let joined = 0;
      const clicks = this.clickWinKeys.length;
      // Clicks with a request id join by (request id, item) when impressions carry request ids;
      // the others by (user, item) with an impression in the same or the previous time window.
      const useRequest = this.impressionsByRequest.size > 0;
      for (let c = 0; c < clicks; c++) {
        const rk = this.clickReqKeys[c];
        if (rk !== 0 && useRequest) {
          if (this.impressionsByRequest.has(rk)) joined++;
          continue;
        }
        if (this.impressionsByWindow.has(this.clickWinKeys[c]) || this.impressionsByWindow.has(this.clickWinKeys2[c])) joined++;
      }
      const method: EventChecks['join']['method'] =
        this.impressions === 0 || clicks === 0
          ? 'none'
          : !useRequest || this.clicksWithRequest === 0
            ? 'window'
            : this.clicksWithoutRequest === 0
              ? 'requestId'
              : 'mixed';
      const checkedUsers = this.sourceInfo.kind === 'store' ? this.userMaskSet : (this.users?.ids.size ?? 0) > 0;
      const checkedItems = this.sourceInfo.kind === 'store' ? this.itemMaskSet : (this.items?.ids.size ?? 0) > 0;
      events = {
        ...ev,
        total,
        byType: Object.fromEntries([...this.byType].sort((a, b) => b[1] - a[1])),
        duplicateEvents: this.duplicateEvents,
        duplicateEventRate: rate(this.duplicateEvents, total),
        unknownUsers: checkedUsers ? this.unknownUsers : null,
        unknownUserRate: checkedUsers ? rate(this.unknownUsers, total) : null,
        unknownItems: checkedItems ? this.unknownItems : null,
        unknownItemRate: checkedItems ? rate(this.unknownItems, total) : null,
        time: {
          min: total ? new Date(this.minTs).toISOString() : null,
          max: total ? new Date(this.maxTs).toISOString() : null,
          future: this.future,
          futureRate: rate(this.future, total),
          tooOld: this.tooOld,
          tooOldRate: rate(this.tooOld, total),
          now: new Date(this.now).toISOString(),
          oldBefore: new Date(this.oldBefore).toISOString(),
        },
        join: {
          impressions: this.impressions,
          clicks,
          joinedClicks: joined,
          joinRate: clicks && this.impressions ? joined / clicks : null,
          ctr: this.impressions ? clicks / this.impressions : null,
          method,
          windowMinutes: this.window / 60_000,
          ...(this.sourceInfo.kind === 'store' && method === 'window' ? { note: 'the store scan carries no request ids' } : {}),
        },
        perUser: distribution(this.perUser.countValues()),
        perItem: distribution(this.perItem.countValues()),
      };
    }

    const coverage: Coverage = {
      itemsWithoutCategory: null,
      itemsWithoutCategoryRate: null,
      itemsWithoutEvents: null,
      itemsWithoutEventsRate: null,
      usersWithoutEvents: null,
      usersWithoutEventsRate: null,
    };
    if (this.items && this.declaredItems > 0) {
      coverage.itemsWithoutCategory = this.itemsWithoutCategory;
      coverage.itemsWithoutCategoryRate = rate(this.itemsWithoutCategory, this.declaredItems);
      if (events) {
        let without = 0;
        if (this.sourceInfo.kind === 'store') without = this.countWithout(this.itemDeclaredIdx, this.perItem);
        else this.items.ids.forEach((k) => (without += this.perItem.has(k) ? 0 : 1));
        coverage.itemsWithoutEvents = without;
        coverage.itemsWithoutEventsRate = rate(without, this.declaredItems);
      }
    }
    if (this.users && this.declaredUsers > 0 && events) {
      let without = 0;
      if (this.sourceInfo.kind === 'store') without = this.countWithout(this.userDeclaredIdx, this.perUser);
      else this.users.ids.forEach((k) => (without += this.perUser.has(k) ? 0 : 1));
      coverage.usersWithoutEvents = without;
      coverage.usersWithoutEventsRate = rate(without, this.declaredUsers);
    }

    const report: ValidationReport = {
      source: this.sourceInfo,
      generatedAt: new Date().toISOString(),
      users: kindReport(this.users),
      items: kindReport(this.items),
      events,
      coverage,
      warnings: [],
    };
    report.warnings = adviseOn(report);
    return report;
  }

  // store-mode bookkeeping (declared users/items by index)
  private userMaskSet = false;
  private itemMaskSet = false;
  private userDeclaredIdx: number[] = [];
  private itemDeclaredIdx: number[] = [];

  private countWithout(declared: number[], counter: KeyCounter): number {
    let n = 0;
    for (const idx of declared) if (!counter.has(idx + 1)) n++;
    return n;
  }

  /** Store mode: declared users and items, by index. */
  storeEntities(users: number[] | null, items: number[] | null): void {
    if (users) {
      this.userDeclaredIdx = users;
      this.userMaskSet = true;
    }
    if (items) {
      this.itemDeclaredIdx = items;
      this.itemMaskSet = true;
    }
  }
}

// ---- advice -----------------------------------------------------------------------------------

function pct(x: number): string {
  const p = 100 * x;
  return p > 0 && p < 0.1 ? '<0.1%' : `${p < 10 ? p.toFixed(1) : Math.round(p)}%`;
}

function num(n: number): string {
  return n.toLocaleString('en-US');
}

export function adviseOn(r: ValidationReport): ValidationWarning[] {
  const w: ValidationWarning[] = [];
  const add = (level: WarningLevel, code: string, message: string, advice: string) => w.push({ level, code, message, advice });
  for (const [kind, s] of [['users', r.users], ['items', r.items], ['events', r.events]] as const) {
    if (!s) continue;
    if (s.invalid > 0) {
      add(
        s.invalid > s.rows * 0.05 ? 'error' : 'warning',
        'SCHEMA_ERRORS',
        `${num(s.invalid)} of ${num(s.rows)} ${kind} rows (${pct(s.invalid / Math.max(1, s.rows))}) are invalid${s.unreadable ? ` (${num(s.unreadable)} unreadable)` : ''}`,
        'see the per-field errors above; `funnel import --rejects FILE` writes every bad row with its line and reason',
      );
    }
    for (const f of s.fields) {
      if (f.emptyRate >= 0.5 && f.present > 0 && s.rows >= 10) {
        add('info', 'HIGH_EMPTY_RATE', `${f.field} is empty in ${pct(f.emptyRate)} of ${kind}`, `fill ${f.field} where you can, or leave it out of the mapping`);
      }
    }
    if (kind !== 'events' && s.duplicateIds > 0) {
      add('warning', 'DUPLICATE_IDS', `${num(s.duplicateIds)} ${kind} rows (${pct(s.duplicateIdRate)}) repeat an earlier id`, 'later rows overwrite earlier ones on import; make sure that is intended');
    }
  }
  const e = r.events;
  if (!e || e.total === 0) {
    add('error', 'NO_EVENTS', 'no events: there is nothing to train on', 'import interaction events (views, clicks, purchases, ratings...) with `funnel import --events FILE`');
  } else {
    if (e.total < 1000) add('warning', 'FEW_EVENTS', `only ${num(e.total)} events`, 'models need thousands of events at least; popularity will do better until then');
    if (e.duplicateIds > 0) {
      add('warning', 'DUPLICATE_EVENT_IDS', `${num(e.duplicateIds)} events (${pct(e.duplicateIdRate)}) repeat an event id`, 'they are skipped on import (deduplicated by id); check the exporter for retries');
    }
    if (e.duplicateEventRate > 0.01 || (e.duplicateEvents > 0 && e.total < 100_000)) {
      add(
        e.duplicateEventRate > 0.05 ? 'warning' : 'info',
        'DUPLICATE_EVENTS',
        `${num(e.duplicateEvents)} events (${pct(e.duplicateEventRate)}) are identical to an earlier one (same user, item, type, time, value and context)`,
        'give every event a unique id (event_id) so that retried sends are deduplicated',
      );
    }
    if (!e.join.impressions) {
      add('warning', 'NO_IMPRESSIONS', 'no impressions: ranking cannot be trained', 'send an impression event for every item shown, with the request id of the response; rankers learn from shown-but-not-clicked items, and CTR cannot be measured without them');
    } else if (!e.join.clicks) {
      add('warning', 'NO_CLICKS', `${num(e.join.impressions)} impressions but no clicks`, 'send click events (with the request id of the impression) so that CTR models have positives');
    } else if (e.join.joinRate !== null && e.join.joinRate < 0.8) {
      const how = e.join.method === 'window' ? `by user, item and a ${e.join.windowMinutes}-minute window` : 'by request id';
      add(
        e.join.joinRate < 0.5 ? 'error' : 'warning',
        'LOW_JOIN_RATE',
        `only ${pct(e.join.joinRate)} of clicks match an impression (${how})`,
        'log an impression for every item shown and give the click the request id of that impression; unmatched clicks cannot be used to train ranking',
      );
    }
    if (e.join.impressions && e.join.method === 'window' && r.source.kind === 'files') {
      add('info', 'NO_REQUEST_IDS', 'impressions and clicks carry no request id: they were joined by user, item and time', 'send context.requestId (the id of the recommendation response) on impressions and clicks');
    }
    if (e.unknownUserRate) {
      add('warning', 'UNKNOWN_USERS', `${num(e.unknownUsers!)} events (${pct(e.unknownUserRate)}) name users that are not in the users data`, 'send users before their events (they are created without attributes otherwise)');
    }
    if (e.unknownItemRate) {
      add(
        e.unknownItemRate > 0.2 ? 'error' : 'warning',
        'UNKNOWN_ITEMS',
        `${num(e.unknownItems!)} events (${pct(e.unknownItemRate)}) name items that are not in the catalogue`,
        'send items before their events: items without metadata cannot be filtered, described or recommended by content',
      );
    }
    if (e.time.future) {
      add('warning', 'FUTURE_TIMESTAMPS', `${num(e.time.future)} events (${pct(e.time.futureRate)}) are in the future (after ${e.time.now.slice(0, 10)})`, 'check the clocks of the senders and the time unit (milliseconds read as seconds?)');
    }
    if (e.time.tooOld) {
      add(
        'warning',
        'OLD_TIMESTAMPS',
        `${num(e.time.tooOld)} events (${pct(e.time.tooOldRate)}) are dated before ${e.time.oldBefore.slice(0, 10)}`,
        'seconds read as milliseconds? map the column with its unit, e.g. --map timestamp=ts:s',
      );
    }
    if (e.perUser.count > 0 && e.perUser.p50 < 3) {
      add('warning', 'COLD_USERS', `half the users have fewer than 3 events (median ${e.perUser.p50})`, 'personalisation needs history: popularity and context will carry most recommendations');
    }
    if (Object.keys(e.byType).length === 1 && e.join.impressions === 0) {
      add('info', 'SINGLE_EVENT_TYPE', `all events are of one type (${Object.keys(e.byType)[0]})`, 'more feedback types (views, clicks, purchases) give retrieval and ranking more signal');
    }
  }
  if (!r.items || r.items.valid === 0) {
    add('info', 'NO_ITEMS', 'no item catalogue: items are known only from events', 'import items with titles and categories for content-based retrieval, filters and diversity');
  } else {
    const c = r.coverage;
    if (c.itemsWithoutCategoryRate !== null && c.itemsWithoutCategoryRate > 0.1) {
      add('warning', 'ITEMS_WITHOUT_CATEGORY', `${pct(c.itemsWithoutCategoryRate)} of items have no category`, 'send categories: content-based retrieval, filters and diversity rules need them');
    }
    if (c.itemsWithoutEventsRate !== null && c.itemsWithoutEventsRate > 0.3) {
      add('info', 'COLD_ITEMS', `${pct(c.itemsWithoutEventsRate)} of items have no events`, 'they can be recommended only through their content (categories, text) until they get events');
    }
  }
  const order: Record<WarningLevel, number> = { error: 0, warning: 1, info: 2 };
  return w.sort((a, b) => order[a.level] - order[b.level]);
}

// ---- drivers ----------------------------------------------------------------------------------

export interface ValidateFilesOptions extends ValidatorOptions {
  users?: string;
  items?: string;
  events?: string;
  preset?: string;
  /** Mapping per kind. */
  mappings?: Partial<Record<EntityKind, MappingSpec>>;
  format?: Format;
  delimiter?: string;
  header?: boolean;
  encoding?: Encoding;
  strictTypes?: boolean;
  customEventTypes?: string[];
  onProgress?: (p: { kind: EntityKind; file: string; bytes: number; totalBytes: number; rows: number }) => void;
}

/** Validates files (users, items, then events) without importing them. */
export async function validateFiles(opts: ValidateFilesOptions): Promise<ValidationReport> {
  const v = new Validator(opts);
  const files: Partial<Record<EntityKind, string>> = {};
  for (const kind of ['users', 'items', 'events'] as const) {
    const path = opts[kind];
    if (!path) continue;
    files[kind] = path;
    const src: SourceOptions = {
      path,
      kind,
      preset: opts.preset,
      mapping: opts.mappings?.[kind],
      format: opts.format,
      delimiter: opts.delimiter,
      header: opts.header,
      encoding: opts.encoding,
      strictTypes: opts.strictTypes,
      customEventTypes: opts.customEventTypes,
    };
    let source;
    try {
      source = await openSource(src);
    } catch (err) {
      if (err instanceof DataFileError && err.code === 'EMPTY_FILE') {
        v.begin(kind, path, []);
        continue;
      }
      throw err;
    }
    const { reader, mapper } = source;
    v.begin(kind, path, mapper.targets);
    const errs: FieldError[] = [];
    let rows = 0;
    try {
      for await (const b of reader.batches()) {
        for (let i = 0; i < b.length; i++) {
          rows++;
          const perr = b.errors.get(i);
          if (perr) {
            v.unreadable(kind, b.line[i], perr.code, perr.message);
            continue;
          }
          errs.length = 0;
          const entity = b.values ? mapper.fromObject(b.values[i], errs) : mapper.fromBatch(b, i, errs);
          v.row(kind, entity, errs, b.line[i]);
        }
        opts.onProgress?.({ kind, file: path, bytes: b.length ? b.offset[b.length - 1] : 0, totalBytes: reader.size, rows });
      }
    } finally {
      await reader.close();
    }
  }
  v.setSource({ kind: 'files', files });
  return v.finish();
}

/** Validates what a store holds. */
export async function validateStore(store: Store, opts: ValidatorOptions & { db?: string; onProgress?: (p: { kind: EntityKind; rows: number }) => void } = {}): Promise<ValidationReport> {
  const v = new Validator(opts);
  v.setSource({ kind: 'store', db: opts.db });
  const userIdx: number[] = [];
  const itemIdx: number[] = [];
  v.begin('users', 'store', ['id', 'attributes']);
  let maxU = -1;
  let n = 0;
  for await (const batch of store.scanUsers()) {
    for (const u of batch) {
      maxU = Math.max(maxU, u.idx);
      if (!u.declared) continue;
      userIdx.push(u.idx);
      const { idx: _i, declared: _d, ...plain } = u;
      v.row('users', plain, []);
    }
    n += batch.length;
    opts.onProgress?.({ kind: 'users', rows: n });
  }
  v.begin('items', 'store', ['id', 'title', 'categories', 'tags', 'price', 'createdAt', 'text', 'imageUrl']);
  let maxI = -1;
  n = 0;
  for await (const batch of store.scanItems()) {
    for (const it of batch as StoredItem[]) {
      maxI = Math.max(maxI, it.idx);
      if (!it.declared) continue;
      itemIdx.push(it.idx);
      const { idx: _i, declared: _d, ...plain } = it;
      v.row('items', plain, []);
    }
    n += batch.length;
    opts.onProgress?.({ kind: 'items', rows: n });
  }
  const userMask = new Uint8Array(maxU + 1);
  for (const i of userIdx) userMask[i] = 1;
  const itemMask = new Uint8Array(maxI + 1);
  for (const i of itemIdx) itemMask[i] = 1;
  v.storeEntities(userIdx.length ? userIdx : null, itemIdx.length ? itemIdx : null);
  const names = await store.eventTypes();
  v.begin('events', 'store', ['userId', 'itemId', 'type', 'timestamp', 'value']);
  n = 0;
  for await (const b of store.scanEvents()) {
    v.eventBatch(b, names, userIdx.length ? userMask : null, itemIdx.length ? itemMask : null);
    n += b.length;
    opts.onProgress?.({ kind: 'events', rows: n });
  }
  return v.finish();
}

// ---- formatting -------------------------------------------------------------------------------

function table(rows: (string | number)[][], right: boolean[]): string[] {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? num(c) : c)));
  const widths = cells[0].map((_, j) => Math.max(...cells.map((r) => r[j].length)));
  return cells.map((r) => '  ' + r.map((c, j) => (right[j] ? c.padStart(widths[j]) : c.padEnd(widths[j]))).join('  ').trimEnd());
}

function ratio(x: number | null): string {
  return x === null ? '-' : pct(x);
}

/** The report as readable text. */
export function formatValidationReport(r: ValidationReport): string {
  const out: string[] = [];
  const src = r.source.kind === 'store' ? `store ${r.source.db ?? ''}`.trim() : Object.entries(r.source.files ?? {}).map(([k, f]) => `${k} ${f}`).join(', ');
  out.push(`Data validation report — ${src}`);
  out.push('');
  const kinds = [['users', r.users], ['items', r.items], ['events', r.events]] as const;
  out.push('Rows');
  const rowTable: (string | number)[][] = [['', 'rows', 'valid', 'invalid', 'unreadable', 'duplicate ids']];
  for (const [k, s] of kinds) {
    if (!s) rowTable.push([k, '-', '-', '-', '-', '-']);
    else rowTable.push([k, s.rows, s.valid, s.invalid, s.unreadable, s.duplicateIds ? `${num(s.duplicateIds)} (${pct(s.duplicateIdRate)})` : '0']);
  }
  out.push(...table(rowTable, [false, true, true, true, true, true]));
  for (const [k, s] of kinds) {
    if (!s || s.fields.length === 0 || s.rows === 0) continue;
    out.push('', `Fields of ${k} (${s.source})`);
    const t: (string | number)[][] = [['field', 'present', 'empty', 'empty %', 'errors', 'error codes']];
    for (const f of s.fields) {
      const codes = Object.entries(f.errorsByCode)
        .filter(([c]) => c !== 'MISSING_FIELD' || f.errors > 0 || true)
        .map(([c, n]) => `${c} ${num(n)}`)
        .join(', ');
      t.push([f.field, f.present, f.empty, pct(f.emptyRate), f.errors, codes]);
    }
    out.push(...table(t, [false, true, true, true, true, false]));
    if (s.firstErrors.length) {
      out.push('  first errors:');
      for (const e of s.firstErrors) out.push(`    ${e.line !== undefined ? `line ${e.line}` : ''}${e.field ? `${e.line !== undefined ? ', ' : ''}${e.field}` : ''}: ${e.code}: ${e.message}`);
    }
  }
  const e = r.events;
  if (e && e.total > 0) {
    out.push('', 'Event types');
    out.push(...table([['type', 'events', 'share'], ...Object.entries(e.byType).map(([t, n]) => [t, n, pct(n / e.total)])], [false, true, true]));
    out.push('', 'Event checks');
    const checks: (string | number)[][] = [
      ['identical events', `${num(e.duplicateEvents)} (${pct(e.duplicateEventRate)})`],
      ['repeated event ids', `${num(e.duplicateIds)} (${pct(e.duplicateIdRate)})`],
      ['unknown users', e.unknownUsers === null ? 'not checked (no users data)' : `${num(e.unknownUsers)} (${ratio(e.unknownUserRate)})`],
      ['unknown items', e.unknownItems === null ? 'not checked (no items data)' : `${num(e.unknownItems)} (${ratio(e.unknownItemRate)})`],
      ['time range', `${e.time.min} .. ${e.time.max}`],
      ['in the future', `${num(e.time.future)} (${pct(e.time.futureRate)})`],
      [`before ${e.time.oldBefore.slice(0, 10)}`, `${num(e.time.tooOld)} (${pct(e.time.tooOldRate)})`],
      [
        'impression → click',
        e.join.method === 'none'
          ? `${num(e.join.impressions)} impressions, ${num(e.join.clicks)} clicks: nothing to join`
          : `${num(e.join.joinedClicks)} of ${num(e.join.clicks)} clicks joined (${ratio(e.join.joinRate)}, by ${e.join.method === 'window' ? `user+item within ${e.join.windowMinutes} min` : e.join.method === 'mixed' ? 'request id, else window' : 'request id'}); CTR ${ratio(e.join.ctr)}${e.join.note ? ` (${e.join.note})` : ''}`,
      ],
    ];
    out.push(...table(checks, [false, false]));
    out.push('', 'Events per user / per item');
    const d = (x: Distribution) => [x.count, x.min, x.p50, x.p90, x.p99, x.max, x.mean.toFixed(1)];
    out.push(...table([['', 'count', 'min', 'median', 'p90', 'p99', 'max', 'mean'], ['per user', ...d(e.perUser)], ['per item', ...d(e.perItem)]], [false, true, true, true, true, true, true, true]));
    const hist: (string | number)[][] = [['events', ...e.perUser.buckets.map((b) => b.label)]];
    hist.push(['users', ...e.perUser.buckets.map((b) => b.count)]);
    hist.push(['items', ...e.perItem.buckets.map((b) => b.count)]);
    out.push(...table(hist, hist[0].map((_, j) => j > 0)));
  }
  const c = r.coverage;
  if (c.itemsWithoutCategory !== null || c.usersWithoutEvents !== null) {
    out.push('', 'Coverage');
    const t: (string | number)[][] = [];
    if (c.itemsWithoutCategory !== null) t.push(['items without category', `${num(c.itemsWithoutCategory)} (${ratio(c.itemsWithoutCategoryRate)})`]);
    if (c.itemsWithoutEvents !== null) t.push(['items without events', `${num(c.itemsWithoutEvents)} (${ratio(c.itemsWithoutEventsRate)})`]);
    if (c.usersWithoutEvents !== null) t.push(['users without events', `${num(c.usersWithoutEvents)} (${ratio(c.usersWithoutEventsRate)})`]);
    out.push(...table(t, [false, false]));
  }
  out.push('', r.warnings.length ? 'Warnings' : 'Warnings: none');
  const mark: Record<WarningLevel, string> = { error: 'ERROR  ', warning: 'WARNING', info: 'info   ' };
  for (const w of r.warnings) {
    out.push(`  ${mark[w.level]} ${w.message}`);
    out.push(`          → ${w.advice}`);
  }
  return out.join('\n');
}
