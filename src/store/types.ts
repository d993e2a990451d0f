import type { EventColumns } from '../data/event-columns.js';
import type { Event, EventType, Item, StoredEvent, User } from '../data/model.js';

/** Why one entry of a batch was not accepted. */
export interface EntryError {
  /** Position of the entry in the batch (0-based). */
  index: number;
  /** Field at fault, when one is. */
  field?: string;
  /** Stable machine code, e.g. INVALID_TYPE, MISSING_FIELD, UNKNOWN_USER. */
  code: string;
  message: string;
}

export interface BatchResult {
  /** Entries written (inserted or updated). */
  accepted: number;
  /** Entries skipped because they were already there (events with a known id). */
  duplicates: number;
  /** Entries refused, each with its reason. Accepted entries are durable regardless. */
  errors: EntryError[];
}

export interface TimelineOptions {
  /** Only these event types. */
  types?: EventType[];
  /** The last N events (most recent ones). Default 100. */
  limit?: number;
  /** Only events with timestamp < before (epoch ms). */
  before?: number;
  /** Only events with timestamp >= after (epoch ms). */
  after?: number;
}

/** A user's recent events in columnar form, most recent first (the serving hot path). */
export interface UserHistory {
  length: number;
  itemIdx: Int32Array;
  type: Uint16Array;
  /** NaN where the event has no value. */
  value: Float64Array;
  timestamp: Float64Array;
}

/** Events in columnar form: the shape training code wants. All arrays have `length` entries. */
export interface EventBatch {
  length: number;
  seq: Float64Array;
  userIdx: Int32Array;
  itemIdx: Int32Array;
  /** Event type codes; names through `Store.eventTypes()`. */
  type: Uint16Array;
  /** NaN where the event has no value. */
  value: Float64Array;
  /** Epoch milliseconds. */
  timestamp: Float64Array;
}

/** Events just stored, columnar (see `Store.onEvents`). */
export interface AppendedEvents extends Pick<EventBatch, 'length' | 'userIdx' | 'itemIdx' | 'type' | 'timestamp'> {
  /** Type code → name, for every code in `type`. */
  typeNames: Map<number, string>;
  /**
   * Optional: each event's place in the log (`EventBatch.seq`; NaN where unknown), so that a
   * consumer that also scanned the log (live profiles rebuilt at start) takes each event once.
   */
  seq?: Float64Array;
}

export interface ScanEventsOptions {
  types?: EventType[];
  /** Events with timestamp >= since. */
  since?: number;
  /** Events with timestamp < until. */
  until?: number;
  /** Events with seq > afterSeq (for incremental consumers). */
  afterSeq?: number;
  batchSize?: number;
}

/** A write applied atomically: all of it or none of it, with an optional checkpoint. */
export interface IngestBatch {
  users?: User[];
  items?: Item[];
  events?: Event[];
  /**
   * A checkpoint written in the same transaction as the data: an importer records how far into
   * its source it got, so that a killed import resumes exactly where the last commit ended.
   */
  checkpoint?: { key: string; value: string };
}

export interface IngestResult {
  users: BatchResult;
  items: BatchResult;
  events: BatchResult;
}

export interface StoreCounts {
  users: number;
  items: number;
  /** Items deleted (hidden) but still known by id. */
  deletedItems: number;
  events: number;
  eventsByType: Record<string, number>;
  /** Users/items that appear only in events and were never sent as entities. */
  undeclaredUsers: number;
  undeclaredItems: number;
}

export interface StoredItem extends Item {
  idx: number;
  /** False for items created implicitly by an event that names them. */
  declared: boolean;
}

export interface StoredUser extends User {
  idx: number;
  declared: boolean;
}

export interface StoreOptions {
  /**
   * What an event naming an unknown user or item does: 'create' (default) creates the entity
   * implicitly (reported as undeclared by validation), 'reject' refuses the event.
   */
  unknownEntities?: 'create' | 'reject';
  /** Refuse event types outside the built-in list and `customEventTypes`. */
  strictEventTypes?: boolean;
  customEventTypes?: string[];
}

/**
 * Optional ability of a store: a faster mode for loading large histories (indexes dropped
 * during the load and rebuilt at its end). Check with `isBulkLoadable(store)`.
 */
export interface BulkLoadable {
  beginBulkLoad(): Promise<void>;
  /** Rebuilds indexes; duplicate events (same client id) inserted during the load are removed. */
  endBulkLoad(): Promise<{ duplicatesRemoved: number }>;
}

export function isBulkLoadable(store: Store): store is Store & BulkLoadable {
  return typeof (store as Partial<BulkLoadable>).beginBulkLoad === 'function';
}

/**
 * The impressions of one served response (server-side impression logging): items by dense
 * index, as the server resolved them from its catalogue, so a store need neither validate nor
 * look them up. Stored as 'impression' events with context { requestId, position, scene } and
 * `sources` in the free fields.
 */
export interface ServedImpressions {
  userId: string;
  /** Dense item indices, by position (position 0 first). */
  items: Int32Array;
  timestamp: number;
  requestId: string;
  scene: string;
  /**
   * Per position, the generators that proposed the item, as one `encodeProvenance` block
   * (data/provenance.ts); null when none did. Read back as each impression's
   * `context.sources` (`encodeSources` strings).
   */
  provenance: Uint8Array | null;
}

/**
 * The persistence contract. The embedded default is SQLite (`SqliteStore`); a PostgreSQL
 * implementation satisfies the same interface and the same conformance suite
 * (test/store/conformance.ts).
 */
export interface Store {
  readonly kind: string;

  upsertUsers(users: User[]): Promise<BatchResult>;
  upsertItems(items: Item[]): Promise<BatchResult>;
  appendEvents(events: Event[]): Promise<BatchResult>;
  /**
   * Optional: stores server-side impressions (one transaction) without the validation and id
   * lookups of `appendEvents`; the same rows as `appendEvents` of the equivalent events.
   * Unknown users are created (or refused) as `appendEvents` would.
   */
  appendServed?(served: ServedImpressions[]): Promise<BatchResult>;
  /** Users, items, events and a checkpoint in one transaction. */
  ingest(batch: IngestBatch): Promise<IngestResult>;
  /**
   * Optional: `ingest({ events, checkpoint })` for events as columns (data/event-columns.ts),
   * without an object per event: the same checks, rows, results (errors indexed by row) and
   * listeners. The importer's worker path uses it when a store has it.
   */
  ingestEventColumns?(events: EventColumns, checkpoint?: { key: string; value: string }): Promise<BatchResult>;
  getCheckpoint(key: string): Promise<string | undefined>;
  deleteCheckpoint(key: string): Promise<void>;

  getUser(id: string): Promise<StoredUser | undefined>;
  getItem(id: string): Promise<StoredItem | undefined>;
  getItems(ids: string[]): Promise<(StoredItem | undefined)[]>;
  /** Removes the user, their attributes and every event of theirs. Returns false if unknown. */
  deleteUser(id: string): Promise<boolean>;
  /** Hides the item from every read (get, timelines, scans); upserting it again restores it. */
  deleteItem(id: string): Promise<boolean>;
  /**
   * Optional: a number that changes whenever items are written or deleted through this store
   * object (in this process). Serving caches of item metadata compare it to refresh early.
   */
  itemsVersion?(): number;
  /**
   * Optional: calls `listener` after each committed write with the events it stored
   * (duplicates that were ignored are not included): those written through this store object
   * at their commit, and, where the store can see them, those other processes commit to the
   * same data (SqliteStore: other connections to the file, e.g. the other workers of
   * `funnel serve --workers N` or an import run by the CLI, within `followMs`). Each event is
   * heard once. Real-time consumers (profiles) use it. Returns the unsubscribe function.
   */
  onEvents?(listener: (events: AppendedEvents) => void): () => void;
  /** Optional: like `onEvents`, for the items upserted by each committed write (with their index). */
  onItems?(listener: (items: StoredItem[]) => void): () => void;
  /**
   * Optional: a number kept with the items that changes with every write of items (upserts,
   * deletions, items created by events) by any process sharing the store. Serving compares it
   * to skip rebuilding its item snapshot when nothing changed. One cheap read.
   */
  itemsRevision?(): number;

  /** Dense index of a user/item id, or -1 when unknown (or deleted). */
  userIndex(id: string): Promise<number>;
  itemIndex(id: string): Promise<number>;
  /** Id for a dense index, or undefined. */
  userId(idx: number): Promise<string | undefined>;
  itemId(idx: number): Promise<string | undefined>;
  /** All item ids in index order (undefined holes for never-allocated indices cannot occur). */
  itemIds(): Promise<string[]>;
  userIds(): Promise<string[]>;

  /** A user's events, most recent first, with every field. */
  timeline(userId: string, options?: TimelineOptions): Promise<StoredEvent[]>;
  /** The same selection as `timeline`, as typed arrays of indices (for models and serving). */
  history(userId: string, options?: TimelineOptions): Promise<UserHistory>;
  /**
   * Optional: `history(userId, o)` for each of `options`, read from one snapshot of the store
   * (the serving path reads a user's history and dislikes on every request). Callers fall back
   * to one `history` per options where a store lacks it.
   */
  histories?(userId: string, options: TimelineOptions[]): Promise<UserHistory[]>;
  /**
   * Optional: the item indices of `histories(userId, options)` (each `UserHistory.itemIdx`),
   * without the other columns: what the serving path reads on every request.
   */
  historyItems?(userId: string, options: TimelineOptions[]): Promise<Int32Array[]>;
  /** Every event (of live users and items) in log order, in columnar batches. */
  scanEvents(options?: ScanEventsOptions): AsyncIterable<EventBatch>;
  scanUsers(batchSize?: number): AsyncIterable<StoredUser[]>;
  scanItems(batchSize?: number): AsyncIterable<StoredItem[]>;
  /** Event type names by code, as used in `EventBatch.type`. */
  eventTypes(): Promise<Map<number, string>>;
  /** Code for an event type name, or -1 when no event of that type was ever stored. */
  eventTypeCode(name: string): Promise<number>;

  counts(): Promise<StoreCounts>;
  close(): Promise<void>;
}
