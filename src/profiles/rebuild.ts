/**
 * Rebuilding profiles from the store at start: item keys from `scanItems` (categories, tags,
 * configured attributes), then a replay of the events of the longest window (`scanEvents`,
 * columnar). Works for any ProfileStore through its public methods.
 */
import type { Item } from '../data/model.js';
import type { Store } from '../store/types.js';
import type { ItemKeySpec, ProfileStore, RebuildOptions, RebuildReport } from './types.js';

const PREFIX: Record<string, string> = { categories: 'cat', tags: 'tag' };

function scalarKey(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  return undefined;
}

/**
 * The profile keys of an item: `cat:{c}` per category, `tag:{t}` per tag, `{a}:{v}` per value of
 * attribute `a` (scalars; arrays give one key each; objects and empty values are skipped).
 */
export function itemKeys(item: Item, spec: ItemKeySpec = {}): string[] {
  const fields = spec.fields ?? ['categories'];
  const out: string[] = [];
  for (const f of fields) {
    let v: unknown;
    if (f === 'categories') v = item.categories;
    else if (f === 'tags') v = item.tags;
    else v = item.attributes?.[f];
    if (v === undefined || v === null) continue;
    const prefix = PREFIX[f] ?? f;
    for (const x of Array.isArray(v) ? v : [v]) {
      const s = scalarKey(x);
      if (s !== undefined) out.push(`${prefix}:${s}`);
    }
  }
  return [...new Set(out)];
}

export async function rebuildProfiles(profiles: ProfileStore, store: Store, opts: RebuildOptions = {}): Promise<RebuildReport> {
  const t0 = performance.now();
  const now = opts.now ?? Date.now();
  if (!Number.isFinite(now)) throw new RangeError(`profiles: rebuild now must be finite, got ${now}`);
  await profiles.clear();
  // The clock starts at `now`, so that what a level keeps does not depend on the log's order.
  await profiles.expire(now);
  let items = 0;
  for await (const batch of store.scanItems(opts.batchSize ?? 10_000)) {
    const idx: number[] = [];
    const keys: string[][] = [];
    for (const it of batch) {
      const k = itemKeys(it, opts);
      if (k.length === 0) continue;
      idx.push(it.idx);
      keys.push(k);
    }
    if (idx.length) await profiles.setItemKeys(idx, keys);
    items += batch.length;
  }
  const typeNames = await store.eventTypes();
  // From the start of the oldest bucket the coarsest level can still answer about.
  const coarse = profiles.levels[profiles.levels.length - 1];
  const since = (Math.floor(now / coarse.granularityMs) - coarse.buckets + 1) * coarse.granularityMs;
  let events = 0;
  let lastSeq = 0;
  for await (const b of store.scanEvents({ since, types: opts.types, batchSize: opts.batchSize ?? 65_536 })) {
    await profiles.recordBatch({ length: b.length, userIdx: b.userIdx, itemIdx: b.itemIdx, type: b.type, timestamp: b.timestamp, typeNames });
    events += b.length;
    if (b.length > 0 && b.seq[b.length - 1] > lastSeq) lastSeq = b.seq[b.length - 1];
  }
  return { events, items, since, lastSeq, ms: performance.now() - t0 };
}
