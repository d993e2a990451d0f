/**
 * Real-time profiles (the whitepaper's Instance Profile Service): per user, event counters by
 * action type × key (a category, a brand, any configured item attribute) over sliding windows,
 * a recent-items buffer, last-touch times; per item, windowed popularity.
 *
 * Counters are time-bucketed (see window.ts for the exact window semantics and precision):
 * updates are O(1) per event, a window query sums O(#buckets) cells, and memory is bounded
 * because buckets older than their level's retention expire.
 *
 * Keying (designed so that a Redis implementation maps one-to-one; `{p}` is a prefix):
 *  - user counters:   HASH `{p}:u:{userIdx}:{level}:{bucket}`, field `{type}|{key}` → count
 *                     (HINCRBY; key `*` is "every event of that type"), EXPIRE at the end of the
 *                     level's retention. A window query is an HMGET/HGETALL per bucket (pipelined).
 *  - last touches:    HASH `{p}:u:{userIdx}:touch`, fields `i:{itemIdx}` and `k:{key}` → epoch s.
 *  - recent items:    LIST `{p}:u:{userIdx}:recent` (LPUSH + LTRIM to the buffer size).
 *  - item popularity: ZSET `{p}:i:{level}:{bucket}:{type}`, member itemIdx → count (ZINCRBY,
 *                     EXPIRE); top-k is ZUNION over the window's buckets, one item is ZMSCORE.
 *  - item keys:       HASH `{p}:ik`, field itemIdx → keys joined by a separator.
 * The in-memory store holds the same cells: (user, level, bucket, type, key) → count.
 *
 * Methods return `T | Promise<T>`: the memory store answers synchronously, a networked store
 * asynchronously; callers `await` either way.
 */
import type { EventBatch, Store } from '../store/types.js';
import type { LevelSpec } from './window.js';

export type Awaitable<T> = T | Promise<T>;

/** One event as profiles see it. */
export interface ProfileEvent {
  userIdx: number;
  itemIdx: number;
  /** Event type name, or a code from `typeCode(name)` of the same profile store. */
  type: string | number;
  /** Epoch ms (>= 0). */
  timestamp: number;
  /**
   * Keys the event counts under, e.g. ['cat:shoes', 'brand:acme']. When absent, the keys
   * registered for the item with `setItemKeys` are used.
   */
  keys?: string[];
}

/** Columnar events (a Store's `EventBatch` fits), with the store's type names by code. */
export interface ProfileEventColumns extends Pick<EventBatch, 'length' | 'userIdx' | 'itemIdx' | 'type' | 'timestamp'> {
  typeNames: Map<number, string>;
}

export interface WindowQuery {
  /** Window length, ms (e.g. 3_600_000 for 1 h). */
  windowMs: number;
  /** End of the window, epoch ms (usually the request time). */
  now: number;
}

export interface CountQuery extends WindowQuery {
  /** Only this event type (default: every counted type). */
  type?: string;
  /** Only events under this key (default: every event, whatever its keys). */
  key?: string;
}

export interface AffinityQuery extends WindowQuery {
  /** Event types that count (default: all). */
  types?: string[];
  /** Weight per type (default 1), e.g. { view: 1, add_to_cart: 3, purchase: 5 }. */
  weights?: Record<string, number>;
  /** Only keys starting with this prefix, e.g. 'cat:'. */
  prefix?: string;
}

export interface PopularityQuery extends WindowQuery {
  /** Only this event type (default: every counted type). */
  type?: string;
}

export interface TopItemsQuery extends PopularityQuery {
  k: number;
}

/** Most popular items, best first (ties: lower item index first). */
export interface TopItems {
  items: Int32Array;
  counts: Float64Array;
}

/** A user's most recent events, most recent first. */
export interface RecentItems {
  itemIdx: Int32Array;
  types: string[];
  timestamp: Float64Array;
}

/** What `lastTouched` asks about: an item, or a key such as 'cat:shoes'. */
export type TouchTarget = { item: number } | { key: string };

/** Which item fields become profile keys. */
export interface ItemKeySpec {
  /**
   * Fields, in order: 'categories' (keys `cat:{value}`), 'tags' (`tag:{value}`), or an
   * attribute name `a` (keys `a:{value}`; arrays give one key per element). Default ['categories'].
   */
  fields?: string[];
}

export interface RebuildOptions extends ItemKeySpec {
  /** The present, epoch ms (default: Date.now()). Events older than the longest window are skipped. */
  now?: number;
  /** Only these event types. */
  types?: string[];
  batchSize?: number;
}

export interface RebuildReport {
  events: number;
  items: number;
  /** Events from this timestamp on were replayed. */
  since: number;
  /** Highest event sequence number replayed (resume live consumption after it), 0 when none. */
  lastSeq: number;
  ms: number;
}

export interface ProfileMemoryStats {
  users: number;
  /** Live counter / touch cells held for users. */
  userCells: number;
  /** Per-item popularity cells. */
  itemCells: number;
  keys: number;
  /** Approximate bytes held by the profile structures. */
  bytes: number;
  /** Events (or parts of events, per level) that arrived after their bucket expired. */
  droppedLate: number;
  /** Users evicted by the users cap. */
  evictedUsers: number;
}

/**
 * The profile store contract. Implementations: `MemoryProfileStore` (memory.ts); a Redis one
 * later. Every implementation passes test/profiles/conformance.ts.
 */
export interface ProfileStore {
  readonly kind: string;
  /** Bucket levels (window precision, see window.ts). */
  readonly levels: readonly LevelSpec[];
  /** The longest window answered, ms. */
  readonly maxWindowMs: number;

  /** The latest event timestamp seen (-Infinity when empty): the clock buckets expire by. */
  clock(): Awaitable<number>;
  /** Code for a type name (allocated on first use), usable as `ProfileEvent.type`. */
  typeCode(name: string): number;

  /** Registers (replaces) the keys of items, for events that carry none. */
  setItemKeys(items: ArrayLike<number>, keys: string[][]): Awaitable<void>;
  record(event: ProfileEvent): Awaitable<void>;
  /** Records events; returns how many were counted (events of uncounted types are skipped). */
  recordBatch(events: ProfileEvent[] | ProfileEventColumns): Awaitable<number>;

  /** Events of a user in a window, optionally of one type and/or under one key. */
  userCounts(user: number, q: CountQuery): Awaitable<number>;
  /** Weighted counts per key in a window (e.g. category affinity), keys as strings. */
  userAffinities(user: number, q: AffinityQuery): Awaitable<Map<string, number>>;
  /** The user's last `n` events (bounded by the recent-buffer size), most recent first. */
  recentItems(user: number, n: number, types?: string[]): Awaitable<RecentItems>;
  /**
   * Epoch ms (second precision) of the user's last event on an item / under a key, or undefined;
   * remembered as long as the coarsest level keeps the bucket of that event.
   */
  lastTouched(user: number, target: TouchTarget): Awaitable<number | undefined>;

  itemPopularity(item: number, q: PopularityQuery): Awaitable<number>;
  topItems(q: TopItemsQuery): Awaitable<TopItems>;
  /**
   * Optional: every item's count in the window at once, as a dense array indexed by item
   * (length `size`; items beyond it left out): `itemPopularity` of each item, without the
   * selection and sort of `topItems` (what a ranker's popularity feature needs per bucket).
   */
  itemCounts?(q: PopularityQuery, size: number): Awaitable<Float32Array>;

  /** Clears everything and replays the store's events of the longest window (rebuild.ts). */
  rebuild(store: Store, opts?: RebuildOptions): Promise<RebuildReport>;
  /** Drops everything (item keys included). */
  clear(): Awaitable<void>;
  /** Frees expired cells now (they are otherwise dropped lazily); `now` defaults to the clock. */
  expire(now?: number): Awaitable<void>;
  memoryStats(): Awaitable<ProfileMemoryStats>;
}
