/**
 * The embedded default store: one SQLite file (WAL) through better-sqlite3.
 *
 * Layout: users and items keep their string id and a dense integer index `idx` (the rowid),
 * allocated from counters in `meta` so an index is never reused, even after a delete. Events
 * reference users and items by index; the log order is `seq`. One process writes at a time
 * (SQLite's rule); any number of processes may read.
 */
import Database from 'better-sqlite3';
import { BackgroundCheckpointer } from './checkpointer.js';
import { availableParallelism } from 'node:os';
import type { Event, Item, StoredEvent, User } from '../data/model.js';
import { checkEvent, checkItem, checkUser, type FieldError } from '../data/schema.js';
import { checkEventColumns, type EventColumns } from '../data/event-columns.js';
import { BUILTIN_EVENT_TYPES } from '../data/model.js';
import { provenanceSources } from '../data/provenance.js';
import type {
  AppendedEvents,
  BatchResult,
  BulkLoadable,
  EntryError,
  EventBatch,
  IngestBatch,
  IngestResult,
  ScanEventsOptions,
  ServedImpressions,
  Store,
  StoreCounts,
  StoreOptions,
  StoredItem,
  StoredUser,
  TimelineOptions,
  UserHistory,
} from './types.js';

/**
 * 2: server-side impressions are stored one row per response (`items`, see writeServed); a
 * version-1 store gets the column at its first open by this version (older versions then refuse
 * the store: they would read a response as one impression).
 */
const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
  idx INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  attributes TEXT,
  declared INTEGER NOT NULL DEFAULT 1,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
  idx INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  title TEXT,
  categories TEXT,
  tags TEXT,
  price REAL,
  available INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER,
  text TEXT,
  image_url TEXT,
  attributes TEXT,
  declared INTEGER NOT NULL DEFAULT 1,
  deleted INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS event_types (code INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  user_idx INTEGER NOT NULL,
  item_idx INTEGER NOT NULL,
  type INTEGER NOT NULL,
  value REAL,
  ts INTEGER NOT NULL,
  ext_id TEXT,
  request_id TEXT,
  scene TEXT,
  position INTEGER,
  device TEXT,
  extra TEXT,
  items BLOB
);
CREATE TABLE IF NOT EXISTS checkpoints (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS items_deleted ON items (idx) WHERE deleted = 1;
CREATE INDEX IF NOT EXISTS items_updated ON items (updated_at);
`;

/** Secondary indexes on events: dropped during a bulk load, rebuilt (much faster) at its end. */
const EXT_ID_INDEX = 'CREATE UNIQUE INDEX IF NOT EXISTS events_ext_id ON events (ext_id) WHERE ext_id IS NOT NULL;';
/** Shared zero-length columns of empty histories (nothing can be written into them). */
const NO_I32 = new Int32Array(0);
const NO_U16 = new Uint16Array(0);
const NO_F64 = new Float64Array(0);
/** An empty history: every request reads the user's dislikes too (mostly none), so it allocates no arrays. */
const emptyHistory = (): UserHistory => ({ length: 0, itemIdx: NO_I32, type: NO_U16, value: NO_F64, timestamp: NO_F64 });

/**
 * A user's events newest first, covering the history columns, in two partial indexes: the
 * server-side impressions, and every other type. A history of views, clicks... then walks the
 * user's other events only: with one index it stepped over every impression logged for the
 * user (50 views: 33 µs for a user with 200 events, 615 µs for one served 1,000 times, i.e.
 * with 20,000 impressions). Together the two are the size of the one they replace. The
 * impression type's code is written into their WHERE clauses (SQLite uses a partial index only
 * for a query repeating its condition), so the store creates that type before its indexes
 * (`storedTypeCode`).
 * Stores with the single index (`events_user_ts`) get the pair at their next open.
 *
 * A third partial index holds the dislikes alone (a few rows): the server reads a user's
 * dislikes on every request to exclude them, and through the index of every other type that
 * read stepped over all of the user's views (~30 µs per 1,000 events). It is also made at open
 * where it is missing.
 *
 * There is no index on request_id: nothing reads events by request id (training samples and
 * validation join impressions and clicks while they stream a user's events), and it cost a
 * B-tree insert per logged impression and a quarter of a bulk load's index builds. Stores
 * that have it (events_request) lose it at their next open.
 */
function eventIndexes(imp: number, dis: number): string {
  return `
CREATE INDEX IF NOT EXISTS events_user_ts_rest ON events (user_idx, ts, type, item_idx, value) WHERE type != ${imp};
CREATE INDEX IF NOT EXISTS events_user_ts_imp ON events (user_idx, ts, type, item_idx, value) WHERE type = ${imp};
CREATE INDEX IF NOT EXISTS events_user_dislike ON events (user_idx, ts, type, item_idx, value) WHERE type = ${dis};
${EXT_ID_INDEX}
DROP INDEX IF EXISTS events_request;
DROP INDEX IF EXISTS events_user_ts;
`;
}

/** SQL terms (each after an AND) for `col` in [from, to), either bound absent; and their parameters. */
function timeTerms(col: string, from: number | undefined, to: number | undefined): { sql: string; params: number[] } {
  let sql = '';
  const params: number[] = [];
  if (to !== undefined) {
    sql += ` AND ${col} < ?`;
    params.push(to);
  }
  if (from !== undefined) {
    sql += ` AND ${col} >= ?`;
    params.push(from);
  }
  return { sql, params };
}

/** Prepared statements kept per connection (see `stmt`). */
const MAX_STATEMENTS = 256;

/**
 * A row limit written into a statement's text. Bound as a parameter (`LIMIT ?`), the limit made
 * SQLite prepare the user reads again on every call (their plan depends on the bound value):
 * 19 µs per 50-event read against 13 with the limit in the text, for the statement alone;
 * 22.6 → 17.3 µs per `history()` (the serve bench's store: 100K users, 2M events).
 */
function sqlLimit(n: number): string {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`limit must be a non-negative number, got ${n}`);
  return String(Math.floor(n));
}

/**
 * The stored code of an event type, created when the store has none yet (inside a write
 * transaction). `prepare` is the connection's (cached) statement factory.
 */
function storedTypeCode(prepare: (sql: string) => Database.Statement, name: string): number {
  const existing = prepare('SELECT code FROM event_types WHERE name = ?').pluck().get(name) as number | undefined;
  if (existing !== undefined) return existing;
  const next = (prepare('SELECT COALESCE(MAX(code), -1) FROM event_types').pluck().get() as number) + 1;
  if (next > 65535) throw new Error('too many distinct event types (at most 65536)');
  prepare('INSERT INTO event_types (code, name) VALUES (?, ?)').run(next, name);
  return next;
}

/**
 * Entries of the id → index caches (emptied when full): users bounded so that a server's memory
 * does not grow with the users it has seen; items as large as a big catalogue.
 */
const USER_CACHE_MAX = 1 << 18;
const ITEM_CACHE_MAX = 1 << 22;

/** Rows per multi-row INSERT statement for events (fewer native calls per event). */
const EVENT_CHUNK = 50;
const EVENT_COLS = 11;

export interface SqliteStoreOptions extends StoreOptions {
  /** 'normal' (default) survives a process crash; 'full' also survives power loss. */
  synchronous?: 'normal' | 'full' | 'off';
  /** Page cache size in MiB (default 64). */
  cacheMb?: number;
  /**
   * Read the database file through a memory map of up to this many MiB (SQLite's `mmap_size`;
   * default 0: pages are copied in with pread). Mapped pages are the operating system's page
   * cache, shared and reclaimable, and count in the process's RSS once touched (at most this
   * much). Measured on the serve bench (`apps.NAME.store.mmapMb: 1024`): −4.5% CPU per request
   * side by side in 12 s rounds, but in the full bench no better at half load and a worse tail
   * while the map fills (first touches fault: p99 7.6–11.5 ms at 250–490 requests/s against
   * 2–4), so it is off unless configured.
   */
  mmapMb?: number;
  readonly?: boolean;
  /**
   * Checkpoint the WAL on a worker thread instead of inside the commit that fills it (a server:
   * no commit then holds the event loop for the copy and sync). Default false.
   */
  backgroundCheckpoint?: boolean;
  /**
   * While `onEvents` has listeners, how often (ms) to look for events other connections
   * committed (another worker of the server, an import run by the CLI) and hand them to the
   * listeners too; default 200, 0: only this connection's writes are heard.
   */
  followMs?: number;
}

type Row = unknown[];

/** A packed response's items as stored: int32, little-endian. */
function packItems(items: Int32Array): Buffer {
  const b = Buffer.allocUnsafe(4 * items.length);
  for (let p = 0; p < items.length; p++) b.writeInt32LE(items[p], 4 * p);
  return b;
}

/** Item p of a packed response's `items`. */
function packedItem(b: Uint8Array, p: number): number {
  return b[4 * p] | (b[4 * p + 1] << 8) | (b[4 * p + 2] << 16) | (b[4 * p + 3] << 24);
}

/** In a user read's select: the packed items column, NULL where the rows cannot have any. */
const ITEMS = '$ITEMS';

/**
 * `rows` with every packed impression row (column `itemsAt` not null) expanded into one row per
 * position, in place of it: the item at `itemAt`, and with `at` the position and its provenance
 * (as writeEvents stores free context fields: {"sources": ...}) at their columns; the other
 * columns (seq included) as the packed row's, `itemsAt` null. Positions last first with `desc`
 * (newest-first reads: a later position stands for a later log entry). Null: nothing packed.
 */
function unpack(rows: Row[], itemsAt: number, itemAt: number, desc: boolean, at?: { position: number; extra: number }): Row[] | null {
  let first = -1;
  for (let r = 0; r < rows.length && first < 0; r++) if (rows[r][itemsAt] !== null) first = r;
  if (first < 0) return null;
  const out = rows.slice(0, first);
  for (let r = first; r < rows.length; r++) {
    const row = rows[r];
    const b = row[itemsAt] as Uint8Array | null;
    if (b === null) {
      out.push(row);
      continue;
    }
    const n = b.length >> 2;
    const sources = at ? packedSources(row[at.extra], n) : undefined;
    for (let k = 0; k < n; k++) {
      const p = desc ? n - 1 - k : k;
      const x = row.slice();
      x[itemAt] = packedItem(b, p);
      x[itemsAt] = null;
      if (at) {
        x[at.position] = p;
        x[at.extra] = sources?.[p] ? `{"sources":${JSON.stringify(sources[p])}}` : null;
      }
      out.push(x);
    }
  }
  return out;
}

/**
 * The per-position provenance strings of a packed row's `extra`: a provenance block, or (rows
 * written by the first version-2 code) a JSON array of strings; undefined for none.
 */
function packedSources(extra: unknown, n: number): string[] | undefined {
  if (extra === null || extra === undefined) return undefined;
  if (extra instanceof Uint8Array) return provenanceSources(extra, n);
  return JSON.parse(extra as string) as string[];
}

/** Newest first, ties by type, item and value, descending (SQLite's order: NULL lowest), for rows (item, type, value, ts, ...). */
function byIndexOrder(a: Row, b: Row): number {
  return (
    (b[3] as number) - (a[3] as number) ||
    (b[1] as number) - (a[1] as number) ||
    (b[0] as number) - (a[0] as number) ||
    (b[2] === null ? (a[2] === null ? 0 : -1) : a[2] === null ? 1 : (b[2] as number) - (a[2] as number))
  );
}

function hasItemsColumn(db: Database.Database): boolean {
  return (db.prepare('PRAGMA table_info(events)').all() as { name: string }[]).some((c) => c.name === 'items');
}

/** Removes events whose client id repeats (keeping the first) and (re)creates the event indexes. */
function finishBulk(db: Database.Database): number {
  let removed = 0;
  // Sort through temporary files, not memory: the index builds (and the dedupe) of a large
  // import then run in bounded memory — the sorter keeps about the page cache's size in RAM.
  db.pragma('temp_store = FILE');
  // A small page cache while the indexes build: SQLite's sorter sizes its in-memory runs by the
  // cache, and runs of a few MiB sort inside the CPU caches (and on the sorter's helper thread)
  // before a merge; with the usual 64 MiB the builds of 3M events took 1.9-2.2 s instead of
  // 1.3-1.5 s (measured side by side), and more memory.
  const cache = Number(db.pragma('cache_size', { simple: true }));
  db.pragma('cache_size = -4096');
  try {
    finishBulkTx(db, (n) => (removed = n));
  } finally {
    db.pragma('temp_store = MEMORY');
    db.pragma(`cache_size = ${cache}`);
  }
  return removed;
}

function finishBulkTx(db: Database.Database, setRemoved: (n: number) => void): void {
  let removed = 0;
  db.transaction(() => {
    const inBulk = db.prepare("SELECT value FROM meta WHERE key = 'bulk_load'").pluck().get() === '1';
    if (inBulk) {
      // Build the unique client-id index first: when no id repeats (the common case) that is
      // all; only when it fails are the repeats removed (keeping the first), a much slower sort.
      try {
        db.exec('SAVEPOINT ext_id_index');
        db.exec(EXT_ID_INDEX);
        db.exec('RELEASE ext_id_index');
      } catch (err) {
        db.exec('ROLLBACK TO ext_id_index');
        db.exec('RELEASE ext_id_index');
        if (!(err instanceof Error && /UNIQUE/i.test(err.message))) throw err;
        removed = db
          .prepare(
            'DELETE FROM events WHERE ext_id IS NOT NULL AND seq NOT IN ' +
              '(SELECT MIN(seq) FROM events WHERE ext_id IS NOT NULL GROUP BY ext_id)',
          )
          .run().changes;
      }
      db.prepare("DELETE FROM meta WHERE key = 'bulk_load'").run();
    }
    // The index builds sort every event: let SQLite's sorter use the machine's cores.
    db.pragma(`threads = ${Math.min(8, Math.max(1, availableParallelism()))}`);
    const prepare = (sql: string) => db.prepare(sql);
    const imp = storedTypeCode(prepare, 'impression');
    db.exec(eventIndexes(imp, storedTypeCode(prepare, 'dislike')));
  }).immediate();
  setRemoved(removed);
}

function emptyResult(): BatchResult {
  return { accepted: 0, duplicates: 0, errors: [] };
}

function toEntryErrors(index: number, errors: FieldError[]): EntryError[] {
  return errors.map((e) => ({ index, field: e.field || undefined, code: e.code, message: e.message }));
}

function jsonOrNull(v: unknown): string | null {
  return v === undefined || v === null ? null : JSON.stringify(v);
}

const CONTEXT_KEYS = new Set(['scene', 'position', 'requestId', 'device']);

/**
 * Hands `value` to every listener: a listener's failure is its own (a committed write does not
 * fail, the other listeners still hear it).
 */
function tell<T>(listeners: Iterable<(value: T) => void>, value: T): void {
  for (const fn of listeners) {
    try {
      fn(value);
    } catch {
      // its own failure
    }
  }
}

export class SqliteStore implements Store, BulkLoadable {
  readonly kind = 'sqlite';
  readonly path: string;
  private readonly db: Database.Database;
  private readonly opts: SqliteStoreOptions;
  private readonly userCache = new Map<string, number>();
  private readonly itemCache = new Map<string, number>();
  private typeCodes = new Map<string, number>();
  private readonly allowedTypes: Set<string>;
  private readonly stmts = new Map<string, Database.Statement>();
  private closed = false;
  /** The packed items of an event row in reads ('NULL' for a read-only version-1 store). */
  private itemsCol = 'items';

  private constructor(path: string, db: Database.Database, opts: SqliteStoreOptions) {
    this.path = path;
    this.db = db;
    this.opts = opts;
    this.allowedTypes = new Set([...BUILTIN_EVENT_TYPES, ...(opts.customEventTypes ?? [])]);
  }

  /** Opens (creating if needed) a store file; ':memory:' gives a private in-memory store. */
  static async open(path: string, opts: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const db = new Database(path, { readonly: opts.readonly ?? false });
    try {
      if (!opts.readonly) {
        // 16 KiB pages for a new file (ignored for an existing one): events are append-mostly and
        // timelines read runs of index entries, both faster with larger pages.
        db.pragma('page_size = 16384');
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${(opts.synchronous ?? 'normal').toUpperCase()}`);
      }
      db.pragma(`cache_size = ${-1024 * (opts.cacheMb ?? 64)}`);
      if (opts.mmapMb !== undefined) {
        if (!Number.isInteger(opts.mmapMb) || opts.mmapMb < 0) throw new RangeError(`mmapMb must be an integer >= 0, got ${opts.mmapMb}`);
        db.pragma(`mmap_size = ${opts.mmapMb * 1048576}`);
      }
      db.pragma('temp_store = MEMORY');
      db.pragma('busy_timeout = 5000');
      if (!opts.readonly) {
        db.exec(SCHEMA);
        const v = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get() as string | undefined;
        if (v === undefined) {
          const ins = db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)');
          ins.run('schema_version', String(SCHEMA_VERSION));
          ins.run('next_user_idx', '0');
          ins.run('next_item_idx', '0');
          ins.run('created_at', new Date().toISOString());
        } else if (Number(v) > SCHEMA_VERSION) {
          throw new Error(`${path}: store schema version ${v} is newer than this Funnel (${SCHEMA_VERSION}); upgrade Funnel`);
        } else if (Number(v) < SCHEMA_VERSION) {
          db.transaction(() => {
            if (!hasItemsColumn(db)) db.exec('ALTER TABLE events ADD COLUMN items BLOB');
            db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION));
          }).immediate();
        }
        // A bulk load that was interrupted (kill -9) left the indexes dropped: restore them.
        finishBulk(db);
      }
    } catch (err) {
      db.close();
      throw err;
    }
    const store = new SqliteStore(path, db, opts);
    // A read-only version-1 store has no packed impressions (nor the column).
    if (opts.readonly && !hasItemsColumn(db)) store.itemsCol = 'NULL';
    store.loadTypes();
    if (opts.backgroundCheckpoint && !opts.readonly && path !== ':memory:' && path !== '') {
      const auto = Number(db.pragma('wal_autocheckpoint', { simple: true }));
      store.checkpointer = new BackgroundCheckpointer(db, path, auto);
    }
    return store;
  }

  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      // Bounded: user reads write their limit into the statement (userQuery), so the texts
      // are as many as the limits asked for. The oldest prepared goes first.
      if (this.stmts.size >= MAX_STATEMENTS) this.stmts.delete(this.stmts.keys().next().value!);
      this.stmts.set(sql, s);
    }
    return s;
  }

  private loadTypes(): void {
    // Read first: a commit by another connection after this read makes the next check reload.
    this.typesSeen = this.stmt('PRAGMA data_version').pluck().get() as number;
    this.typeCodes = new Map();
    for (const r of this.stmt('SELECT code, name FROM event_types').all() as { code: number; name: string }[]) {
      this.typeCodes.set(r.name, r.code);
    }
  }
  /** PRAGMA data_version when the event types were last read (other connections' commits change it). */
  private typesSeen = -1;

  /**
   * Re-reads the event types when another connection committed since they were read: a type
   * asked for and unknown here may have been created there. This connection's own new types are
   * added as they are written. One cheap pragma when nothing changed, so a hot path asking for
   * types that were never stored (a history of 'click' on a store of views) stays cheap.
   */
  private reloadTypesIfChanged(dv = this.stmt('PRAGMA data_version').pluck().get() as number): void {
    if (dv !== this.typesSeen) this.loadTypes();
  }


  private ensureOpen(): void {
    if (this.closed) throw new Error('store is closed');
  }

  // ---- index allocation (inside write transactions) -------------------------------------

  private nextIdx(key: 'next_user_idx' | 'next_item_idx'): number {
    const tx = this.txIdx;
    if (tx) {
      // Read once per write transaction (it holds the write lock), written back at its end.
      let c = tx.get(key);
      if (c === undefined) {
        const v = Number(this.stmt('SELECT value FROM meta WHERE key = ?').pluck().get(key));
        c = { start: v, next: v };
        tx.set(key, c);
      }
      return c.next++;
    }
    const v = Number(this.stmt('SELECT value FROM meta WHERE key = ?').pluck().get(key));
    this.stmt('UPDATE meta SET value = ? WHERE key = ?').run(String(v + 1), key);
    return v;
  }

  /** The index counters of the write transaction in progress (see nextIdx). */
  private txIdx: Map<string, { start: number; next: number }> | null = null;

  /** Caches an id's index (bounded: see USER_CACHE_MAX). */
  private cacheId(cache: Map<string, number>, id: string, idx: number): void {
    if (cache.size >= (cache === this.userCache ? USER_CACHE_MAX : ITEM_CACHE_MAX)) cache.clear();
    cache.set(id, idx);
    this.cacheWrites++;
  }
  /** Counts cacheId calls: a rolled-back write forgets the ids it may have cached. */
  private cacheWrites = 0;

  /**
   * Indices of the keyed ids of one key space (EventColumns.keySpace: an import worker's
   * batches), index + 1 per key (0: not resolved yet). Dropped with the id caches (a rolled-back
   * write, a deleted user) and when another key space arrives.
   */
  private keyed: { space: string; users: Int32Array; items: Int32Array } | undefined;

  /** The keyed indices for a batch's key space, grown to hold its keys. */
  private keyedFor(c: EventColumns): { users: Int32Array; items: Int32Array } | undefined {
    const uk = c.userId.keys;
    const ik = c.itemId.keys;
    if (c.keySpace === undefined || !uk || !ik || uk.length !== c.userId.values.length || ik.length !== c.itemId.values.length) return undefined;
    let k = this.keyed;
    if (!k || k.space !== c.keySpace) k = this.keyed = { space: c.keySpace, users: new Int32Array(1024), items: new Int32Array(1024) };
    const grow = (a: Int32Array, keys: Int32Array): Int32Array => {
      let max = -1;
      for (let i = 0; i < keys.length; i++) if (keys[i] > max) max = keys[i];
      if (max < a.length) return a;
      const b = new Int32Array(Math.max(max + 1, a.length * 2));
      b.set(a);
      return b;
    };
    k.users = grow(k.users, uk);
    k.items = grow(k.items, ik);
    return k;
  }

  /** PRAGMA data_version when the user caches were last checked (see syncIds). */
  private idsSeen = -1;

  /**
   * Another connection (another worker of the server, the CLI) may have deleted a user whose
   * index this one caches: then events written here would land under the deleted index, and
   * reads would miss the user's new one. When data_version moved (other connections' commits;
   * one pragma), the user caches are dropped. Called by reads that resolve a user and inside
   * every write transaction (which sees every commit before it). Returns data_version.
   */
  private syncIds(): number {
    const dv = this.stmt('PRAGMA data_version').pluck().get() as number;
    if (dv !== this.idsSeen) {
      if (this.idsSeen !== -1) {
        this.userCache.clear();
        this.keyed = undefined;
      }
      this.idsSeen = dv;
    }
    return dv;
  }

  private lookupUser(id: string): number {
    const cached = this.userCache.get(id);
    if (cached !== undefined) return cached;
    const idx = this.stmt('SELECT idx FROM users WHERE id = ?').pluck().get(id) as number | undefined;
    if (idx === undefined) return -1;
    this.cacheId(this.userCache, id, idx);
    return idx;
  }

  private lookupItem(id: string): number {
    const cached = this.itemCache.get(id);
    if (cached !== undefined) return cached;
    const idx = this.stmt('SELECT idx FROM items WHERE id = ?').pluck().get(id) as number | undefined;
    if (idx === undefined) return -1;
    this.cacheId(this.itemCache, id, idx);
    return idx;
  }

  private typeCode(name: string): number {
    let code = this.typeCodes.get(name);
    if (code === undefined) {
      code = storedTypeCode((sql) => this.stmt(sql), name);
      this.typeCodes.set(name, code);
    }
    return code;
  }

  // ---- writes ---------------------------------------------------------------------------

  private writeUsers(users: unknown[], res: BatchResult): void {
    const now = Date.now();
    const upsert = this.stmt(
      'INSERT INTO users (idx, id, attributes, declared, updated_at) VALUES (?, ?, ?, 1, ?) ' +
        'ON CONFLICT(idx) DO UPDATE SET attributes = excluded.attributes, declared = 1, updated_at = excluded.updated_at',
    );
    users.forEach((raw, i) => {
      const c = checkUser(raw);
      if (!c.ok) {
        res.errors.push(...toEntryErrors(i, c.errors));
        return;
      }
      const u = c.value;
      let idx = this.lookupUser(u.id);
      if (idx < 0) {
        idx = this.nextIdx('next_user_idx');
        this.cacheId(this.userCache, u.id, idx);
      }
      upsert.run(idx, u.id, jsonOrNull(u.attributes), now);
      res.accepted++;
    });
  }

  private writeItems(items: unknown[], res: BatchResult): void {
    const now = Date.now();
    const upsert = this.stmt(
      'INSERT INTO items (idx, id, title, categories, tags, price, available, created_at, text, image_url, attributes, declared, deleted, updated_at) ' +
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, ?) ON CONFLICT(idx) DO UPDATE SET ' +
        'title = excluded.title, categories = excluded.categories, tags = excluded.tags, price = excluded.price, ' +
        'available = excluded.available, created_at = excluded.created_at, text = excluded.text, ' +
        'image_url = excluded.image_url, attributes = excluded.attributes, declared = 1, deleted = 0, updated_at = excluded.updated_at',
    );
    items.forEach((raw, i) => {
      const c = checkItem(raw);
      if (!c.ok) {
        res.errors.push(...toEntryErrors(i, c.errors));
        return;
      }
      const it = c.value;
      let idx = this.lookupItem(it.id);
      if (idx < 0) {
        idx = this.nextIdx('next_item_idx');
        this.cacheId(this.itemCache, it.id, idx);
      }
      this.itemWrites++;
      upsert.run(
        idx, it.id, it.title ?? null, jsonOrNull(it.categories), jsonOrNull(it.tags), it.price ?? null,
        it.available === false ? 0 : 1, it.createdAt ?? null, it.text ?? null, it.imageUrl ?? null,
        jsonOrNull(it.attributes), now,
      );
      res.accepted++;
      if (this.itemListeners.size > 0) this.writtenItems.push({ ...it, idx, declared: true });
    });
  }

  private resolveForEvent(kind: 'user' | 'item', id: string): number {
    const idx = kind === 'user' ? this.lookupUser(id) : this.lookupItem(id);
    if (idx >= 0 || this.opts.unknownEntities === 'reject') return idx;
    const now = Date.now();
    if (kind === 'user') {
      const n = this.nextIdx('next_user_idx');
      this.stmt('INSERT INTO users (idx, id, attributes, declared, updated_at) VALUES (?, ?, NULL, 0, ?)').run(n, id, now);
      this.cacheId(this.userCache, id, n);
      return n;
    }
    const n = this.nextIdx('next_item_idx');
    this.itemWrites++;
    this.stmt('INSERT INTO items (idx, id, declared, updated_at) VALUES (?, ?, 0, ?)').run(n, id, now);
    this.cacheId(this.itemCache, id, n);
    return n;
  }

  private writeEvents(events: unknown[], res: BatchResult): void {
    const rows: Row[] = [];
    events.forEach((raw, i) => {
      const c = checkEvent(raw, this.opts, this.allowedTypes);
      if (!c.ok) {
        res.errors.push(...toEntryErrors(i, c.errors));
        return;
      }
      this.eventRow(c.value, i, res, rows);
    });
    this.insertEventRows(rows, res);
  }

  /** The row of a checked event (appended to rows), or its errors (unknown user or item). */
  private eventRow(e: Event, i: number, res: BatchResult, rows: Row[]): void {
    const u = this.resolveForEvent('user', e.userId);
    const it = this.resolveForEvent('item', e.itemId);
    if (u < 0 || it < 0) {
      if (u < 0) res.errors.push({ index: i, field: 'userId', code: 'UNKNOWN_USER', message: `unknown user '${e.userId}'` });
      if (it < 0) res.errors.push({ index: i, field: 'itemId', code: 'UNKNOWN_ITEM', message: `unknown item '${e.itemId}'` });
      return;
    }
    const ctx = e.context;
    let extra: string | null = null;
    if (ctx) {
      const rest: Record<string, unknown> = {};
      let any = false;
      for (const k of Object.keys(ctx)) {
        if (!CONTEXT_KEYS.has(k) && ctx[k] !== undefined) {
          rest[k] = ctx[k];
          any = true;
        }
      }
      if (any) extra = JSON.stringify(rest);
    }
    rows.push([
      u, it, this.typeCode(e.type), e.value ?? null, e.timestamp, e.id ?? null,
      ctx?.requestId ?? null, ctx?.scene ?? null, ctx?.position ?? null, ctx?.device ?? null, extra,
    ]);
  }

  /**
   * Server-side impressions, one row per response ("packed"): the response's items as int32s in
   * `items` (item_idx holds the first), its request id, scene and time once, its provenance block
   * (data/provenance.ts) as a BLOB in `extra` (null when no position has any). Every read expands
   * such a row into the impression events it stands for (`unpack`): position p at item items[p],
   * context { requestId, scene, position: p, sources }; all share the row's seq (one log entry).
   * One row and one user-index entry per response instead of one per item: 19 against 95 µs of
   * CPU per 20-item response on the serve bench's store (B-tree inserts, row building and
   * parameter binding per impression were most of it).
   */
  private writeServed(served: ServedImpressions[], res: BatchResult): void {
    const type = this.typeCode('impression');
    const insert = this.stmt(`INSERT INTO events (user_idx, item_idx, type, ts, request_id, scene, extra, items) VALUES (?, ?, ${type}, ?, ?, ?, ?, ?)`);
    const listening = this.eventListeners.size > 0;
    let index = 0;
    for (const s of served) {
      const n = s.items.length;
      const u = this.resolveForEvent('user', s.userId);
      if (u < 0) {
        for (let p = 0; p < n; p++) res.errors.push({ index: index + p, field: 'userId', code: 'UNKNOWN_USER', message: `unknown user '${s.userId}'` });
      } else if (n > 0) {
        const info = insert.run(u, s.items[0], s.timestamp, s.requestId, s.scene, s.provenance, packItems(s.items));
        res.accepted += n;
        if (listening) {
          const seq = Number(info.lastInsertRowid);
          for (let p = 0; p < n; p++) this.appended.push(u, s.items[p], type, s.timestamp, seq);
        }
      }
      index += n;
    }
  }

  /** Inserts event rows (INSERT OR IGNORE: a repeated client id is a duplicate). */
  private insertEventRows(rows: Row[], res: BatchResult): void {
    this.insertEvents(
      rows.length,
      (r, out, o) => {
        const row = rows[r];
        for (let k = 0; k < EVENT_COLS; k++) out[o + k] = row[k];
      },
      (r) => rows[r][5] !== null,
      res,
    );
  }

  /**
   * Inserts n event rows, each written by `fill` as EVENT_COLS values at out[o...]; `hasExtId`
   * says whether row r has a client id (INSERT OR IGNORE: a repeated client id is a duplicate).
   */
  private insertEvents(n: number, fill: (r: number, out: unknown[], o: number) => void, hasExtId: (r: number) => boolean, res: BatchResult): void {
    const cols = '(user_idx, item_idx, type, value, ts, ext_id, request_id, scene, position, device, extra)';
    const one = `(${new Array(EVENT_COLS).fill('?').join(', ')})`;
    const many = this.stmt(`INSERT OR IGNORE INTO events ${cols} VALUES ${new Array(EVENT_CHUNK).fill(one).join(', ')}`);
    const single = this.stmt(`INSERT OR IGNORE INTO events ${cols} VALUES ${one}`);
    const row: unknown[] = new Array(EVENT_COLS);
    let inserted = 0;
    let p = 0;
    const listening = this.eventListeners.size > 0;
    let withExtId = false;
    if (listening) for (let r = 0; r < n && !withExtId; r++) withExtId = hasExtId(r);
    // (user, item, type, time, seq) of each stored row, for the listeners.
    const heard = (a: unknown[], o: number, seq: number) => this.appended.push(a[o] as number, a[o + 1] as number, a[o + 2] as number, a[o + 4] as number, seq);
    if (withExtId) {
      // Someone listens and a row has an id: insert row by row to know which rows a duplicate
      // id made the database ignore (the multi-row insert only counts them).
      for (let r = 0; r < n; r++) {
        fill(r, row, 0);
        const info = single.run(row);
        if (info.changes > 0) {
          inserted++;
          heard(row, 0, Number(info.lastInsertRowid));
        }
      }
      res.accepted += inserted;
      res.duplicates += n - inserted;
      return;
    }
    // Without ids no row can be a duplicate: every row is stored (and heard as it is written).
    const flat: unknown[] = new Array(EVENT_CHUNK * EVENT_COLS);
    for (; p + EVENT_CHUNK <= n; p += EVENT_CHUNK) {
      for (let r = 0; r < EVENT_CHUNK; r++) fill(p + r, flat, r * EVENT_COLS);
      const info = many.run(flat);
      inserted += info.changes;
      // One statement's rows take consecutive seqs, the last one reported.
      const first = Number(info.lastInsertRowid) - EVENT_CHUNK + 1;
      if (listening) for (let r = 0; r < EVENT_CHUNK; r++) heard(flat, r * EVENT_COLS, info.changes === EVENT_CHUNK ? first + r : NaN);
    }
    for (; p < n; p++) {
      fill(p, row, 0);
      const info = single.run(row);
      inserted += info.changes;
      if (listening) heard(row, 0, Number(info.lastInsertRowid));
    }
    res.accepted += inserted;
    res.duplicates += n - inserted;
  }

  /** writeEvents for columns: ids resolved once per distinct string, no object per event. */
  private writeEventColumns(c: EventColumns, res: BatchResult): void {
    const whole = new Map<number, Event>();
    const checked = checkEventColumns(c, this.opts, this.allowedTypes, whole);
    // Index per distinct id, resolved at its first valid row (as writeEvents would, in row
    // order, so new users and items get the same indices); -2: not resolved yet.
    const users = new Int32Array(c.userId.values.length).fill(-2);
    const items = new Int32Array(c.itemId.values.length).fill(-2);
    // Keyed ids (an import's batches): each distinct id resolved once per import, then read by key.
    const keyed = this.keyedFor(c);
    if (keyed) {
      const uk = c.userId.keys!;
      const ik = c.itemId.keys!;
      // index + 1 by key, 0: not resolved yet (-2 here)
      const known = (v: number) => (v === 0 ? -2 : v - 1);
      for (let k = 0; k < uk.length; k++) users[k] = known(keyed.users[uk[k]]);
      for (let k = 0; k < ik.length; k++) items[k] = known(keyed.items[ik[k]]);
    }
    const types = new Int32Array(c.type.values.length).fill(-1);
    const rowU = new Int32Array(c.n);
    const rowI = new Int32Array(c.n);
    const rowT = new Int32Array(c.n);
    const keep = new Int32Array(c.n);
    const wholeRows: Row[] = [];
    let kept = 0;
    for (let i = 0; i < c.n; i++) {
      const errs = checked[i];
      if (errs) {
        res.errors.push(...toEntryErrors(i, errs));
        continue;
      }
      const w = whole.get(i);
      if (w) {
        // Rare: an event that did not fit the columns; the object path's row.
        const before = res.errors.length;
        const one: BatchResult = { accepted: 0, duplicates: 0, errors: [] };
        const rows: Row[] = [];
        this.eventRow(w, i, one, rows);
        res.errors.push(...one.errors);
        if (res.errors.length === before && rows.length) {
          rowU[i] = -1;
          keep[kept++] = i;
          wholeRows[i] = rows[0];
        }
        continue;
      }
      const uc = c.userId.codes[i];
      const ic = c.itemId.codes[i];
      let u = users[uc];
      if (u === -2) {
        u = users[uc] = this.resolveForEvent('user', c.userId.values[uc]);
        if (keyed && u >= 0) keyed.users[c.userId.keys![uc]] = u + 1;
      }
      let it = items[ic];
      if (it === -2) {
        it = items[ic] = this.resolveForEvent('item', c.itemId.values[ic]);
        if (keyed && it >= 0) keyed.items[c.itemId.keys![ic]] = it + 1;
      }
      if (u < 0 || it < 0) {
        if (u < 0) res.errors.push({ index: i, field: 'userId', code: 'UNKNOWN_USER', message: `unknown user '${c.userId.values[uc]}'` });
        if (it < 0) res.errors.push({ index: i, field: 'itemId', code: 'UNKNOWN_ITEM', message: `unknown item '${c.itemId.values[ic]}'` });
        continue;
      }
      const tc = c.type.codes[i];
      let t = types[tc];
      if (t < 0) t = types[tc] = this.typeCode(c.type.values[tc]);
      rowU[i] = u;
      rowI[i] = it;
      rowT[i] = t;
      keep[kept++] = i;
    }
    const sv = (col: EventColumns['id'], i: number): string | null => {
      const k = col.codes[i];
      return k < 0 ? null : col.values[k];
    };
    this.insertEvents(kept, (r, out, o) => {
      const i = keep[r];
      if (rowU[i] === -1) {
        const row = wholeRows[i];
        for (let k = 0; k < EVENT_COLS; k++) out[o + k] = row[k];
        return;
      }
      const v = c.value[i];
      const pos = c.position[i];
      out[o] = rowU[i];
      out[o + 1] = rowI[i];
      out[o + 2] = rowT[i];
      out[o + 3] = v === v ? v : null;
      out[o + 4] = c.timestamp[i];
      out[o + 5] = sv(c.id, i);
      out[o + 6] = sv(c.requestId, i);
      out[o + 7] = sv(c.scene, i);
      out[o + 8] = pos === pos ? pos : null;
      out[o + 9] = sv(c.device, i);
      out[o + 10] = sv(c.rest, i);
    }, (r) => {
      const i = keep[r];
      return rowU[i] === -1 ? wholeRows[i][5] !== null : c.id.codes[i] >= 0;
    }, res);
  }

  async ingestEventColumns(events: EventColumns, checkpoint?: { key: string; value: string }): Promise<BatchResult> {
    const res = emptyResult();
    this.writeTransaction(() => {
      if (events.n) this.writeEventColumns(events, res);
      if (checkpoint) this.writeCheckpoint(checkpoint);
    });
    return res;
  }

  private writeCheckpoint(cp: { key: string; value: string }): void {
    this.stmt('INSERT INTO checkpoints (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(cp.key, cp.value);
  }

  async ingest(batch: IngestBatch): Promise<IngestResult> {
    const out: IngestResult = { users: emptyResult(), items: emptyResult(), events: emptyResult() };
    this.writeTransaction(() => {
      if (batch.users?.length) this.writeUsers(batch.users, out.users);
      if (batch.items?.length) this.writeItems(batch.items, out.items);
      if (batch.events?.length) this.writeEvents(batch.events, out.events);
      if (batch.checkpoint) this.writeCheckpoint(batch.checkpoint);
    });
    return out;
  }

  async appendServed(served: ServedImpressions[]): Promise<BatchResult> {
    const res = emptyResult();
    this.writeTransaction(() => this.writeServed(served, res));
    return res;
  }

  /**
   * Runs `write` in one immediate transaction; on failure forgets what it cached, on success
   * tells the listeners what it stored.
   */
  private writeTransaction(write: () => void): void {
    this.ensureOpen();
    const cacheWrites = this.cacheWrites;
    const itemWrites = this.itemWrites;
    // What the follower (see `follow`) learns of this write, applied once it committed.
    let ownSeq: [number, number] | undefined;
    let ownItemsRev: number | undefined;
    const tx = this.db.transaction(() => {
      this.syncIds();
      const f = this.follow;
      const before = f ? this.maxSeq() : 0;
      write();
      if (f) ownSeq = [before, this.maxSeq()];
      if (this.itemWrites !== itemWrites) {
        // Heard by this connection's item listeners at commit: the follower skips the
        // revision unless another connection's is still unread before it.
        const unread = f !== undefined && this.itemsRevision() !== f.itemsRev;
        this.bumpItemsRevision();
        if (f && !unread) ownItemsRev = this.itemsRevision();
      }
      for (const [key, c] of this.txIdx!) if (c.next !== c.start) this.stmt('UPDATE meta SET value = ? WHERE key = ?').run(String(c.next), key);
    });
    this.appended.length = 0;
    this.writtenItems.length = 0;
    this.txIdx = new Map();
    try {
      tx.immediate();
    } catch (err) {
      this.txIdx = null;
      this.deletedStale = true;
      this.appended.length = 0;
      this.writtenItems.length = 0;
      // Rolled back: forget ids that were allocated inside the failed transaction.
      if (this.cacheWrites !== cacheWrites) {
        this.userCache.clear();
        this.itemCache.clear();
        this.keyed = undefined;
      }
      this.loadTypes();
      throw err;
    }
    this.txIdx = null;
    if (this.follow) {
      if (ownSeq) this.followOwn(ownSeq[0], ownSeq[1]);
      if (ownItemsRev !== undefined) this.follow.itemsRev = ownItemsRev;
    }
    if (this.itemWrites !== itemWrites) this.deletedStale = true;
    if (this.writtenItems.length > 0) this.emitItems();
    if (this.appended.length > 0) this.emitAppended();
  }

  private readonly itemListeners = new Set<(items: StoredItem[]) => void>();
  private readonly writtenItems: StoredItem[] = [];

  onItems(listener: (items: StoredItem[]) => void): () => void {
    this.itemListeners.add(listener);
    this.startFollowing();
    return () => this.unlisten(this.itemListeners, listener);
  }

  private emitItems(): void {
    tell(this.itemListeners, this.writtenItems.splice(0));
  }

  private readonly eventListeners = new Set<(events: AppendedEvents) => void>();
  /** Rows stored by the current write while someone listens: (user, item, type, ts) each. */
  private readonly appended: number[] = [];

  onEvents(listener: (events: AppendedEvents) => void): () => void {
    this.eventListeners.add(listener);
    this.startFollowing();
    return () => this.unlisten(this.eventListeners, listener);
  }

  /** Removes a listener; the last one of either kind stops the follower. */
  private unlisten<T>(set: Set<T>, listener: T): boolean {
    const had = set.delete(listener);
    if (this.eventListeners.size === 0 && this.itemListeners.size === 0) this.stopFollowing();
    return had;
  }

  /**
   * Events other connections commit, for the listeners (see `followMs`): `seq` is the last
   * event seen; this connection's own writes (already heard at their commit) that landed after
   * unseen foreign ones are skipped by their seq ranges `own` (lo, hi], pairs.
   */
  private follow:
    | {
        timer: NodeJS.Timeout; seq: number; dv: number; own: number[]; busy: boolean;
        /** Items: the revision seen, and the newest updated_at read from other connections. */
        itemsRev: number; itemsTs: number;
      }
    | undefined;

  private maxSeq(): number {
    return (this.stmt('SELECT MAX(seq) FROM events').pluck().get() as number | null) ?? 0;
  }

  private startFollowing(): void {
    const ms = this.opts.followMs ?? 200;
    if (this.follow || ms <= 0 || this.path === ':memory:' || this.path === '' || this.closed) return;
    const timer = setInterval(() => this.pollOthers(), ms);
    timer.unref();
    this.follow = {
      timer, seq: this.maxSeq(), dv: this.stmt('PRAGMA data_version').pluck().get() as number, own: [], busy: false,
      itemsRev: this.itemsRevision(), itemsTs: Date.now(),
    };
  }

  private stopFollowing(): void {
    if (!this.follow) return;
    clearInterval(this.follow.timer);
    this.follow = undefined;
  }

  /**
   * Items other connections wrote (the items revision moved): those updated since the last
   * look, read again from a few seconds before it (another process may stamp a write a little
   * before it commits; hearing an item twice is harmless to item listeners).
   */
  private pollItems(f: NonNullable<SqliteStore['follow']>): void {
    try {
      const rev = this.itemsRevision();
      if (rev === f.itemsRev) return;
      f.itemsRev = rev;
      const rows = this.stmt('SELECT * FROM items WHERE updated_at >= ? AND deleted = 0 ORDER BY updated_at').all(f.itemsTs - 5_000) as Record<string, unknown>[];
      if (rows.length === 0) return;
      f.itemsTs = Math.max(f.itemsTs, rows[rows.length - 1].updated_at as number);
      tell(this.itemListeners, rows.map((r) => this.rowToItem(r)));
    } catch {
      f.itemsRev = -1; // try again at the next look
    }
  }

  /** After a committed write that took seqs (before, after]: keeps `follow` past own rows. */
  private followOwn(before: number, after: number): void {
    const f = this.follow;
    if (!f) return;
    if (after <= before) return;
    if (before <= f.seq) f.seq = Math.max(f.seq, after); // nothing foreign unseen before them
    else f.own.push(before, after);
  }

  /** Reads and hands out the events (and items) other connections committed since the last look. */
  private pollOthers(): void {
    const f = this.follow;
    if (!f || f.busy || this.closed) return;
    const dv = this.stmt('PRAGMA data_version').pluck().get() as number;
    if (dv === f.dv) return;
    f.dv = dv;
    if (this.itemListeners.size > 0) this.pollItems(f);
    if (this.eventListeners.size === 0) return;
    f.busy = true;
    const LIMIT = 10_000;
    const step = () => {
      if (this.follow !== f || this.closed) return;
      try {
        // Deleting a user's events at the end of the log lets SQLite hand their seqs out again
        // (no AUTOINCREMENT): start from the end as it is now. (Rows deleted and re-inserted
        // past this point within one interval can then be missed by these listeners: a few
        // events for another worker's live profiles, never stored data.)
        const max = this.maxSeq();
        if (max < f.seq) f.seq = max;
        const rows = this.stmt(`SELECT seq, user_idx, item_idx, type, ts, ${this.itemsCol} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`).raw(true).all(f.seq, LIMIT) as Row[];
        // (user, item, type, ts, seq) of the rows not this connection's own; packed impressions
        // one per position
        const heard: number[] = [];
        for (const r of rows) {
          const q = r[0] as number;
          let own = false;
          for (let i = 0; i < f.own.length && !own; i += 2) own = q > f.own[i] && q <= f.own[i + 1];
          if (own) continue;
          const b = r[5] as Uint8Array | null;
          if (b === null) heard.push(r[1] as number, r[2] as number, r[3] as number, r[4] as number, q);
          else for (let p = 0; p < b.length >> 2; p++) heard.push(r[1] as number, packedItem(b, p), r[3] as number, r[4] as number, q);
        }
        if (rows.length) f.seq = rows[rows.length - 1][0] as number;
        const own = f.own;
        f.own = [];
        for (let i = 0; i < own.length; i += 2) if (own[i + 1] > f.seq) f.own.push(Math.max(own[i], f.seq), own[i + 1]);
        if (heard.length) {
          this.reloadTypesIfChanged(dv); // types another connection made
          tell(this.eventListeners, this.appendedEvents(heard));
        }
        if (rows.length === LIMIT) {
          setImmediate(step);
          return;
        }
      } catch {
        // the store closed or is busy: the next tick tries again
        f.dv = -1;
      }
      f.busy = false;
    };
    step();
  }

  private emitAppended(): void {
    const ev = this.appendedEvents(this.appended);
    this.appended.length = 0;
    tell(this.eventListeners, ev);
  }

  /** Events from (user, item, type, ts, seq) quintuples, for the listeners. */
  private appendedEvents(a: readonly number[]): AppendedEvents {
    const n = a.length / 5;
    const seq = new Float64Array(n);
    const ev: AppendedEvents = {
      length: n, userIdx: new Int32Array(n), itemIdx: new Int32Array(n), type: new Uint16Array(n), timestamp: new Float64Array(n),
      typeNames: new Map(this.typeNames()), seq,
    };
    for (let i = 0; i < n; i++) {
      ev.userIdx[i] = a[5 * i];
      ev.itemIdx[i] = a[5 * i + 1];
      ev.type[i] = a[5 * i + 2];
      ev.timestamp[i] = a[5 * i + 3];
      seq[i] = a[5 * i + 4];
    }
    return ev;
  }

  async upsertUsers(users: User[]): Promise<BatchResult> {
    return (await this.ingest({ users })).users;
  }

  async upsertItems(items: Item[]): Promise<BatchResult> {
    return (await this.ingest({ items })).items;
  }

  async appendEvents(events: Event[]): Promise<BatchResult> {
    return (await this.ingest({ events })).events;
  }

  async getCheckpoint(key: string): Promise<string | undefined> {
    this.ensureOpen();
    return this.stmt('SELECT value FROM checkpoints WHERE key = ?').pluck().get(key) as string | undefined;
  }

  async deleteCheckpoint(key: string): Promise<void> {
    this.ensureOpen();
    this.stmt('DELETE FROM checkpoints WHERE key = ?').run(key);
  }

  async deleteUser(id: string): Promise<boolean> {
    this.ensureOpen();
    this.syncIds();
    const idx = this.lookupUser(id);
    if (idx < 0) return false;
    this.db.transaction(() => {
      this.stmt('DELETE FROM events WHERE user_idx = ?').run(idx);
      this.stmt('DELETE FROM users WHERE idx = ?').run(idx);
    }).immediate();
    this.userCache.delete(id);
    this.keyed = undefined;
    return true;
  }

  async deleteItem(id: string): Promise<boolean> {
    this.ensureOpen();
    const changed = this.db.transaction(() => {
      const r = this.stmt('UPDATE items SET deleted = 1, updated_at = ? WHERE id = ? AND deleted = 0').run(Date.now(), id);
      if (r.changes > 0) this.bumpItemsRevision();
      return r.changes > 0;
    }).immediate();
    if (changed) {
      this.itemWrites++;
      this.deletedStale = true;
    }
    return changed;
  }

  private itemWrites = 0;

  itemsVersion(): number {
    return this.itemWrites;
  }

  /** Inside a write transaction that wrote items: counts one more revision of the items table. */
  private bumpItemsRevision(): void {
    this.stmt("INSERT INTO meta (key, value) VALUES ('items_revision', '1') ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1").run();
  }

  itemsRevision(): number {
    this.ensureOpen();
    return Number(this.stmt("SELECT value FROM meta WHERE key = 'items_revision'").pluck().get() ?? 0);
  }

  // ---- reads ----------------------------------------------------------------------------

  private rowToItem(r: Record<string, unknown>): StoredItem {
    const it: StoredItem = { idx: r.idx as number, id: r.id as string, declared: r.declared === 1 };
    if (r.title !== null) it.title = r.title as string;
    if (r.categories !== null) it.categories = JSON.parse(r.categories as string) as string[];
    if (r.tags !== null) it.tags = JSON.parse(r.tags as string) as string[];
    if (r.price !== null) it.price = r.price as number;
    it.available = r.available === 1;
    if (r.created_at !== null) it.createdAt = r.created_at as number;
    if (r.text !== null) it.text = r.text as string;
    if (r.image_url !== null) it.imageUrl = r.image_url as string;
    if (r.attributes !== null) it.attributes = JSON.parse(r.attributes as string) as Record<string, unknown>;
    return it;
  }

  private rowToUser(r: Record<string, unknown>): StoredUser {
    const u: StoredUser = { idx: r.idx as number, id: r.id as string, declared: r.declared === 1 };
    if (r.attributes !== null) u.attributes = JSON.parse(r.attributes as string) as Record<string, unknown>;
    return u;
  }

  async getUser(id: string): Promise<StoredUser | undefined> {
    this.ensureOpen();
    const r = this.stmt('SELECT * FROM users WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? this.rowToUser(r) : undefined;
  }

  async getItem(id: string): Promise<StoredItem | undefined> {
    this.ensureOpen();
    const r = this.stmt('SELECT * FROM items WHERE id = ? AND deleted = 0').get(id) as Record<string, unknown> | undefined;
    return r ? this.rowToItem(r) : undefined;
  }

  async getItems(ids: string[]): Promise<(StoredItem | undefined)[]> {
    const s = this.stmt('SELECT * FROM items WHERE id = ? AND deleted = 0');
    return ids.map((id) => {
      const r = s.get(id) as Record<string, unknown> | undefined;
      return r ? this.rowToItem(r) : undefined;
    });
  }

  async userIndex(id: string): Promise<number> {
    this.ensureOpen();
    return (this.stmt('SELECT idx FROM users WHERE id = ?').pluck().get(id) as number | undefined) ?? -1;
  }

  async itemIndex(id: string): Promise<number> {
    this.ensureOpen();
    return (this.stmt('SELECT idx FROM items WHERE id = ? AND deleted = 0').pluck().get(id) as number | undefined) ?? -1;
  }

  async userId(idx: number): Promise<string | undefined> {
    return this.stmt('SELECT id FROM users WHERE idx = ?').pluck().get(idx) as string | undefined;
  }

  async itemId(idx: number): Promise<string | undefined> {
    return this.stmt('SELECT id FROM items WHERE idx = ? AND deleted = 0').pluck().get(idx) as string | undefined;
  }

  /** Ids by index; entries for deleted users/items are empty strings (indices are never reused). */
  async itemIds(): Promise<string[]> {
    const n = Number(this.stmt("SELECT value FROM meta WHERE key = 'next_item_idx'").pluck().get());
    const out = new Array<string>(n).fill('');
    for (const r of this.stmt('SELECT idx, id FROM items WHERE deleted = 0').raw(true).iterate() as Iterable<[number, string]>) out[r[0]] = r[1];
    return out;
  }

  async userIds(): Promise<string[]> {
    const n = Number(this.stmt("SELECT value FROM meta WHERE key = 'next_user_idx'").pluck().get());
    const out = new Array<string>(n).fill('');
    for (const r of this.stmt('SELECT idx, id FROM users').raw(true).iterate() as Iterable<[number, string]>) out[r[0]] = r[1];
    return out;
  }

  /** Number of indices allocated so far (the size of typed arrays indexed by item/user idx). */
  async indexSizes(): Promise<{ users: number; items: number }> {
    const get = (k: string) => Number(this.stmt('SELECT value FROM meta WHERE key = ?').pluck().get(k));
    return { users: get('next_user_idx'), items: get('next_item_idx') };
  }

  async timeline(userId: string, options: TimelineOptions = {}): Promise<StoredEvent[]> {
    this.ensureOpen();
    const dv = this.syncIds();
    const uidx = this.lookupUser(userId);
    if (uidx < 0) return [];
    const limit = options.limit ?? 100;
    // Without a join on items (a B-tree search per event, as long as the read itself): events
    // of deleted items are dropped by the deleted mask, and item ids come from idx → id memo.
    const cols = `SELECT e.seq AS seq, e.item_idx AS item_idx, e.type AS type, e.value AS value, e.ts AS ts, e.ext_id, e.request_id, e.scene, e.position, e.device, e.extra, ${ITEMS} AS items FROM events e`;
    const rows = this.liveUserRows<Row>(uidx, options, limit, 'seq', cols, 1, dv, { position: 8, extra: 10 });
    if (!rows) return [];
    let names = this.typeNames();
    // A type another connection created after this one read the types: read them again.
    if (rows.some((r) => !names.has(r[2] as number))) {
      this.reloadTypesIfChanged(dv);
      names = this.typeNames();
    }
    return rows.map((r) => {
      const ev: StoredEvent = {
        seq: r[0] as number,
        userIdx: uidx,
        itemIdx: r[1] as number,
        userId,
        itemId: this.itemIdOf(r[1] as number),
        type: names.get(r[2] as number) ?? String(r[2]),
        timestamp: r[4] as number,
      };
      if (r[3] !== null) ev.value = r[3] as number;
      if (r[5] !== null) ev.id = r[5] as string;
      if (r[6] !== null || r[7] !== null || r[8] !== null || r[9] !== null || r[10] !== null) {
        const ctx: Record<string, unknown> = r[10] !== null ? (JSON.parse(r[10] as string) as Record<string, unknown>) : {};
        if (r[6] !== null) ctx.requestId = r[6];
        if (r[7] !== null) ctx.scene = r[7];
        if (r[8] !== null) ctx.position = r[8];
        if (r[9] !== null) ctx.device = r[9];
        ev.context = ctx;
      }
      return ev;
    });
  }

  /**
   * Item ids by index, remembered as they are read (an index names the same item for the life
   * of the store: deleting an item only marks it). Bounded as the id → index cache.
   */
  private idOfItem: (string | undefined)[] = [];
  private idOfItemHeld = 0;
  private itemIdOf(idx: number): string {
    let id = this.idOfItem[idx];
    if (id === undefined) {
      id = (this.stmt('SELECT id FROM items WHERE idx = ?').pluck().get(idx) as string | undefined) ?? '';
      if (this.idOfItemHeld >= ITEM_CACHE_MAX) {
        this.idOfItem = [];
        this.idOfItemHeld = 0;
      }
      this.idOfItem[idx] = id;
      this.idOfItemHeld++;
    }
    return id;
  }

  async history(userId: string, options: TimelineOptions = {}): Promise<UserHistory> {
    this.ensureOpen();
    const dv = this.syncIds();
    const uidx = this.lookupUser(userId);
    return uidx < 0 ? emptyHistory() : this.historyOf(uidx, options, dv);
  }

  /**
   * Several histories of one user in one read transaction: one data_version check, one id
   * lookup, and one WAL read lock instead of one per statement (each read statement outside a
   * transaction takes and releases it: two fcntl calls and an fstat, ~5 µs here, as much as
   * the rest of a short read).
   */
  async histories(userId: string, list: TimelineOptions[]): Promise<UserHistory[]> {
    this.ensureOpen();
    return this.snapshot(() => {
      const dv = this.syncIds();
      const uidx = this.lookupUser(userId);
      return list.map((o) => (uidx < 0 ? emptyHistory() : this.historyOf(uidx, o, dv)));
    });
  }

  /**
   * `histories(...)`'s item indices only. Reads that never touch the packed impressions select
   * the item column alone (one plucked value per event instead of a row array of five: the
   * history read was ~15% of a served request's CPU); others take the full read.
   */
  async historyItems(userId: string, list: TimelineOptions[]): Promise<Int32Array[]> {
    this.ensureOpen();
    return this.snapshot(() => {
      const dv = this.syncIds();
      const uidx = this.lookupUser(userId);
      return list.map((o) => (uidx < 0 ? new Int32Array(0) : this.historyItemsOf(uidx, o, dv)));
    });
  }

  private historyItemsOf(uidx: number, options: TimelineOptions, dv: number): Int32Array {
    if (!options.types?.length || options.types.includes('impression')) return this.historyOf(uidx, options, dv).itemIdx;
    const limit = options.limit ?? 100;
    // As liveUserRows: the events of deleted items dropped, read again with twice the limit
    // when that left fewer than `limit` of a full read.
    for (let lim = limit; ; lim *= 2) {
      const q = this.userQuery(uidx, options, lim, 'index', 'SELECT e.item_idx AS item_idx FROM events e', dv);
      if (!q) return new Int32Array(0);
      const raw = this.stmt(q.sql).pluck(true).all(...q.params) as number[];
      const del = this.liveDeleted(dv);
      let n = raw.length;
      if (del.count > 0) {
        n = 0;
        for (const i of raw) if (del.mask[i] !== 1) raw[n++] = i;
      }
      if (raw.length < lim || lim === 0 || n >= limit) {
        const m = Math.min(n, limit);
        const out = new Int32Array(m);
        for (let i = 0; i < m; i++) out[i] = raw[i];
        return out;
      }
    }
  }

  /** `fn`'s reads in one read transaction (inside a transaction already under way: in that one). */
  private snapshot<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    this.stmt('BEGIN').run();
    try {
      return fn();
    } finally {
      if (this.db.inTransaction) this.stmt('COMMIT').run();
    }
  }

  private historyOf(uidx: number, options: TimelineOptions, dv: number): UserHistory {
    const limit = options.limit ?? 100;
    // Served from the covering user indexes without table reads; events of deleted items are
    // dropped here (a join on items cost as much as the read).
    const cols = `SELECT e.item_idx AS item_idx, e.type AS type, e.value AS value, e.ts AS ts, ${ITEMS} AS items FROM events e`;
    const rows = this.liveUserRows<number[]>(uidx, options, limit, 'index', cols, 0, dv);
    if (!rows || rows.length === 0) return emptyHistory();
    const n = rows.length;
    // The four columns in one buffer (one backing store for the collector to track, not four).
    const buf = new ArrayBuffer(n * 22);
    const h: UserHistory = { length: n, timestamp: new Float64Array(buf, 0, n), value: new Float64Array(buf, n * 8, n), itemIdx: new Int32Array(buf, n * 16, n), type: new Uint16Array(buf, n * 20, n) };
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      h.itemIdx[i] = r[0];
      h.type[i] = r[1];
      h.value[i] = r[2] === null ? NaN : r[2];
      h.timestamp[i] = r[3];
    }
    return h;
  }

  /**
   * A user's rows (`userQuery`), packed impressions expanded (`unpack`; in `ties: 'index'` order,
   * history's rows (item, type, value, ts, items), sorted again), without the events of deleted
   * items (`item`: the column of the item index), at most `limit`. A full read that left fewer
   * than `limit` (deleted items) or could miss some (index order) is read again with twice the
   * limit. `cols` ends with the items column (ITEMS); `at`: the position and
   * context columns that expanded rows fill. Null: none of the asked types was ever stored.
   * `dv`: data_version just read by the caller.
   */
  private liveUserRows<R extends unknown[]>(uidx: number, options: TimelineOptions, limit: number, ties: 'seq' | 'index', cols: string, item: number, dv: number, at?: { position: number; extra: number }): R[] | null {
    for (let lim = limit; ; lim *= 2) {
      const q = this.userQuery(uidx, options, lim, ties, cols, dv);
      if (!q) return null;
      const raw = this.stmt(q.sql).raw(true).all(...q.params) as Row[];
      let rows = raw;
      const expanded = raw.length ? unpack(raw, raw[0].length - 1, item, true, at) : null;
      if (expanded) {
        rows = expanded;
        // The rows came ordered by their first item: put each position in its place.
        if (ties === 'index') rows.sort(byIndexOrder);
      }
      const del = this.liveDeleted(dv);
      if (del.count > 0) rows = rows.filter((r) => del.mask[r[item] as number] !== 1);
      const done =
        raw.length < lim ||
        lim === 0 ||
        (rows.length >= limit &&
          // In index order a packed row stood at its first item's place: rows of the read's last
          // timestamp may be missing from it, so the limit-th must be newer than that.
          !(expanded && ties === 'index' && (rows[limit - 1][3] as number) <= (raw[raw.length - 1][3] as number)));
      if (done) return (rows.length > limit ? rows.slice(0, limit) : rows) as R[];
    }
  }

  /** Deleted items by index (1: deleted) as of `deletedVersion` / `deletedRevision`; see liveDeleted. */
  private deletedMask = new Uint8Array(0);
  private deletedCount = 0;
  private deletedVersion = -1;
  private deletedRevision = -1;
  /** Set by this connection's item writes (they change the revision, not data_version). */
  private deletedStale = true;

  /**
   * The deleted items, for history reads. Re-read (from a partial index: only the deleted
   * rows) when the items changed: through this object (`deletedStale`), or through another
   * connection (PRAGMA data_version moved and the items revision with it). One pragma when
   * nothing changed.
   */
  private liveDeleted(dv = this.stmt('PRAGMA data_version').pluck().get() as number): { mask: Uint8Array; count: number } {
    if (this.deletedStale || dv !== this.deletedVersion) {
      const rev = this.itemsRevision(); // before the read: a later write makes the next call re-read
      if (this.deletedStale || rev !== this.deletedRevision) {
        const ids = this.stmt('SELECT idx FROM items WHERE deleted = 1').pluck().all() as number[];
        let max = -1;
        for (const i of ids) if (i > max) max = i;
        const mask = new Uint8Array(max + 1);
        for (const i of ids) mask[i] = 1;
        this.deletedMask = mask;
        this.deletedCount = ids.length;
      }
      this.deletedVersion = dv;
      this.deletedRevision = rev;
      this.deletedStale = false;
    }
    return { mask: this.deletedMask, count: this.deletedCount };
  }

  /**
   * A user's events of the asked types (all when none are given), newest first, at most
   * `limit`, over the two partial user indexes (impressions, the rest): one range, or both
   * merged by an outer ORDER BY. Ties (same timestamp) by log order with `ties: 'seq'` (`select`
   * names `seq`), else by type, item and value, descending: the indexes' own order, no sort
   * (`select` names `type`, `item_idx`, `value`). `select` reads from `events e`, names `ts` and
   * has the ITEMS placeholder (the packed items, read from the impressions only). Null: none of
   * the asked types was ever stored.
   */
  private userQuery(uidx: number, options: TimelineOptions, limit: number, ties: 'seq' | 'index', select: string, dv?: number): { sql: string; params: unknown[] } | null {
    // Created with the indexes at open; absent only from a read-only store that never had one.
    const imp = this.typeCodes.get('impression') ?? -1;
    let rest: number[] | undefined;
    let withImp = imp >= 0;
    if (options.types && options.types.length) {
      const codes = this.codesFor(options.types, dv);
      if (codes.length === 0) return null;
      const dis = this.typeCodes.get('dislike') ?? -1;
      if (dis >= 0 && codes.every((c) => c === dis)) {
        // Dislikes alone: their own partial index (the literal condition selects it).
        const r = timeTerms('e.ts', options.after, options.before);
        return { sql: `${select.replace(ITEMS, 'NULL')} WHERE e.user_idx = ? AND e.type = ${dis}${r.sql} ORDER BY ${ties === 'seq' ? 'e.ts DESC, e.seq DESC' : 'e.ts DESC'} LIMIT ${sqlLimit(limit)}`, params: [uidx, ...r.params] };
      }
      rest = codes.filter((c) => c !== imp);
      withImp = rest.length < codes.length;
    }
    const { sql: range, params: rangeParams } = timeTerms('e.ts', options.after, options.before);
    const order = ties === 'seq' ? 'e.ts DESC, e.seq DESC' : 'e.ts DESC';
    const lim = sqlLimit(limit);
    const parts: { sql: string; params: unknown[] }[] = [];
    // The literal conditions select the partial indexes.
    if (!rest || rest.length) {
      const types = rest ? ` AND e.type IN (${rest.map(() => '?').join(', ')})` : '';
      parts.push({ sql: `${select.replace(ITEMS, 'NULL')} WHERE e.user_idx = ? AND e.type != ${imp}${types}${range} ORDER BY ${order} LIMIT ${lim}`, params: [uidx, ...(rest ?? []), ...rangeParams] });
    }
    if (withImp) parts.push({ sql: `${select.replace(ITEMS, this.itemsCol)} WHERE e.user_idx = ? AND e.type = ${imp}${range} ORDER BY ${order} LIMIT ${lim}`, params: [uidx, ...rangeParams] });
    if (parts.length === 1) return parts[0];
    const outer = ties === 'seq' ? 'ts DESC, seq DESC' : 'ts DESC, type DESC, item_idx DESC, value DESC';
    return {
      sql: parts.map((p) => `SELECT * FROM (${p.sql})`).join(' UNION ALL ') + ` ORDER BY ${outer} LIMIT ${lim}`,
      params: [...parts[0].params, ...parts[1].params],
    };
  }

  /** Codes of the stored types among `types`; `dv`: data_version just read by the caller. */
  private codesFor(types: string[], dv?: number): number[] {
    let codes = types.map((t) => this.typeCodes.get(t));
    if (codes.some((c) => c === undefined)) {
      this.reloadTypesIfChanged(dv);
      codes = types.map((t) => this.typeCodes.get(t));
    }
    return codes.filter((c): c is number => c !== undefined);
  }

  private typeNameCache: Map<number, string> | undefined;
  private typeNames(): Map<number, string> {
    if (!this.typeNameCache || this.typeNameCache.size !== this.typeCodes.size) {
      this.typeNameCache = new Map([...this.typeCodes].map(([n, c]) => [c, n]));
    }
    return this.typeNameCache;
  }

  private deletedItems(): Uint8Array {
    const items = Number(this.stmt("SELECT value FROM meta WHERE key = 'next_item_idx'").pluck().get());
    const mask = new Uint8Array(items);
    for (const idx of this.stmt('SELECT idx FROM items WHERE deleted = 1').pluck().iterate() as Iterable<number>) mask[idx] = 1;
    return mask;
  }

  async *scanEvents(options: ScanEventsOptions = {}): AsyncIterable<EventBatch> {
    this.ensureOpen();
    const batchSize = options.batchSize ?? 65536;
    const deleted = this.deletedItems();
    let where = 'seq > ?';
    const fixed: unknown[] = [];
    if (options.types && options.types.length) {
      this.loadTypes();
      const codes = options.types.map((t) => this.typeCodes.get(t)).filter((c): c is number => c !== undefined);
      if (codes.length === 0) return;
      where += ` AND type IN (${codes.join(', ')})`;
    }
    const t = timeTerms('ts', options.since, options.until);
    where += t.sql;
    fixed.push(...t.params);
    const s = this.db.prepare(`SELECT seq, user_idx, item_idx, type, value, ts, ${this.itemsCol} FROM events WHERE ${where} ORDER BY seq LIMIT ?`).raw(true);
    let after = options.afterSeq ?? 0;
    for (;;) {
      const raw = s.all(after, ...fixed, batchSize) as Row[];
      if (raw.length === 0) return;
      after = raw[raw.length - 1][0] as number;
      // Packed impressions: one event per position, in position order, all at the row's seq.
      const rows = (unpack(raw, 6, 2, false) ?? raw) as number[][];
      const b: EventBatch = {
        length: 0,
        seq: new Float64Array(rows.length),
        userIdx: new Int32Array(rows.length),
        itemIdx: new Int32Array(rows.length),
        type: new Uint16Array(rows.length),
        value: new Float64Array(rows.length),
        timestamp: new Float64Array(rows.length),
      };
      let n = 0;
      for (const r of rows) {
        if (deleted[r[2]] === 1) continue;
        b.seq[n] = r[0];
        b.userIdx[n] = r[1];
        b.itemIdx[n] = r[2];
        b.type[n] = r[3];
        b.value[n] = r[4] === null ? NaN : r[4];
        b.timestamp[n] = r[5];
        n++;
      }
      b.length = n;
      if (n < rows.length) {
        b.seq = b.seq.subarray(0, n);
        b.userIdx = b.userIdx.subarray(0, n);
        b.itemIdx = b.itemIdx.subarray(0, n);
        b.type = b.type.subarray(0, n);
        b.value = b.value.subarray(0, n);
        b.timestamp = b.timestamp.subarray(0, n);
      }
      if (n > 0) yield b;
      if (raw.length < batchSize) return;
    }
  }

  async *scanUsers(batchSize = 10000): AsyncIterable<StoredUser[]> {
    this.ensureOpen();
    const s = this.db.prepare('SELECT * FROM users WHERE idx > ? ORDER BY idx LIMIT ?');
    let after = -1;
    for (;;) {
      const rows = s.all(after, batchSize) as Record<string, unknown>[];
      if (rows.length === 0) return;
      after = rows[rows.length - 1].idx as number;
      yield rows.map((r) => this.rowToUser(r));
      if (rows.length < batchSize) return;
    }
  }

  async *scanItems(batchSize = 10000): AsyncIterable<StoredItem[]> {
    this.ensureOpen();
    const s = this.db.prepare('SELECT * FROM items WHERE idx > ? AND deleted = 0 ORDER BY idx LIMIT ?');
    let after = -1;
    for (;;) {
      const rows = s.all(after, batchSize) as Record<string, unknown>[];
      if (rows.length === 0) return;
      after = rows[rows.length - 1].idx as number;
      yield rows.map((r) => this.rowToItem(r));
      if (rows.length < batchSize) return;
    }
  }

  async eventTypes(): Promise<Map<number, string>> {
    this.loadTypes();
    return new Map(this.typeNames());
  }

  async eventTypeCode(name: string): Promise<number> {
    if (!this.typeCodes.has(name)) this.reloadTypesIfChanged();
    return this.typeCodes.get(name) ?? -1;
  }

  async counts(): Promise<StoreCounts> {
    this.ensureOpen();
    const one = (sql: string) => this.db.prepare(sql).pluck().get() as number;
    const eventsByType: Record<string, number> = {};
    const names = await this.eventTypes();
    let events = 0;
    // A packed impression row counts its items (4 bytes each).
    const n = this.itemsCol === 'NULL' ? 'COUNT(*)' : 'SUM(CASE WHEN items IS NULL THEN 1 ELSE length(items) / 4 END)';
    for (const r of this.db.prepare(`SELECT type, ${n} AS n FROM events GROUP BY type`).all() as { type: number; n: number }[]) {
      eventsByType[names.get(r.type) ?? String(r.type)] = r.n;
      events += r.n;
    }
    return {
      users: one('SELECT COUNT(*) FROM users'),
      items: one('SELECT COUNT(*) FROM items WHERE deleted = 0'),
      deletedItems: one('SELECT COUNT(*) FROM items WHERE deleted = 1'),
      events,
      eventsByType,
      undeclaredUsers: one('SELECT COUNT(*) FROM users WHERE declared = 0'),
      undeclaredItems: one('SELECT COUNT(*) FROM items WHERE declared = 0 AND deleted = 0'),
    };
  }

  /**
   * Bulk-load mode for large imports into a store: the secondary event indexes are dropped
   * (inserts become ~5× faster) and rebuilt by `endBulkLoad`, which also removes events whose
   * client id repeats. Reads stay correct meanwhile, only slower. A bulk load interrupted by a
   * crash is finished by the next `open`.
   */
  async beginBulkLoad(): Promise<void> {
    this.ensureOpen();
    this.db.transaction(() => {
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('bulk_load', '1') ON CONFLICT(key) DO UPDATE SET value = '1'").run();
      this.db.exec(
        'DROP INDEX IF EXISTS events_user_ts; DROP INDEX IF EXISTS events_user_ts_rest; DROP INDEX IF EXISTS events_user_ts_imp; ' +
          'DROP INDEX IF EXISTS events_user_dislike; DROP INDEX IF EXISTS events_ext_id; DROP INDEX IF EXISTS events_request;',
      );
    }).immediate();
    this.stmts.clear();
  }

  /** Ends a bulk load; returns how many duplicate events (by client id) were removed. */
  async endBulkLoad(): Promise<{ duplicatesRemoved: number }> {
    this.ensureOpen();
    const duplicatesRemoved = finishBulk(this.db);
    this.stmts.clear();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return { duplicatesRemoved };
  }

  private checkpointer: BackgroundCheckpointer | undefined;

  async close(): Promise<void> {
    if (this.closed) return;
    this.stopFollowing();
    this.closed = true;
    await this.checkpointer?.close();
    this.stmts.clear();
    this.db.close();
  }
}
