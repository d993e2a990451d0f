/**
 * Real-time profiles behind serving: one in-memory ProfileStore per data store, rebuilt from
 * the store's events at start (the longest window), then fed by every event committed to the
 * store (`Store.onEvents`: ingestion routes, server-side impressions, imports, in this process
 * or, for SQLite, in others sharing the file), so the ranker's profile features are seconds
 * fresh. Events committed while the rebuild runs are queued and applied after it, but those the
 * rebuild's scan read already (by seq), so each counts once.
 *
 * Items upserted later get their profile keys (categories) through `Store.onItems`.
 *
 * Memory is bounded by the ProfileStore's own limits (time-bucketed counters, at most
 * `maxUsers` users, least recently updated evicted).
 */
import { MemoryProfileStore, type MemoryProfileOptions } from '../profiles/memory.js';
import { itemKeys, rebuildProfiles } from '../profiles/rebuild.js';
import type { ProfileStore, RebuildReport } from '../profiles/types.js';
import type { AppendedEvents, Store, StoredItem } from '../store/types.js';

export interface LiveProfiles {
  readonly profiles: ProfileStore;
  readonly rebuild: RebuildReport;
  /** Events applied since the rebuild. */
  readonly applied: () => number;
  close(): void;
}

/** Opens the live profiles of a store (the same options as the ranker's training, by default). */
export async function openLiveProfiles(store: Store, opts: MemoryProfileOptions = { recentSize: 200 }): Promise<LiveProfiles> {
  const profiles = new MemoryProfileStore(opts);
  let queue: AppendedEvents[] | undefined = [];
  let applied = 0;
  const apply = (b: AppendedEvents) => {
    profiles.recordBatch(b);
    applied += b.length;
  };
  // Items written later get their profile keys (categories) at once, so their events count in
  // the users' category affinities without a restart.
  let itemQueue: StoredItem[][] | undefined = [];
  const setKeys = (items: StoredItem[]) => {
    const idx: number[] = [];
    const keys: string[][] = [];
    for (const it of items) {
      const k = itemKeys(it);
      if (k.length) {
        idx.push(it.idx);
        keys.push(k);
      }
    }
    if (idx.length) void profiles.setItemKeys(idx, keys);
  };
  const offItems = store.onItems?.((items) => {
    if (itemQueue) itemQueue.push(items);
    else setKeys(items);
  });
  const off = store.onEvents?.((b) => {
    if (queue) queue.push(b);
    else apply(b);
  });
  const rebuild = await rebuildProfiles(profiles, store);
  for (const items of itemQueue) setKeys(items);
  itemQueue = undefined;
  // Events heard while the rebuild scanned the log: those it read already (seq up to its
  // last) are not applied again.
  for (const b of queue) apply(b.seq ? after(b, rebuild.lastSeq) : b);
  queue = undefined;
  return {
    profiles, rebuild, applied: () => applied,
    close: () => {
      off?.();
      offItems?.();
    },
  };
}

/** The events of `b` with seq > `last` (or unknown). */
function after(b: AppendedEvents, last: number): AppendedEvents {
  const seq = b.seq!;
  const keep: number[] = [];
  for (let i = 0; i < b.length; i++) if (!(seq[i] <= last)) keep.push(i);
  if (keep.length === b.length) return b;
  const pick = <T extends Int32Array | Uint16Array | Float64Array>(a: T): T => {
    const out = new (a.constructor as new (n: number) => T)(keep.length);
    keep.forEach((i, k) => (out[k] = a[i]));
    return out;
  };
  return { length: keep.length, userIdx: pick(b.userIdx), itemIdx: pick(b.itemIdx), type: pick(b.type), timestamp: pick(b.timestamp), typeNames: b.typeNames, seq: pick(seq) };
}
