/**
 * The serving view of the item catalog: a ColumnarCatalog snapshot of the store, rebuilt in the
 * background (every `refreshMs`, and on demand after item writes) and swapped atomically, so
 * new items, price changes and deletions reach recommendations without a retrain.
 */
import { ColumnarCatalog, valuesOf } from '../funnel/catalog.js';
import type { Store } from '../store/types.js';
import type { ServingCatalog } from './service.js';

export class StoreCatalog implements ServingCatalog {
  private snap: ColumnarCatalog;
  /**
   * Per window (maxAge): the snapshot's items that are or will be fresh (one scan of the
   * catalogue per snapshot, not every few seconds: 3.5 ms for 1M items), and the last list.
   */
  private readonly freshCache = new Map<number, { snap: ColumnarCatalog; candidates: Int32Array; scannedAt: number; at: number; list: { items: Int32Array; scores: Float32Array } }>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private dirty = false;

  private constructor(private readonly store: Store, snap: ColumnarCatalog) {
    this.snap = snap;
  }

  static async open(store: Store, refreshMs = 30_000): Promise<StoreCatalog> {
    const version = store.itemsVersion?.();
    const revision = store.itemsRevision?.();
    const t0 = performance.now();
    const c = new StoreCatalog(store, await ColumnarCatalog.fromStore(store));
    c.lastBuildMs = performance.now() - t0;
    c.seenVersion = version;
    c.builtRevision = revision;
    if (refreshMs > 0) {
      c.timer = setInterval(() => void c.refreshIfStale(), refreshMs);
      c.timer.unref();
    }
    return c;
  }

  /** The store's items revision the current snapshot was read at (undefined: not tracked). */
  private builtRevision: number | undefined;

  /**
   * The periodic check: rebuilds only when the items changed since the snapshot was read (a
   * rebuild reads every item, seconds of CPU for a million). Writes by other processes sharing
   * the store count too (the revision lives in the store). Stores without revisions rebuild.
   */
  refreshIfStale(): Promise<void> {
    if (this.refreshing) return this.refreshing; // the next tick sees writes made meanwhile
    const r = this.store.itemsRevision?.();
    if (r !== undefined && r === this.builtRevision) return Promise.resolve();
    return this.refresh();
  }

  /** The current snapshot (for re-ranking rules). */
  get snapshot(): ColumnarCatalog {
    return this.snap;
  }

  /** Rebuilds the snapshot; concurrent calls share one rebuild (and one more if asked meanwhile). */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.dirty = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.dirty = false;
          // Read before the items: a write during the rebuild leaves the snapshot stale.
          const revision = this.store.itemsRevision?.();
          const t0 = performance.now();
          this.snap = await ColumnarCatalog.fromStore(this.store);
          this.lastBuildMs = performance.now() - t0;
          this.builtRevision = revision;
        } while (this.dirty);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private seenVersion: number | undefined;
  private lastRefresh = 0;
  /** Duration of the last rebuild (ms). */
  private lastBuildMs = 0;
  private pending: NodeJS.Timeout | undefined;

  /**
   * Refreshes soon when items were written through the store since the last look (cheap; called
   * per request). Rebuilds are at most one per `minIntervalMs`, so a stream of item updates
   * cannot keep the server busy rebuilding.
   */
  refreshIfChanged(minIntervalMs = 1000): void {
    const v = this.store.itemsVersion?.();
    if (v === undefined || v === this.seenVersion || this.pending) return;
    // A rebuild reads every item (seconds for a million): at most a fifth of the time rebuilding.
    const interval = Math.max(minIntervalMs, 4 * this.lastBuildMs);
    const wait = Math.max(0, this.lastRefresh + interval - Date.now());
    const go = () => {
      this.pending = undefined;
      this.seenVersion = this.store.itemsVersion?.();
      this.lastRefresh = Date.now();
      void this.refresh();
    };
    this.pending = setTimeout(go, wait);
    this.pending.unref();
  }

  close(): void {
    if (this.pending) clearTimeout(this.pending);
    if (this.timer) clearInterval(this.timer);
  }

  get size(): number {
    return this.snap.size;
  }

  id(item: number): string | undefined {
    const s = item >= 0 && item < this.snap.size ? this.snap.itemId(item) : '';
    return s === '' ? undefined : s;
  }

  index(id: string): number {
    return this.snap.itemIndex(id);
  }

  /** 1 per servable item (length `size`), 0 otherwise: the current snapshot's; do not modify. */
  servableMask(): Uint8Array {
    return this.snap.available;
  }

  servable(item: number): boolean {
    return item >= 0 && item < this.snap.size && this.snap.available[item] === 1;
  }

  price(item: number): number {
    return item >= 0 && item < this.snap.size ? this.snap.price[item] : NaN;
  }

  hasCategory(item: number, category: string): boolean {
    const code = this.snap.categories.code(category);
    if (code < 0) return false;
    const v = valuesOf(this.snap.categories, item);
    for (let p = 0; p < v.length; p++) if (v[p] === code) return true;
    return false;
  }

  fresh(maxAgeMs: number, now: number): { items: Int32Array; scores: Float32Array } {
    let c = this.freshCache.get(maxAgeMs);
    if (c && c.snap === this.snap && now >= c.at && now - c.at < 1000) return c.list;
    const s = this.snap;
    if (!c || c.snap !== s || now < c.scannedAt) {
      // One scan of the catalogue per snapshot (and window): the items fresh now or later
      // (created in the future), newest first. Later lists filter these few.
      const found: number[] = [];
      for (let i = 0; i < s.size; i++) if (s.available[i] === 1 && now - s.createdAt[i] <= maxAgeMs) found.push(i);
      found.sort((a, b) => s.createdAt[b] - s.createdAt[a] || a - b);
      c = { snap: s, candidates: Int32Array.from(found), scannedAt: now, at: now, list: { items: new Int32Array(0), scores: new Float32Array(0) } };
      this.freshCache.set(maxAgeMs, c);
    }
    const found: number[] = [];
    for (const i of c.candidates) {
      const t = s.createdAt[i];
      if (t <= now && now - t <= maxAgeMs) found.push(i);
    }
    const items = Int32Array.from(found);
    // Score: 1 for brand new, decaying linearly to 0 at maxAge.
    const scores = Float32Array.from(found, (i) => 1 - (now - s.createdAt[i]) / maxAgeMs);
    c.at = now;
    c.list = { items, scores };
    return c.list;
  }
}
