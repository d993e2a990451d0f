/**
 * Real-time profiles behind serving: one in-memory ProfileStore per data store, rebuilt from
 * the store's events at start (the longest window), then fed by every event the store commits
 * in this process (`Store.onEvents`: ingestion routes, server-side impressions, imports run
 * in the server), so the ranker's profile features are seconds fresh. Events committed while
 * the rebuild runs are queued and applied after it, so none is missed.
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
  for (const b of queue) apply(b);
  queue = undefined;
  return {
    profiles, rebuild, applied: () => applied,
    close: () => {
      off?.();
      offItems?.();
    },
  };
}
