/**
 * In-memory ProfileStore: time-bucketed counters in typed arrays.
 *
 * Cells (the same as the Redis keying in types.ts: one small hash per user and bucket):
 * cell = keyCode·64 + typeCode (keyCode 0 = '*': every event of the type) → count. Buckets of
 * the coarsest level also hold the last touches: cell keyCode·64 + 63 for a key, ~itemIdx for
 * an item, value = seconds since the bucket start + 1.
 *
 * Per user (a slot):
 *  - the recent ring: the last `recentSize` events as (timestamp, item·1024 + levels·64 + type);
 *  - an arena (Int32Array): header, bucket directory (bucket key, offset, size per entry), and
 *    one hot region per level: an open-addressing hash holding the level's current bucket;
 *  - a sealed store (Int32Array): every other bucket, as (cell, value) pairs sorted by cell,
 *    written once when the bucket stops being current (binary search to read; a late event
 *    adding a cell to a sealed bucket rewrites it: O(its cells)).
 *
 * Ingest is O(1): an event moves the clock, counts item popularity, and is appended to the
 * user's ring with the levels that still keep its bucket (decided at arrival). The user's
 * counters are updated in batches (`fold`: every min(50, recentSize) events of the user, and
 * before anything reads the user), so that the user's arena is loaded once per batch rather
 * than once per event: per event, K+1 counters per level and K+1 touches. A read may thus fold
 * up to 50 pending events first (about a microsecond each). Events are counted under the keys
 * their item has when folded; `setItemKeys` folds everything first when it changes keys.
 *
 * Expiry: buckets older than their level's retention are dropped from the directory when it
 * is full (the churn of minute buckets keeps it clean), when a current bucket is replaced, and
 * by `expire()`; sealed stores are compacted when they run out of room (expired buckets are
 * emptied then, not copied). Arrays are recycled through a pool of power-of-two sizes.
 *
 * Memory bounds
 *  - per user: cells ≤ Σ over retained buckets of (#types × (#keys used + 1)), plus touches in
 *    the coarsest level's buckets, capped by `maxCellsPerUser` (new cells beyond it are dropped
 *    and counted in `droppedLate`); about 16–20 bytes per cell, plus the ring (16 bytes × size);
 *  - users ≤ `maxUsers`: beyond it a least recently updated user is evicted whole
 *    (approximate LRU, as Redis does it: the oldest of 16 sampled users; exact up to 16 users);
 *  - items: per level, one bucket map per retained bucket and type.
 *
 * Precision: see window.ts (exact at bucket granularity of the level answering the query).
 * Last touches have second precision and last as long as the coarsest level keeps the bucket.
 */
import type { Store } from '../store/types.js';
import { rebuildProfiles } from './rebuild.js';
import type {
  AffinityQuery,
  CountQuery,
  PopularityQuery,
  ProfileEvent,
  ProfileEventColumns,
  ProfileMemoryStats,
  ProfileStore,
  RebuildOptions,
  RebuildReport,
  RecentItems,
  TopItems,
  TopItemsQuery,
  TouchTarget,
} from './types.js';
import { DEFAULT_LEVELS, type LevelSpec, maxWindowMs, resolveWindow as resolve, type ResolvedWindow, validateLevels } from './window.js';

export interface MemoryProfileOptions {
  levels?: readonly LevelSpec[];
  /** Events kept per user in the recent buffer (default 50, at most 4096). */
  recentSize?: number;
  /** Users held at most; a least recently updated one is evicted beyond (default 1,000,000). */
  maxUsers?: number;
  /** Cells (counters + touches) per user at most (default 65,536). */
  maxCellsPerUser?: number;
  /** Only these event types are profiled (default: every type). */
  types?: string[];
  /** Keep the last touch time of every item per user (default true). */
  trackItemTouches?: boolean;
  /** Keep per-item windowed popularity (default true). */
  itemPopularity?: boolean;
}

/** Type code 63 is reserved for key touches. */
export const MAX_TYPES = 63;
const TOUCH_TYPE = 63;
export const MAX_KEYS = (1 << 25) - 2;
const ALL_KEY = '*';
/** Bucket ids times 4 must stay below 2^31: minute buckets until the year 2990. */
const MAX_TS = 3e13;

// arena header
const H_DCAP = 0; // directory capacity (entries)
const H_NDIR = 1; // directory entries used
const H_CELLS = 2; // cells held
const H_STOP = 3; // first free int of the sealed store
const H_SGARB = 4; // garbage ints in the sealed store
const H_LATEST = 5; // 4 ints: directory index of the current bucket per level, -1 none
const H_HCAP = 9; // 4 ints: capacity (pairs) of each level's hot region
const H_REGION = 13; // 4 ints: offset of each level's hot region
const HDR = 20;
/** Directory `off` of a current bucket: its cells are in the level's hot region. */
const HOT = -1;
const SAMPLE = 16;
// per-slot metadata
const META = 8;
const M_USER = 0;
const M_HEAD = 1; // next write position in the recent ring
const M_LEN = 2; // events in the ring
const M_STAMP = 3; // last update tick (LRU)
const M_PEND = 4; // newest events of the ring not yet folded into the counters
/** Events folded into a user's counters at once (at most the ring size). */
const FOLD_BATCH = 50;

function hashCell(c: number): number {
  let h = Math.imul(c, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  return h ^ (h >>> 13);
}

function nextPow2(n: number, min = 8): number {
  let c = min;
  while (c < n) c *= 2;
  return c;
}

/** The window's buckets, the first clamped to 0 (timestamps are >= 0). */
function resolveWindow(levels: readonly LevelSpec[], windowMs: number, now: number, clock: number): ResolvedWindow {
  const w = resolve(levels, windowMs, now, clock);
  if (w.first < 0) w.first = 0;
  return w;
}

/** Sorts cells[0..n) ascending (insertion sort when small). */
function sortCells(cells: Int32Array, n: number): void {
  if (n > 32) {
    cells.subarray(0, n).sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const x = cells[i];
    let j = i - 1;
    while (j >= 0 && cells[j] > x) {
      cells[j + 1] = cells[j];
      j--;
    }
    cells[j + 1] = x;
  }
}

/**
 * Recycles the per-user typed arrays (power-of-two lengths): users grow their arrays all the
 * time, and handing the released ones to the next user avoids allocation and GC work.
 */
class ArrayPool {
  private free: Int32Array[][] = [];
  /** Bytes held in the free lists. */
  bytes = 0;
  /** Bytes of the chunks carved so far (views handed out or in the free lists). */
  chunkBytes = 0;
  private chunk: ArrayBuffer | undefined;
  private chunkPos = 0;
  constructor(private readonly maxBytes: number) {}

  /**
   * An array of at least n ints (a power of two); zero-filled when asked. Arrays up to
   * CHUNK_INTS / 8 are views into shared 8 MiB chunks rather than arrays of their own: a
   * profile store makes millions of them as users' counters grow, and each one of its own
   * cost a calloc, external-memory accounting and the garbage collections that accounting
   * triggers (a third of the ingest time of 10M events over 100K users). A view handed back
   * goes to its size's free list, which is not capped: the chunks stay, bounded by the most
   * the store ever held at once.
   */
  take(n: number, zero: boolean): Int32Array {
    let c = 4;
    while (1 << c < n) c++;
    const a = this.free[c]?.pop();
    if (a === undefined) {
      const len = 1 << c;
      if (len > CHUNK_INTS >> 3) return new Int32Array(len);
      if (this.chunk === undefined || this.chunkPos + len > CHUNK_INTS) {
        this.chunk = new ArrayBuffer(CHUNK_INTS * 4);
        this.chunkPos = 0;
        this.chunkBytes += CHUNK_INTS * 4;
      }
      const v = new Int32Array(this.chunk, this.chunkPos * 4, len);
      this.chunkPos += len;
      return v; // fresh chunk memory is zero
    }
    this.bytes -= a.byteLength;
    if (zero) a.fill(0);
    return a;
  }

  give(a: Int32Array | null): void {
    if (a === null) return;
    const c = 31 - Math.clz32(a.length);
    if (1 << c !== a.length) return;
    const view = a.length <= CHUNK_INTS >> 3;
    if (!view && this.bytes + a.byteLength > this.maxBytes) return;
    (this.free[c] ??= []).push(a);
    this.bytes += a.byteLength;
  }

  /** Bytes of the current chunk not handed out yet. */
  get chunkSlack(): number {
    return this.chunk === undefined ? 0 : (CHUNK_INTS - this.chunkPos) * 4;
  }

  clear(): void {
    this.free = [];
    this.bytes = 0;
    this.chunk = undefined;
    this.chunkPos = 0;
    this.chunkBytes = 0;
  }
}

/** Ints per chunk of the array pool (8 MiB). */
const CHUNK_INTS = 1 << 21;

/** item → count map of one bucket: open addressing over (item + 1, count) pairs. */
class ItemBucket {
  slots: Int32Array;
  size = 0;
  constructor(public id: number, cap = 16) {
    this.slots = new Int32Array(2 * cap);
  }

  get capacity(): number {
    return this.slots.length >> 1;
  }

  reset(id: number): void {
    this.id = id;
    const want = nextPow2(this.size * 2, 16);
    if (want < this.capacity / 2) this.slots = new Int32Array(2 * want);
    else this.slots.fill(0);
    this.size = 0;
  }

  inc(item: number): void {
    let slots = this.slots;
    let mask = (slots.length >> 1) - 1;
    const k = item + 1;
    let i = hashCell(k) & mask;
    for (;;) {
      const x = slots[2 * i];
      if (x === k) {
        slots[2 * i + 1]++;
        return;
      }
      if (x === 0) break;
      i = (i + 1) & mask;
    }
    if ((this.size + 1) * 4 > (mask + 1) * 3) {
      this.grow();
      slots = this.slots;
      mask = (slots.length >> 1) - 1;
      i = hashCell(k) & mask;
      while (slots[2 * i] !== 0) i = (i + 1) & mask;
    }
    slots[2 * i] = k;
    slots[2 * i + 1] = 1;
    this.size++;
  }

  get(item: number): number {
    const slots = this.slots;
    const mask = (slots.length >> 1) - 1;
    const k = item + 1;
    let i = hashCell(k) & mask;
    for (;;) {
      const x = slots[2 * i];
      if (x === k) return slots[2 * i + 1];
      if (x === 0) return 0;
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    const cap = old.length; // pairs: twice the old capacity
    const slots = new Int32Array(2 * cap);
    const mask = cap - 1;
    for (let j = 0; j < old.length; j += 2) {
      const k = old[j];
      if (k === 0) continue;
      let i = hashCell(k) & mask;
      while (slots[2 * i] !== 0) i = (i + 1) & mask;
      slots[2 * i] = k;
      slots[2 * i + 1] = old[j + 1];
    }
    this.slots = slots;
  }

  bytes(): number {
    return this.slots.byteLength + 64;
  }
}

export class MemoryProfileStore implements ProfileStore {
  readonly kind = 'memory';
  readonly levels: readonly LevelSpec[];
  readonly maxWindowMs: number;
  readonly recentSize: number;
  readonly maxUsers: number;
  readonly maxCellsPerUser: number;
  private readonly trackItems: boolean;
  private readonly itemPop: boolean;
  private readonly countedTypes: Set<string> | undefined;
  private readonly nLevels: number;
  private readonly coarse: number;
  private readonly gran: Float64Array;
  private readonly ring: Int32Array;

  // clock
  private clockMs = -Infinity;
  private readonly head: Float64Array;
  private tick = 0;

  // dictionaries
  private typeNames: string[] = [];
  private typeCodes = new Map<string, number>();
  private keyNames: string[] = [ALL_KEY];
  private keyCodes = new Map<string, number>([[ALL_KEY, 0]]);

  // item → keys
  private itemKeyStart = new Int32Array(0);
  private itemKeyLen = new Uint8Array(0);
  private keyPool = new Int32Array(1024);
  private poolUsed = 0;
  private poolGarbage = 0;

  // users
  private userSlot = new Int32Array(0); // userIdx → slot + 1
  private slotCap = 0;
  private nSlots = 0;
  private live = 0;
  private freeSlots: number[] = [];
  /** Per slot: header, bucket directory, and the current bucket of each level (hashes). */
  private arenas: (Int32Array | null)[] = [];
  /** Per slot: the closed buckets, each as pairs (cell, value) sorted by cell. */
  private sealed: (Int32Array | null)[] = [];
  /** Per slot: [userIdx, recent head, recent length, last update tick]. */
  private meta = new Int32Array(0);
  /** Per slot, recentSize pairs (timestamp, item·64 + type). */
  private recent = new Float64Array(0);
  private sampleState = 0x12345678;
  private readonly pool = new ArrayPool(512 << 20);

  // items
  private itemRings: ((ItemBucket | undefined)[] | undefined)[] = [];
  private acc = new Float64Array(0);

  // stats
  private droppedLate = 0;
  private droppedCapped = 0;
  private evicted = 0;

  // scratch
  private scratchKeys = new Int32Array(64);
  private readonly foldBatch: number;
  private sortScratch = new Int32Array(64);
  private readonly capsScratch = new Int32Array(4);

  constructor(opts: MemoryProfileOptions = {}) {
    const levels = (opts.levels ?? DEFAULT_LEVELS).map((l) => ({ ...l }));
    validateLevels(levels);
    this.levels = Object.freeze(levels);
    this.maxWindowMs = maxWindowMs(levels);
    this.nLevels = levels.length;
    this.coarse = levels.length - 1;
    this.gran = Float64Array.from(levels.map((l) => l.granularityMs));
    this.ring = Int32Array.from(levels.map((l) => l.buckets));
    this.head = new Float64Array(levels.length).fill(-Infinity);
    this.recentSize = opts.recentSize ?? 50;
    if (!Number.isInteger(this.recentSize) || this.recentSize < 1 || this.recentSize > 4096) {
      throw new Error(`profiles: recentSize must be an integer in [1, 4096], got ${opts.recentSize}`);
    }
    this.maxUsers = opts.maxUsers ?? 1_000_000;
    if (!Number.isInteger(this.maxUsers) || this.maxUsers < 1) throw new Error(`profiles: maxUsers must be a positive integer, got ${opts.maxUsers}`);
    this.maxCellsPerUser = opts.maxCellsPerUser ?? 65_536;
    if (!Number.isInteger(this.maxCellsPerUser) || this.maxCellsPerUser < 1) {
      throw new Error(`profiles: maxCellsPerUser must be a positive integer, got ${opts.maxCellsPerUser}`);
    }
    this.foldBatch = Math.min(FOLD_BATCH, this.recentSize);
    this.trackItems = opts.trackItemTouches ?? true;
    this.itemPop = opts.itemPopularity ?? true;
    if (opts.types) {
      if (opts.types.length > MAX_TYPES) throw new Error(`profiles: at most ${MAX_TYPES} event types`);
      this.countedTypes = new Set(opts.types);
      for (const t of opts.types) this.typeCode(t);
    }
  }

  // ---------------------------------------------------------------- dictionaries

  clock(): number {
    return this.clockMs;
  }

  /** Code of a type (allocated on first use); -1 for a type outside the `types` option. */
  typeCode(name: string): number {
    let c = this.typeCodes.get(name);
    if (c !== undefined) return c;
    if (typeof name !== 'string' || name === '') throw new Error(`profiles: event type must be a non-empty string, got ${JSON.stringify(name)}`);
    if (this.countedTypes && !this.countedTypes.has(name)) return -1;
    if (this.typeNames.length >= MAX_TYPES) throw new Error(`profiles: more than ${MAX_TYPES} event types (at '${name}')`);
    c = this.typeNames.length;
    this.typeNames.push(name);
    this.typeCodes.set(name, c);
    return c;
  }

  private keyCode(key: string): number {
    const c = this.keyCodes.get(key);
    if (c !== undefined && c !== 0) return c;
    if (typeof key !== 'string' || key === '' || key === ALL_KEY) throw new Error(`profiles: invalid key ${JSON.stringify(key)} (non-empty, not '*')`);
    if (this.keyNames.length > MAX_KEYS) throw new Error(`profiles: more than ${MAX_KEYS} distinct keys`);
    const code = this.keyNames.length;
    this.keyNames.push(key);
    this.keyCodes.set(key, code);
    return code;
  }

  setItemKeys(items: ArrayLike<number>, keys: string[][]): void {
    if (items.length !== keys.length) throw new Error(`profiles: setItemKeys got ${items.length} items and ${keys.length} key lists`);
    let max = -1;
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (!Number.isInteger(it) || it < 0 || it > 0x7ffffffe) throw new RangeError(`profiles: item index must be a non-negative integer, got ${it}`);
      if (it > max) max = it;
    }
    this.ensureItems(max + 1);
    const lists = keys.map((k) => [...new Set(k.map((x) => this.keyCode(x)))]);
    // Pending events are counted under their item's keys when folded: fold them before keys change.
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      const len = this.itemKeyLen[it];
      if (len === 0) continue;
      const st = this.itemKeyStart[it];
      const codes = lists[i];
      if (codes.length !== len || codes.some((c, j) => this.keyPool[st + j] !== c)) {
        this.foldAll();
        break;
      }
    }
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      const codes = lists[i];
      if (codes.length > 255) throw new Error(`profiles: item ${it} has ${codes.length} keys (at most 255)`);
      this.poolGarbage += this.itemKeyLen[it];
      if (this.poolUsed + codes.length > this.keyPool.length) this.growPool(codes.length);
      this.itemKeyStart[it] = this.poolUsed;
      this.itemKeyLen[it] = codes.length;
      for (const c of codes) this.keyPool[this.poolUsed++] = c;
    }
  }

  private ensureItems(n: number): void {
    if (n <= this.itemKeyStart.length) return;
    const cap = Math.max(n, this.itemKeyStart.length * 2, 1024);
    const s = new Int32Array(cap);
    s.set(this.itemKeyStart);
    const l = new Uint8Array(cap);
    l.set(this.itemKeyLen);
    this.itemKeyStart = s;
    this.itemKeyLen = l;
  }

  private growPool(extra: number): void {
    if (this.poolGarbage > this.poolUsed / 2) {
      // compact: copy live ranges in item order
      const pool = new Int32Array(Math.max(1024, (this.poolUsed - this.poolGarbage + extra) * 2));
      let n = 0;
      for (let it = 0; it < this.itemKeyLen.length; it++) {
        const len = this.itemKeyLen[it];
        if (len === 0) continue;
        pool.set(this.keyPool.subarray(this.itemKeyStart[it], this.itemKeyStart[it] + len), n);
        this.itemKeyStart[it] = n;
        n += len;
      }
      this.keyPool = pool;
      this.poolUsed = n;
      this.poolGarbage = 0;
      if (n + extra <= pool.length) return;
    }
    const pool = new Int32Array(Math.max(this.keyPool.length * 2, this.poolUsed + extra));
    pool.set(this.keyPool.subarray(0, this.poolUsed));
    this.keyPool = pool;
  }

  // ---------------------------------------------------------------- ingest

  record(e: ProfileEvent): void {
    this.recordOne(e);
  }

  recordBatch(events: ProfileEvent[] | ProfileEventColumns): number {
    let n = 0;
    if (Array.isArray(events)) {
      for (const e of events) if (this.recordOne(e)) n++;
      return n;
    }
    const cols = events;
    // store type code → profile type code (-1: not profiled)
    let maxCode = 0;
    for (const c of cols.typeNames.keys()) if (c > maxCode) maxCode = c;
    const map = new Int32Array(maxCode + 1).fill(-1);
    for (const [c, name] of cols.typeNames) map[c] = this.typeCode(name);
    const { userIdx, itemIdx, type, timestamp } = cols;
    for (let i = 0; i < cols.length; i++) {
      const tc = type[i];
      if (tc >= map.length) throw new Error(`profiles: event type code ${tc} is not in typeNames`);
      const t = map[tc];
      if (t < 0) continue;
      const item = itemIdx[i];
      if (item < 0) throw new RangeError(`profiles: item index must be non-negative, got ${item}`);
      this.ingest(userIdx[i], item, t, timestamp[i], null, 0, 0);
      n++;
    }
    return n;
  }

  private recordOne(e: ProfileEvent): boolean {
    let t: number;
    if (typeof e.type === 'number') {
      t = e.type;
      if (!Number.isInteger(t) || t < 0 || t >= this.typeNames.length) throw new RangeError(`profiles: unknown type code ${e.type}`);
    } else {
      t = this.typeCode(e.type);
      if (t < 0) return false;
    }
    const item = e.itemIdx;
    if (!Number.isInteger(item) || item < 0 || item > 0x7ffffffe) throw new RangeError(`profiles: item index must be a non-negative integer, got ${item}`);
    if (e.keys) {
      if (e.keys.length > this.scratchKeys.length) this.scratchKeys = new Int32Array(e.keys.length * 2);
      let n = 0;
      outer: for (const k of e.keys) {
        const c = this.keyCode(k);
        for (let j = 0; j < n; j++) if (this.scratchKeys[j] === c) continue outer;
        this.scratchKeys[n++] = c;
      }
      this.ingest(e.userIdx, item, t, e.timestamp, this.scratchKeys, 0, n);
    } else this.ingest(e.userIdx, item, t, e.timestamp, null, 0, 0);
    return true;
  }

  private advance(ts: number): void {
    this.clockMs = ts;
    for (let l = 0; l < this.nLevels; l++) this.head[l] = Math.floor(ts / this.gran[l]);
  }

  /**
   * One event arrives: the clock moves, item popularity is counted, and the event joins the
   * user's recent ring, with the levels that still keep its bucket. The user's counters are
   * updated later, FOLD_BATCH events at a time (`fold`, also run before anything reads the
   * user): the user's cells are then loaded once per batch instead of once per event. Events
   * with explicit keys are applied at once (after the pending ones).
   */
  private ingest(u: number, item: number, t: number, ts: number, keys: Int32Array | null, k0: number, k1: number): void {
    if (!(ts >= 0 && ts < MAX_TS)) throw new RangeError(`profiles: timestamp must be epoch ms in [0, 3e13), got ${ts}`);
    if (ts > this.clockMs) this.advance(ts);
    const s = this.slotFor(u);
    let mask = 0;
    for (let l = 0; l < this.nLevels; l++) {
      const b = Math.floor(ts / this.gran[l]);
      if (b <= this.head[l] - this.ring[l]) {
        this.droppedLate++;
        continue;
      }
      mask |= 1 << l;
      if (this.itemPop) this.incItem(l, t, b, item);
    }
    const m = s * META;
    if (keys !== null && this.meta[m + M_PEND] > 0) this.fold(s);
    // recent ring
    const R = this.recentSize;
    const h = this.meta[m + M_HEAD];
    const pos = (s * R + h) * 2;
    this.recent[pos] = ts;
    this.recent[pos + 1] = item * 1024 + mask * 64 + t;
    this.meta[m + M_HEAD] = h + 1 === R ? 0 : h + 1;
    if (this.meta[m + M_LEN] < R) this.meta[m + M_LEN]++;
    if (keys !== null) {
      this.apply(s, item, t, ts, mask, keys, k0, k1);
      return;
    }
    const pending = this.meta[m + M_PEND] + 1;
    this.meta[m + M_PEND] = pending;
    if (pending >= this.foldBatch) this.fold(s);
  }

  /**
   * Applies slot s's pending events to its counters, level by level. A level's events in the
   * buckets older than the newest one (a sparse user's events usually open a new hour and a
   * new day each) are written straight into sorted runs, one per bucket, instead of going
   * through the hot hash and being sealed when the next bucket opens; the newest bucket becomes
   * the level's current one, as event-by-event folding leaves it. Counters add and touches
   * take the maximum, so the counts are those of folding event by event (tested against it and
   * a brute-force recount). Near the per-user cell cap, event by event in arrival order, so
   * the cells dropped are the same.
   */
  private fold(s: number): void {
    const m = s * META;
    const n = this.meta[m + M_PEND];
    if (n === 0) return;
    this.meta[m + M_PEND] = 0;
    const R = this.recentSize;
    let pos = this.meta[m + M_HEAD] - n;
    if (pos < 0) pos += R;
    const recent = this.recent;
    if (this.foldTs.length < n) this.growFoldScratch(n);
    const fTs = this.foldTs;
    const fItem = this.foldItem;
    const fTM = this.foldTM;
    const fK0 = this.foldK0;
    const fK1 = this.foldK1;
    let cells = 0;
    for (let j = 0; j < n; j++) {
      const at = (s * R + pos) * 2;
      const code = recent[at + 1];
      const item = Math.floor(code / 1024);
      fTs[j] = recent[at];
      fItem[j] = item;
      fTM[j] = code - item * 1024; // mask * 64 + type
      let k0 = 0;
      let k1 = 0;
      if (item < this.itemKeyLen.length) {
        k0 = this.itemKeyStart[item];
        k1 = k0 + this.itemKeyLen[item];
      }
      fK0[j] = k0;
      fK1[j] = k1;
      cells += (this.nLevels + 1) * (1 + k1 - k0);
      pos = pos + 1 === R ? 0 : pos + 1;
    }
    if (n === 1 || this.arenas[s]![H_CELLS] + cells > this.maxCellsPerUser) {
      for (let j = 0; j < n; j++) this.apply(s, fItem[j], fTM[j] & 63, fTs[j], fTM[j] >> 6, this.keyPool, fK0[j], fK1[j]);
      return;
    }
    for (let l = 0; l < this.nLevels; l++) this.foldLevel(s, l, n);
  }

  // Scratch of `fold` (the pending events decoded, their buckets at one level, a run's cells).
  private foldTs = new Float64Array(0);
  private foldItem = new Int32Array(0);
  private foldTM = new Int32Array(0);
  private foldK0 = new Int32Array(0);
  private foldK1 = new Int32Array(0);
  private foldBk = new Float64Array(0);
  private runCells = new Int32Array(64);
  private runVals = new Int32Array(64);

  private growFoldScratch(n: number): void {
    this.foldTs = new Float64Array(n);
    this.foldItem = new Int32Array(n);
    this.foldTM = new Int32Array(n);
    this.foldK0 = new Int32Array(n);
    this.foldK1 = new Int32Array(n);
    this.foldBk = new Float64Array(n);
  }

  /** `fold` at level l: the n pending events decoded in the fold scratch. */
  private foldLevel(s: number, l: number, n: number): void {
    const g = this.gran[l];
    const minB = this.head[l] - this.ring[l];
    const bit = 1 << (l + 6);
    const fTs = this.foldTs;
    const fItem = this.foldItem;
    const fTM = this.foldTM;
    const fK0 = this.foldK0;
    const fK1 = this.foldK1;
    const bks = this.foldBk;
    const keys = this.keyPool;
    let a = this.arenas[s]!;
    const e0 = a[H_LATEST + l];
    const latestBk = e0 < 0 ? -1 : a[HDR + 3 * e0];
    let maxBk = -1;
    for (let j = 0; j < n; j++) {
      bks[j] = -1;
      if ((fTM[j] & bit) === 0) continue;
      const b = Math.floor(fTs[j] / g);
      if (b <= minB) continue; // expired since it arrived
      const bk = b * 4 + l;
      bks[j] = bk;
      if (bk > maxBk) maxBk = bk;
    }
    if (maxBk < 0) return;
    // The current bucket and older ones: as event-by-event folding does.
    for (let j = 0; j < n; j++) {
      if (bks[j] >= 0 && bks[j] <= latestBk) this.applyLevel(s, l, fItem[j], fTM[j] & 63, fTs[j], keys, fK0[j], fK1[j]);
    }
    if (maxBk <= latestBk) return;
    // Buckets between the current one and the newest: one sorted run each.
    for (let j = 0; j < n; j++) {
      const bk = bks[j];
      if (bk <= latestBk || bk >= maxBk) continue;
      a = this.arenas[s]!;
      let exists = false;
      for (let e = a[H_NDIR] - 1; e >= 0; e--) {
        if (a[HDR + 3 * e] === bk) {
          exists = true;
          break;
        }
      }
      if (exists) {
        // The bucket is there already (late events made it): event by event.
        for (let i = j; i < n; i++) {
          if (bks[i] !== bk) continue;
          this.applyLevel(s, l, fItem[i], fTM[i] & 63, fTs[i], keys, fK0[i], fK1[i]);
          bks[i] = -1;
        }
        continue;
      }
      // The run: the cells of its events (eventCells), sorted, each once.
      let c = 0;
      for (let i = j; i < n; i++) {
        if (bks[i] !== bk) continue;
        bks[i] = -1;
        const m = this.eventCells(l, fItem[i], fTM[i] & 63, fTs[i], keys, fK0[i], fK1[i]);
        if (this.runCells.length < c + m) this.growRun(c + m);
        for (let x = 0; x < m; x++) c = this.runPut(c, this.evCells[x], this.evVals[x]);
      }
      if (c === 0) continue;
      const at = this.sealedAlloc(s, 2 * c);
      const st = this.sealed[s]!;
      const rc = this.runCells;
      const rv = this.runVals;
      for (let x = 0; x < c; x++) {
        st[at + 2 * x] = rc[x];
        st[at + 2 * x + 1] = rv[x];
      }
      const e = this.addEntry(s, bk, at);
      a = this.arenas[s]!;
      a[HDR + 3 * e + 2] = c;
      a[H_CELLS] += c;
    }
    // The newest bucket becomes the level's current one.
    this.newLatest(s, l, maxBk);
    for (let j = 0; j < n; j++) {
      if (bks[j] === maxBk) this.applyLevel(s, l, fItem[j], fTM[j] & 63, fTs[j], keys, fK0[j], fK1[j]);
    }
  }

  private growRun(n: number): void {
    const c = new Int32Array(nextPow2(n, 64));
    c.set(this.runCells);
    this.runCells = c;
    const v = new Int32Array(c.length);
    v.set(this.runVals);
    this.runVals = v;
  }

  /**
   * Adds a cell to the run being built (kept sorted, each cell once): value 0 counts one,
   * value > 0 is a touch (the maximum is kept). Returns the run's new length.
   */
  private runPut(c: number, cell: number, value: number): number {
    const rc = this.runCells;
    const rv = this.runVals;
    let p = c;
    while (p > 0 && rc[p - 1] > cell) p--;
    if (p > 0 && rc[p - 1] === cell) {
      if (value === 0) rv[p - 1]++;
      else if (value > rv[p - 1]) rv[p - 1] = value;
      return c;
    }
    for (let x = c; x > p; x--) {
      rc[x] = rc[x - 1];
      rv[x] = rv[x - 1];
    }
    rc[p] = cell;
    rv[p] = value === 0 ? 1 : value;
    return c + 1;
  }

  /**
   * Applies every user's pending events to the counters now (reads do it per user anyway);
   * for benchmarks and before snapshots.
   */
  flush(): void {
    this.foldAll();
  }

  /** Folds every user's pending events. */
  private foldAll(): void {
    for (let s = 0; s < this.nSlots; s++) if (this.arenas[s] !== null && this.meta[s * META + M_PEND] > 0) this.fold(s);
  }

  /** Folds the pending events of a user about to be read. */
  private settle(user: number): number {
    const s = this.slotOf(user);
    if (s >= 0 && this.meta[s * META + M_PEND] > 0) this.fold(s);
    return s;
  }

  /** Updates slot s's counters and touches for one event, at the levels in `mask`. */
  private apply(s: number, item: number, t: number, ts: number, mask: number, keys: Int32Array, k0: number, k1: number): void {
    for (let l = 0; l < this.nLevels; l++) if ((mask & (1 << l)) !== 0) this.applyLevel(s, l, item, t, ts, keys, k0, k1);
  }

  /** `apply` at level l alone. */
  private applyLevel(s: number, l: number, item: number, t: number, ts: number, keys: Int32Array, k0: number, k1: number): void {
    const b = Math.floor(ts / this.gran[l]);
    if (b <= this.head[l] - this.ring[l]) return; // expired since it arrived
    const bk = b * 4 + l;
    let a = this.arenas[s]!;
    let e = a[H_LATEST + l];
    if (e < 0 || bk > a[HDR + 3 * e]) {
      this.newLatest(s, l, bk);
      a = this.arenas[s]!;
      e = a[H_LATEST + l];
    }
    const n = this.eventCells(l, item, t, ts, keys, k0, k1);
    const cells = this.evCells;
    const vals = this.evVals;
    if (a[HDR + 3 * e] === bk) {
      // the current bucket of the level: a hash in the hot region
      for (let x = 0; x < n; x++) this.bumpHot(s, l, cells[x], vals[x]);
    } else {
      // a late event: its bucket is sealed (or not there yet)
      const f = this.findEntry(s, bk);
      for (let x = 0; x < n; x++) this.bumpSealed(s, f, cells[x], vals[x]);
    }
  }

  // Scratch of `eventCells`.
  private evCells = new Int32Array(64);
  private evVals = new Int32Array(64);

  /**
   * The cells one event updates at level l, into evCells / evVals (returns how many): its type,
   * and its type under each of the item's keys, counted (value 0: one more); at the coarsest
   * level also the touches (value: second within the bucket + 1, the maximum kept) of the item
   * and of each key.
   */
  private eventCells(l: number, item: number, t: number, ts: number, keys: Int32Array, k0: number, k1: number): number {
    if (this.evCells.length < 2 * (2 + k1 - k0)) {
      this.evCells = new Int32Array(nextPow2(2 * (2 + k1 - k0), 64));
      this.evVals = new Int32Array(this.evCells.length);
    }
    const cells = this.evCells;
    const vals = this.evVals;
    let n = 0;
    cells[n] = t;
    vals[n++] = 0;
    for (let k = k0; k < k1; k++) {
      cells[n] = keys[k] * 64 + t;
      vals[n++] = 0;
    }
    if (l === this.coarse) {
      const g = this.gran[l];
      const touchV = Math.floor((ts - Math.floor(ts / g) * g) / 1000) + 1;
      if (this.trackItems) {
        cells[n] = ~item;
        vals[n++] = touchV;
      }
      for (let k = k0; k < k1; k++) {
        cells[n] = keys[k] * 64 + TOUCH_TYPE;
        vals[n++] = touchV;
      }
    }
    return n;
  }

  /** Adds a directory entry; prunes expired entries or grows the directory when it is full. */
  private addEntry(s: number, bk: number, off: number): number {
    let a = this.arenas[s]!;
    if (a[H_NDIR] === a[H_DCAP]) {
      if (this.prune(s) < a[H_DCAP] >> 2) this.reshape(s, a[H_DCAP] * 2, -1, 0);
      a = this.arenas[s]!;
    }
    const e = a[H_NDIR]++;
    const d = HDR + 3 * e;
    a[d] = bk;
    a[d + 1] = off;
    a[d + 2] = 0;
    return e;
  }

  /** Makes `bk` the current bucket of level l: the previous one is sealed, the hot region cleared. */
  private newLatest(s: number, l: number, bk: number): void {
    let a = this.arenas[s]!;
    const prev = a[H_LATEST + l];
    if (prev >= 0 && !this.bucketLive(a[HDR + 3 * prev])) {
      // The current bucket has expired (a user idle for longer than the level keeps): reuse
      // its entry and region rather than sealing what nobody can read any more.
      const r = a[H_REGION + l];
      for (let j = r + 2 * a[H_HCAP + l] - 1; j >= r; j--) a[j] = 0;
      const d = HDR + 3 * prev;
      a[H_CELLS] -= a[d + 2];
      a[d] = bk;
      a[d + 2] = 0;
      return;
    }
    if (prev >= 0) {
      this.seal(s, l, prev);
      a = this.arenas[s]!;
      a[H_LATEST + l] = -1;
    }
    // Without a current bucket, the bucket may exist already, sealed (its events came late).
    const n = prev < 0 ? a[H_NDIR] : 0;
    let e = -1;
    for (let j = n - 1; j >= 0; j--) {
      if (a[HDR + 3 * j] === bk) {
        e = j;
        break;
      }
    }
    const e2 = e >= 0 ? e : this.addEntry(s, bk, HOT);
    a = this.arenas[s]!;
    a[H_LATEST + l] = e2;
    if (e >= 0) {
      // load its sealed cells into the hot region
      const off = a[HDR + 3 * e + 1];
      const size = a[HDR + 3 * e + 2];
      const st = this.sealed[s]!;
      a[HDR + 3 * e + 1] = HOT;
      a[HDR + 3 * e + 2] = 0;
      a[H_CELLS] -= size;
      a[H_SGARB] += 2 * size;
      for (let j = 0; j < size; j++) this.bumpHot(s, l, st[off + 2 * j], -st[off + 2 * j + 1]);
    }
  }

  /**
   * Adds to a cell of the current bucket of level l. value 0: counter + 1; value > 0: touch =
   * max(touch, value); value < 0: sets the cell to -value (reloading a sealed bucket).
   */
  private bumpHot(s: number, l: number, cell: number, value: number): void {
    let a = this.arenas[s]!;
    let r = a[H_REGION + l];
    let mask = a[H_HCAP + l] - 1;
    let i = hashCell(cell) & mask;
    for (;;) {
      const p = r + 2 * i;
      const v = a[p + 1];
      if (v === 0) break;
      if (a[p] === cell) {
        if (value === 0) a[p + 1] = v + 1;
        else if (value > v) a[p + 1] = value;
        return;
      }
      i = (i + 1) & mask;
    }
    if (a[H_CELLS] >= this.maxCellsPerUser) {
      this.droppedCapped++;
      return;
    }
    let d = HDR + 3 * a[H_LATEST + l];
    if ((a[d + 2] + 1) * 4 > (mask + 1) * 3) {
      this.reshape(s, a[H_DCAP], l, 2 * (mask + 1));
      a = this.arenas[s]!;
      d = HDR + 3 * a[H_LATEST + l];
      r = a[H_REGION + l];
      mask = a[H_HCAP + l] - 1;
      i = hashCell(cell) & mask;
      while (a[r + 2 * i + 1] !== 0) i = (i + 1) & mask;
    }
    const p = r + 2 * i;
    a[p] = cell;
    a[p + 1] = value === 0 ? 1 : value < 0 ? -value : value;
    a[d + 2]++;
    a[H_CELLS]++;
  }

  /** Directory index of bucket bk (not current), created empty and sealed when absent. */
  private findEntry(s: number, bk: number): number {
    const a = this.arenas[s]!;
    const n = a[H_NDIR];
    for (let e = n - 1; e >= 0; e--) if (a[HDR + 3 * e] === bk) return e;
    return this.addEntry(s, bk, 0);
  }

  /** Adds to a cell of sealed entry e; a new cell rewrites the bucket (O(its cells)). */
  private bumpSealed(s: number, e: number, cell: number, value: number): void {
    let a = this.arenas[s]!;
    const d = HDR + 3 * e;
    const off = a[d + 1];
    const size = a[d + 2];
    let st = this.sealed[s]!;
    let lo = 0;
    let hi = size - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = st[off + 2 * mid];
      if (c === cell) {
        const p = off + 2 * mid + 1;
        if (value === 0) st[p]++;
        else if (value > st[p]) st[p] = value;
        return;
      }
      if (c < cell) lo = mid + 1;
      else hi = mid - 1;
    }
    if (a[H_CELLS] >= this.maxCellsPerUser) {
      this.droppedCapped++;
      return;
    }
    // rewrite: cells [0, lo) + new + [lo, size)
    const at = this.sealedAlloc(s, 2 * (size + 1));
    a = this.arenas[s]!;
    st = this.sealed[s]!;
    const o = a[d + 1]; // may have moved with a compaction
    for (let j = 0; j < 2 * lo; j++) st[at + j] = st[o + j];
    st[at + 2 * lo] = cell;
    st[at + 2 * lo + 1] = value === 0 ? 1 : value;
    for (let j = 2 * lo; j < 2 * size; j++) st[at + j + 2] = st[o + j];
    a[d + 1] = at;
    a[d + 2] = size + 1;
    a[H_SGARB] += 2 * size;
    a[H_CELLS]++;
  }

  /** Seals entry e (the current bucket of level l): its cells, sorted, go to the sealed store. */
  private seal(s: number, l: number, e: number): void {
    let a = this.arenas[s]!;
    const size = a[HDR + 3 * e + 2];
    const at = this.sealedAlloc(s, 2 * size);
    a = this.arenas[s]!;
    const st = this.sealed[s]!;
    const r = a[H_REGION + l];
    const cap = a[H_HCAP + l];
    if (size <= 32) {
      // few cells (the common case): the pairs straight into the store, insertion-sorted by cell
      let m = 0;
      for (let j = 0; j < cap; j++) {
        const v = a[r + 2 * j + 1];
        if (v === 0) continue;
        const c = a[r + 2 * j];
        let p = at + 2 * m;
        while (p > at && st[p - 2] > c) {
          st[p] = st[p - 2];
          st[p + 1] = st[p - 1];
          p -= 2;
        }
        st[p] = c;
        st[p + 1] = v;
        m++;
      }
    } else {
      if (this.sortScratch.length < size) this.sortScratch = new Int32Array(nextPow2(size));
      const cs = this.sortScratch;
      let m = 0;
      for (let j = 0; j < cap; j++) if (a[r + 2 * j + 1] !== 0) cs[m++] = a[r + 2 * j];
      sortCells(cs, m);
      const mask = cap - 1;
      for (let j = 0; j < m; j++) {
        const c = cs[j];
        let i = hashCell(c) & mask;
        while (a[r + 2 * i] !== c || a[r + 2 * i + 1] === 0) i = (i + 1) & mask;
        st[at + 2 * j] = c;
        st[at + 2 * j + 1] = a[r + 2 * i + 1];
      }
    }
    a.fill(0, r, r + 2 * cap);
    a[HDR + 3 * e + 1] = at;
  }

  /** Room for n ints at the end of slot s's sealed store; returns their offset. */
  private sealedAlloc(s: number, n: number): number {
    const a = this.arenas[s]!;
    const st = this.sealed[s];
    const top = a[H_STOP];
    if (st && top + n <= st.length) {
      a[H_STOP] = top + n;
      return top;
    }
    // compact the live buckets into a new store half as large again as they need; expired
    // buckets are emptied first (their entries stay in the directory until `prune`, which
    // moves entries, and callers hold entry indices), so that they are neither copied nor kept
    const nd = a[H_NDIR];
    let live = 0;
    for (let e = 0; e < nd; e++) {
      const d = HDR + 3 * e;
      if (a[d + 1] === HOT) continue;
      if (!this.bucketLive(a[d])) {
        a[H_CELLS] -= a[d + 2];
        a[d + 1] = 0;
        a[d + 2] = 0;
      } else live += 2 * a[d + 2];
    }
    const need = live + n;
    this.compactSealed(s, need + (need >> 1));
    const at = a[H_STOP];
    a[H_STOP] = at + n;
    return at;
  }

  /** Copies slot s's live sealed buckets into a new store of `size` ints (at least what they need). */
  private compactSealed(s: number, size: number): void {
    const a = this.arenas[s]!;
    const st = this.sealed[s];
    const nd = a[H_NDIR];
    let live = 0;
    for (let e = 0; e < nd; e++) if (a[HDR + 3 * e + 1] !== HOT) live += 2 * a[HDR + 3 * e + 2];
    const nst = size > 0 || live > 0 ? this.pool.take(Math.max(size, live, 16), false) : null;
    let pos = 0;
    if (st && nst) {
      for (let e = 0; e < nd; e++) {
        const d = HDR + 3 * e;
        const off = a[d + 1];
        if (off === HOT) continue;
        const len = 2 * a[d + 2];
        for (let j = 0; j < len; j++) nst[pos + j] = st[off + j];
        a[d + 1] = pos;
        pos += len;
      }
    }
    this.pool.give(st);
    this.sealed[s] = nst;
    a[H_SGARB] = 0;
    a[H_STOP] = pos;
  }

  /**
   * Rewrites slot s's arena with a directory of `dcap` entries and, when l >= 0, the hot
   * region of level l rehashed at capacity `cap` (pairs).
   */
  private reshape(s: number, dcap: number, l: number, cap: number): void {
    const a = this.arenas[s]!;
    const caps = this.capsScratch;
    for (let j = 0; j < this.nLevels; j++) caps[j] = j === l ? cap : a[H_HCAP + j];
    let len = HDR + 3 * dcap;
    for (let j = 0; j < this.nLevels; j++) len += 2 * caps[j];
    const b = this.pool.take(len, false);
    for (let j = 0; j < HDR; j++) b[j] = a[j];
    b[H_DCAP] = dcap;
    const n = a[H_NDIR];
    for (let j = HDR; j < HDR + 3 * n; j++) b[j] = a[j];
    let r = HDR + 3 * dcap;
    for (let j = 0; j < this.nLevels; j++) {
      const or = a[H_REGION + j];
      const ocap = a[H_HCAP + j];
      b[H_REGION + j] = r;
      b[H_HCAP + j] = caps[j];
      if (j !== l) {
        for (let x = 0; x < 2 * ocap; x++) b[r + x] = a[or + x];
      } else {
        const mask = caps[j] - 1;
        b.fill(0, r, r + 2 * caps[j]);
        for (let x = 0; x < ocap; x++) {
          const v = a[or + 2 * x + 1];
          if (v === 0) continue;
          const c = a[or + 2 * x];
          let i = hashCell(c) & mask;
          while (b[r + 2 * i + 1] !== 0) i = (i + 1) & mask;
          b[r + 2 * i] = c;
          b[r + 2 * i + 1] = v;
        }
      }
      r += 2 * caps[j];
    }
    this.pool.give(a);
    this.arenas[s] = b;
  }

  /** Removes slot s's expired buckets from its directory, in place; returns how many went. */
  private prune(s: number): number {
    const a = this.arenas[s]!;
    const n = a[H_NDIR];
    let w = 0;
    let cells = 0;
    const latest = [a[H_LATEST], a[H_LATEST + 1], a[H_LATEST + 2], a[H_LATEST + 3]];
    for (let l = 0; l < 4; l++) a[H_LATEST + l] = -1;
    for (let e = 0; e < n; e++) {
      const d = HDR + 3 * e;
      const bk = a[d];
      const l = bk & 3;
      if (!this.bucketLive(bk)) {
        if (a[d + 1] === HOT) a.fill(0, a[H_REGION + l], a[H_REGION + l] + 2 * a[H_HCAP + l]);
        else a[H_SGARB] += 2 * a[d + 2];
        continue;
      }
      const nd = HDR + 3 * w;
      if (nd !== d) {
        a[nd] = bk;
        a[nd + 1] = a[d + 1];
        a[nd + 2] = a[d + 2];
      }
      cells += a[nd + 2];
      if (latest[l] === e) a[H_LATEST + l] = w;
      w++;
    }
    a[H_NDIR] = w;
    a[H_CELLS] = cells;
    return n - w;
  }

  private bucketLive(bk: number): boolean {
    const l = bk & 3;
    return (bk - l) / 4 > this.head[l] - this.ring[l];
  }

  /** Value of a cell in directory entry e of slot s (0 when absent). */
  private cellValue(s: number, a: Int32Array, e: number, cell: number): number {
    const d = HDR + 3 * e;
    const off = a[d + 1];
    if (off === HOT) {
      const l = a[d] & 3;
      const r = a[H_REGION + l];
      const mask = a[H_HCAP + l] - 1;
      let i = hashCell(cell) & mask;
      for (;;) {
        const p = r + 2 * i;
        const v = a[p + 1];
        if (v === 0) return 0;
        if (a[p] === cell) return v;
        i = (i + 1) & mask;
      }
    }
    const st = this.sealed[s]!;
    let lo = 0;
    let hi = a[d + 2] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = st[off + 2 * mid];
      if (c === cell) return st[off + 2 * mid + 1];
      if (c < cell) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  /** Calls fn(cell, value) for every cell of directory entry e of slot s. */
  private cellsOf(s: number, a: Int32Array, e: number, fn: (cell: number, value: number) => void): void {
    const d = HDR + 3 * e;
    const off = a[d + 1];
    if (off === HOT) {
      const l = a[d] & 3;
      const r = a[H_REGION + l];
      const end = r + 2 * a[H_HCAP + l];
      for (let p = r; p < end; p += 2) if (a[p + 1] !== 0) fn(a[p], a[p + 1]);
      return;
    }
    const st = this.sealed[s]!;
    const end = off + 2 * a[d + 2];
    for (let p = off; p < end; p += 2) fn(st[p], st[p + 1]);
  }

  private incItem(l: number, t: number, b: number, item: number): void {
    const ri = l * 64 + t;
    let ring = this.itemRings[ri];
    if (ring === undefined) ring = this.itemRings[ri] = new Array<ItemBucket | undefined>(this.ring[l]);
    const pos = b % this.ring[l];
    let bucket = ring[pos];
    if (bucket === undefined) bucket = ring[pos] = new ItemBucket(b);
    else if (bucket.id !== b) bucket.reset(b); // its previous bucket has expired
    bucket.inc(item);
  }

  // ---------------------------------------------------------------- user slots

  private slotFor(u: number): number {
    if ((u >>> 0) !== u || u > 0x7fffffff) throw new RangeError(`profiles: user index must be a non-negative integer, got ${u}`);
    if (u >= this.userSlot.length) {
      const us = new Int32Array(Math.max(u + 1, this.userSlot.length * 2, 1024));
      us.set(this.userSlot);
      this.userSlot = us;
    }
    let s = this.userSlot[u] - 1;
    if (s < 0) s = this.allocSlot(u);
    this.meta[s * META + M_STAMP] = ++this.tick;
    return s;
  }

  private allocSlot(u: number): number {
    let s: number;
    if (this.freeSlots.length > 0) s = this.freeSlots.pop()!;
    else if (this.nSlots < this.maxUsers) {
      if (this.nSlots === this.slotCap) this.growSlots();
      s = this.nSlots++;
    } else {
      s = this.victim();
      this.userSlot[this.meta[s * META + M_USER]] = 0;
      this.live--;
      this.evicted++;
    }
    let len = HDR + 3 * 8;
    for (let l = 0; l < this.nLevels; l++) len += 2 * (l === this.coarse ? 16 : 8);
    this.pool.give(this.arenas[s]); // an evicted user's
    this.pool.give(this.sealed[s]);
    const a = this.pool.take(len, true);
    a[H_DCAP] = 8;
    let r = HDR + 3 * 8;
    for (let l = 0; l < 4; l++) {
      a[H_LATEST + l] = -1;
      if (l >= this.nLevels) continue;
      const cap = l === this.coarse ? 16 : 8;
      a[H_HCAP + l] = cap;
      a[H_REGION + l] = r;
      r += 2 * cap;
    }
    this.sealed[s] = null;
    this.arenas[s] = a;
    const m = s * META;
    this.meta[m + M_USER] = u;
    this.meta[m + M_HEAD] = 0;
    this.meta[m + M_LEN] = 0;
    this.meta[m + M_PEND] = 0;
    this.userSlot[u] = s + 1;
    this.live++;
    return s;
  }

  /** A least recently updated slot: exact among ≤ 16 slots, else the oldest of 16 samples. */
  private victim(): number {
    let best = -1;
    let bestTick = Infinity;
    const consider = (s: number) => {
      if (this.arenas[s] !== null && this.meta[s * META + M_STAMP] < bestTick) {
        bestTick = this.meta[s * META + M_STAMP];
        best = s;
      }
    };
    if (this.nSlots <= SAMPLE) for (let s = 0; s < this.nSlots; s++) consider(s);
    else {
      for (let j = 0; j < SAMPLE || best < 0; j++) {
        this.sampleState = (Math.imul(this.sampleState, 1664525) + 1013904223) >>> 0;
        consider(this.sampleState % this.nSlots);
      }
    }
    return best;
  }

  private freeSlot(s: number): void {
    this.userSlot[this.meta[s * META + M_USER]] = 0;
    this.pool.give(this.arenas[s]);
    this.pool.give(this.sealed[s]);
    this.arenas[s] = null;
    this.sealed[s] = null;
    this.meta[s * META + M_LEN] = 0;
    this.meta[s * META + M_PEND] = 0;
    this.freeSlots.push(s);
    this.live--;
  }

  private growSlots(): void {
    const cap = Math.min(this.maxUsers, Math.max(1024, this.slotCap * 2));
    const meta = new Int32Array(cap * META);
    meta.set(this.meta);
    this.meta = meta;
    const recent = new Float64Array(cap * this.recentSize * 2);
    recent.set(this.recent);
    this.recent = recent;
    for (let s = this.slotCap; s < cap; s++) {
      this.arenas.push(null);
      this.sealed.push(null);
    }
    this.slotCap = cap;
  }

  private slotOf(u: number): number {
    return Number.isInteger(u) && u >= 0 && u < this.userSlot.length ? this.userSlot[u] - 1 : -1;
  }

  // ---------------------------------------------------------------- queries

  /** Profile type codes a query covers (undefined type: all), or [] when the type is unknown. */
  private typesOf(type: string | undefined): number[] {
    if (type === undefined) return this.typeNames.map((_, i) => i);
    const c = this.typeCodes.get(type);
    return c === undefined ? [] : [c];
  }

  userCounts(user: number, q: CountQuery): number {
    const w = resolveWindow(this.levels, q.windowMs, q.now, this.clockMs);
    const s = this.settle(user);
    if (s < 0) return 0;
    const types = this.typesOf(q.type);
    let key = 0;
    if (q.key !== undefined && q.key !== ALL_KEY) {
      const c = this.keyCodes.get(q.key);
      if (c === undefined) return 0;
      key = c;
    }
    const a = this.arenas[s]!;
    const lo = w.first * 4 + w.level;
    const hi = w.last * 4 + w.level;
    const n = a[H_NDIR];
    let sum = 0;
    for (let e = 0; e < n; e++) {
      const bk = a[HDR + 3 * e];
      if (bk < lo || bk > hi || (bk & 3) !== w.level) continue;
      for (const t of types) sum += this.cellValue(s, a, e, key * 64 + t);
    }
    return sum;
  }

  userAffinities(user: number, q: AffinityQuery): Map<string, number> {
    const w = resolveWindow(this.levels, q.windowMs, q.now, this.clockMs);
    const out = new Map<string, number>();
    const s = this.settle(user);
    if (s < 0) return out;
    const weight = new Float64Array(64);
    const types = q.types ?? this.typeNames;
    for (const name of types) {
      const c = this.typeCodes.get(name);
      if (c === undefined) continue;
      const wt = q.weights?.[name] ?? 1;
      if (!Number.isFinite(wt)) throw new RangeError(`profiles: weight of '${name}' must be a finite number, got ${wt}`);
      weight[c] = wt;
    }
    const acc = new Map<number, number>();
    const a = this.arenas[s]!;
    const lo = w.first * 4 + w.level;
    const hi = w.last * 4 + w.level;
    const n = a[H_NDIR];
    const add = (cell: number, v: number) => {
      if (cell < 64) return; // touch of an item, or key '*'
      const wt = weight[cell & 63]; // 0 for key touches (type 63)
      if (wt === 0) return;
      const key = cell >>> 6;
      acc.set(key, (acc.get(key) ?? 0) + wt * v);
    };
    for (let e = 0; e < n; e++) {
      const bk = a[HDR + 3 * e];
      if (bk < lo || bk > hi || (bk & 3) !== w.level) continue;
      this.cellsOf(s, a, e, add);
    }
    const prefix = q.prefix;
    const entries: [string, number][] = [];
    for (const [code, v] of acc) {
      const name = this.keyNames[code];
      if (prefix !== undefined && !name.startsWith(prefix)) continue;
      entries.push([name, v]);
    }
    entries.sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    for (const [k, v] of entries) out.set(k, v);
    return out;
  }

  recentItems(user: number, n: number, types?: string[]): RecentItems {
    const s = this.slotOf(user);
    const empty: RecentItems = { itemIdx: new Int32Array(0), types: [], timestamp: new Float64Array(0) };
    if (s < 0 || !(n > 0)) return empty;
    const R = this.recentSize;
    const len = this.meta[s * META + M_LEN];
    let want: Set<number> | undefined;
    if (types) want = new Set(types.map((t) => this.typeCodes.get(t)).filter((c): c is number => c !== undefined));
    // positions from the newest arrival backwards; then a stable sort by timestamp, newest first
    const order: number[] = [];
    let pos = this.meta[s * META + M_HEAD];
    for (let j = 0; j < len; j++) {
      pos = pos === 0 ? R - 1 : pos - 1;
      const at = (s * R + pos) * 2;
      if (want && !want.has(this.recent[at + 1] % 64)) continue; // code: item·1024 + levels·64 + type
      order.push(at);
    }
    order.sort((x, y) => this.recent[y] - this.recent[x]);
    const m = Math.min(order.length, Math.floor(n));
    const out: RecentItems = { itemIdx: new Int32Array(m), types: new Array<string>(m), timestamp: new Float64Array(m) };
    for (let j = 0; j < m; j++) {
      const at = order[j];
      const code = this.recent[at + 1];
      out.itemIdx[j] = Math.floor(code / 1024);
      out.types[j] = this.typeNames[code % 64];
      out.timestamp[j] = this.recent[at];
    }
    return out;
  }

  lastTouched(user: number, target: TouchTarget): number | undefined {
    const s = this.settle(user);
    if (s < 0) return undefined;
    let cell: number;
    if ('item' in target) {
      if (!this.trackItems || !Number.isInteger(target.item) || target.item < 0) return undefined;
      cell = ~target.item;
    } else {
      const c = this.keyCodes.get(target.key);
      if (c === undefined || c === 0) return undefined;
      cell = c * 64 + TOUCH_TYPE;
    }
    const a = this.arenas[s]!;
    const n = a[H_NDIR];
    const L = this.coarse;
    let bestB = -1;
    let bestV = 0;
    for (let e = 0; e < n; e++) {
      const bk = a[HDR + 3 * e];
      if ((bk & 3) !== L || !this.bucketLive(bk)) continue;
      const b = (bk - L) / 4;
      if (b < bestB) continue;
      const v = this.cellValue(s, a, e, cell);
      if (v > 0) {
        bestB = b;
        bestV = v;
      }
    }
    return bestB < 0 ? undefined : bestB * this.gran[L] + (bestV - 1) * 1000;
  }

  itemPopularity(item: number, q: PopularityQuery): number {
    const w = resolveWindow(this.levels, q.windowMs, q.now, this.clockMs);
    let sum = 0;
    const R = this.ring[w.level];
    for (const t of this.typesOf(q.type)) {
      const ring = this.itemRings[w.level * 64 + t];
      if (!ring) continue;
      for (let b = w.first; b <= w.last; b++) {
        const bucket = ring[b % R];
        if (bucket !== undefined && bucket.id === b) sum += bucket.get(item);
      }
    }
    return sum;
  }

  topItems(q: TopItemsQuery): TopItems {
    if (!Number.isInteger(q.k) || q.k < 0) throw new RangeError(`profiles: k must be a non-negative integer, got ${q.k}`);
    const touched: number[] = [];
    let acc = this.acc;
    for (const bucket of this.windowBuckets(q)) {
      const slots = bucket.slots;
      for (let j = 0; j < slots.length; j += 2) {
        const k = slots[j];
        if (k === 0) continue;
        const item = k - 1;
        if (item >= acc.length) {
          const x = new Float64Array(Math.max(item + 1, acc.length * 2, 1024));
          x.set(acc);
          acc = this.acc = x;
        }
        if (acc[item] === 0) touched.push(item);
        acc[item] += slots[j + 1];
      }
    }
    const res = selectTop(touched, acc, q.k);
    for (const it of touched) acc[it] = 0;
    return res;
  }

  itemCounts(q: PopularityQuery, size: number): Float32Array {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`profiles: size must be a non-negative integer, got ${size}`);
    const out = new Float32Array(size);
    for (const bucket of this.windowBuckets(q)) {
      const slots = bucket.slots;
      for (let j = 0; j < slots.length; j += 2) {
        const item = slots[j] - 1;
        if (item >= 0 && item < size) out[item] += slots[j + 1];
      }
    }
    return out;
  }

  /** The item buckets a popularity window sums (every counted type, or q.type). */
  private windowBuckets(q: PopularityQuery): ItemBucket[] {
    const w = resolveWindow(this.levels, q.windowMs, q.now, this.clockMs);
    const R = this.ring[w.level];
    const out: ItemBucket[] = [];
    for (const t of this.typesOf(q.type)) {
      const ring = this.itemRings[w.level * 64 + t];
      if (!ring) continue;
      for (let b = w.first; b <= w.last; b++) {
        const bucket = ring[b % R];
        if (bucket !== undefined && bucket.id === b) out.push(bucket);
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- maintenance

  rebuild(store: Store, opts: RebuildOptions = {}): Promise<RebuildReport> {
    return rebuildProfiles(this, store, opts);
  }

  clear(): void {
    this.clockMs = -Infinity;
    this.head.fill(-Infinity);
    this.tick = 0;
    const counted = this.countedTypes;
    this.typeNames = [];
    this.typeCodes = new Map();
    if (counted) for (const t of counted) this.typeCode(t);
    this.keyNames = [ALL_KEY];
    this.keyCodes = new Map([[ALL_KEY, 0]]);
    this.itemKeyStart = new Int32Array(0);
    this.itemKeyLen = new Uint8Array(0);
    this.keyPool = new Int32Array(1024);
    this.poolUsed = 0;
    this.poolGarbage = 0;
    this.userSlot = new Int32Array(0);
    this.slotCap = 0;
    this.nSlots = 0;
    this.live = 0;
    this.freeSlots = [];
    this.arenas = [];
    this.sealed = [];
    this.pool.clear();
    this.meta = new Int32Array(0);
    this.recent = new Float64Array(0);
    this.itemRings = [];
    this.acc = new Float64Array(0);
    this.droppedLate = 0;
    this.droppedCapped = 0;
    this.evicted = 0;
  }

  /** Drops expired buckets and frees users left with nothing; a later `now` moves the clock. */
  expire(now?: number): void {
    if (now !== undefined) {
      if (!Number.isFinite(now)) throw new RangeError(`profiles: now must be finite, got ${now}`);
      if (now > this.clockMs) this.advance(now);
    }
    if (this.clockMs === -Infinity) return;
    this.foldAll();
    const oldestRecent = this.clockMs - this.maxWindowMs;
    const R = this.recentSize;
    for (let s = 0; s < this.nSlots; s++) {
      if (this.arenas[s] === null) continue;
      this.prune(s);
      const a = this.arenas[s]!;
      if (a[H_SGARB] > 0) this.compactSealed(s, a[H_STOP] - a[H_SGARB]);
      if (a[H_NDIR] > 0) continue;
      let recent = false;
      for (let j = 0; j < this.meta[s * META + M_LEN]; j++) if (this.recent[(s * R + j) * 2] >= oldestRecent) recent = true;
      if (!recent) this.freeSlot(s);
    }
    for (let l = 0; l < this.nLevels; l++) {
      for (let t = 0; t < 64; t++) {
        const ring = this.itemRings[l * 64 + t];
        if (!ring) continue;
        for (let j = 0; j < ring.length; j++) {
          const bucket = ring[j];
          if (bucket !== undefined && bucket.id <= this.head[l] - this.ring[l]) ring[j] = undefined;
        }
      }
    }
  }

  memoryStats(): ProfileMemoryStats {
    this.foldAll(); // so that cells count every event
    let userCells = 0;
    let bytes = 0;
    for (let s = 0; s < this.nSlots; s++) {
      const a = this.arenas[s];
      if (!a) continue;
      userCells += a[H_CELLS];
      bytes += a.byteLength + 96 + (this.sealed[s]?.byteLength ?? 0) + 96;
    }
    bytes += this.pool.bytes + this.pool.chunkSlack + this.userSlot.byteLength + this.meta.byteLength + this.recent.byteLength + this.arenas.length * 8;
    let itemCells = 0;
    for (const ring of this.itemRings) {
      if (!ring) continue;
      for (const b of ring) {
        if (!b) continue;
        itemCells += b.size;
        bytes += b.bytes();
      }
    }
    bytes += this.itemKeyStart.byteLength + this.itemKeyLen.byteLength + this.keyPool.byteLength + this.acc.byteLength;
    let keyChars = 0;
    for (const k of this.keyNames) keyChars += k.length;
    bytes += this.keyNames.length * 48 + keyChars * 2;
    return {
      users: this.live,
      userCells,
      itemCells,
      keys: this.keyNames.length - 1,
      bytes,
      droppedLate: this.droppedLate + this.droppedCapped,
      evictedUsers: this.evicted,
    };
  }
}

/** Top k of `acc` over `touched` items: count descending, then item index ascending. */
function selectTop(touched: number[], acc: Float64Array, k: number): TopItems {
  const m = Math.min(k, touched.length);
  // min-heap of the best m so far; root = the worst kept
  const heap = new Int32Array(m);
  let size = 0;
  const worse = (a: number, b: number) => acc[a] < acc[b] || (acc[a] === acc[b] && a > b);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) return;
      let c = l;
      if (l + 1 < size && worse(heap[l + 1], heap[l])) c = l + 1;
      if (!worse(heap[c], heap[i])) return;
      const tmp = heap[c];
      heap[c] = heap[i];
      heap[i] = tmp;
      i = c;
    }
  };
  for (const it of touched) {
    if (size < m) {
      let i = size++;
      heap[i] = it;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(heap[i], heap[p])) break;
        const tmp = heap[p];
        heap[p] = heap[i];
        heap[i] = tmp;
        i = p;
      }
    } else if (m > 0 && worse(heap[0], it)) {
      heap[0] = it;
      siftDown(0);
    }
  }
  const items = Array.from(heap.subarray(0, size)).sort((a, b) => acc[b] - acc[a] || a - b);
  return { items: Int32Array.from(items), counts: Float64Array.from(items, (i) => acc[i]) };
}
