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
  private freshCache: { at: number; maxAge: number; list: { items: Int32Array; scores: Float32Array } } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private dirty = false;

  private constructor(private readonly store: Store, snap: ColumnarCatalog) {
    this.snap = snap;
  }

  static async open(store: Store, refreshMs = 30_000): Promise<StoreCatalog> {
    const version = store.itemsVersion?.();
    const c = new StoreCatalog(store, await ColumnarCatalog.fromStore(store));
    c.seenVersion = version;
    if (refreshMs > 0) {
      c.timer = setInterval(() => void c.refresh(), refreshMs);
      c.timer.unref();
    }
    return c;
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
          this.snap = await ColumnarCatalog.fromStore(this.store);
          this.freshCache = undefined;
        } while (this.dirty);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private seenVersion: number | undefined;
  private lastRefresh = 0;
  private pending: NodeJS.Timeout | undefined;

  /**
   * Refreshes soon when items were written through the store since the last look (cheap; called
   * per request). Rebuilds are at most one per `minIntervalMs`, so a stream of item updates
   * cannot keep the server busy rebuilding.
   */
  refreshIfChanged(minIntervalMs = 1000): void {
    const v = this.store.itemsVersion?.();
    if (v === undefined || v === this.seenVersion || this.pending) return;
    const wait = Math.max(0, this.lastRefresh + minIntervalMs - Date.now());
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
    const c = this.freshCache;
    if (c && c.maxAge === maxAgeMs && now - c.at < 5000) return c.list;
    const s = this.snap;
    const found: number[] = [];
    for (let i = 0; i < s.size; i++) {
      const t = s.createdAt[i];
      if (s.available[i] === 1 && t <= now && now - t <= maxAgeMs) found.push(i);
    }
    found.sort((a, b) => s.createdAt[b] - s.createdAt[a] || a - b);
    const items = Int32Array.from(found);
    // Score: 1 for brand new, decaying linearly to 0 at maxAge.
    const scores = Float32Array.from(found, (i) => 1 - (now - s.createdAt[i]) / maxAgeMs);
    const list = { items, scores };
    this.freshCache = { at: now, maxAge: maxAgeMs, list };
    return list;
  }
}
