/**
 * `npm run bench -- profiles [--events N] [--users N] [--items N] [--days N | --hours N]
 *                            [--sessions N] [--queries N]`
 *
 * Real-time profile updates and window queries (MemoryProfileStore, default levels).
 * Synthetic stream: 10M events over 100K users × 1M items by default, each item with 3 keys
 * (category of 1,000 — users favour a few —, brand of 20,000, price band of 10), types
 * view 85% / click 10% / add_to_cart 3% / purchase 2%, timestamps spread over 7 days (or
 * `--days` / `--hours`) in order with up to 5 minutes of out-of-order jitter. Users are
 * uniformly random per event (the worst case for memory locality), or with `--sessions N`
 * drawn from N concurrent sessions of 5–30 events. Generation time is not counted: the
 * `recordBatch` calls and the final `flush()` (the counter updates still pending) are.
 * Then window-query latencies on random users (already folded, and after 49 new events that
 * the read must fold first), and memory.
 */
import { parseArgs } from 'node:util';
import { intOption } from '../src/cli/args.js';
import { MemoryProfileStore } from '../src/profiles/memory.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../src/profiles/window.js';
import { seededUniform } from '../src/math/rng.js';

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const rng = seededUniform;

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args,
    options: { events: { type: 'string' }, users: { type: 'string' }, items: { type: 'string' }, days: { type: 'string' }, hours: { type: 'string' }, sessions: { type: 'string' }, queries: { type: 'string' } },
  });
  const nEvents = intOption(values.events, 'events', 10_000_000);
  const nUsers = intOption(values.users, 'users', 100_000);
  const nItems = intOption(values.items, 'items', 1_000_000);
  const spanHours = values.hours !== undefined ? intOption(values.hours, 'hours', 24) : 24 * intOption(values.days, 'days', 7);
  const days = spanHours / 24;
  const nQueries = intOption(values.queries, 'queries', 20_000);
  // 0: every event from a uniformly random user (worst case for locality); N: events come from
  // N concurrent sessions of 5–30 events each, each session's user uniformly random.
  const nSessions = values.sessions !== undefined ? intOption(values.sessions, 'sessions', 0) : 0;
  const sessUser = new Int32Array(nSessions);
  const sessLeft = new Int32Array(nSessions);
  const rss0 = process.memoryUsage().rss;
  const p = new MemoryProfileStore({ maxUsers: Math.max(nUsers, 1) });
  const rnd = rng(42);

  // item keys: category = item % 1000, brand pseudo-random, price band
  let t = performance.now();
  const KB = 100_000;
  for (let b = 0; b < nItems; b += KB) {
    const idx: number[] = [];
    const keys: string[][] = [];
    for (let i = b; i < Math.min(nItems, b + KB); i++) {
      idx.push(i);
      keys.push([`cat:${i % 1000}`, `brand:${(Math.imul(i, 2654435761) >>> 0) % 20000}`, `price:${(i >>> 3) % 10}`]);
    }
    p.setItemKeys(idx, keys);
  }
  const itemKeysMs = performance.now() - t;

  const typeNames = new Map([[0, 'view'], [1, 'click'], [2, 'add_to_cart'], [3, 'purchase']]);
  const B = 65_536;
  const cols = {
    length: 0,
    userIdx: new Int32Array(B),
    itemIdx: new Int32Array(B),
    type: new Uint16Array(B),
    timestamp: new Float64Array(B),
    typeNames,
  };
  const t0 = Date.UTC(2026, 0, 1);
  const span = spanHours * HOUR_MS;
  const perItemsInCat = Math.max(1, Math.floor(nItems / 1000));
  let recordMs = 0;
  let recorded = 0;
  for (let b = 0; b < nEvents; b += B) {
    const n = Math.min(B, nEvents - b);
    for (let j = 0; j < n; j++) {
      const k = b + j;
      let u: number;
      if (nSessions > 0) {
        const si = Math.floor(rnd() * nSessions);
        if (sessLeft[si] === 0) {
          sessUser[si] = Math.floor(rnd() * nUsers);
          sessLeft[si] = 5 + Math.floor(rnd() * 26);
        }
        sessLeft[si]--;
        u = sessUser[si];
      } else u = Math.floor(rnd() * nUsers);
      // a user favours 5 categories; within a category, popular items are more likely
      const cat = (Math.imul(u, 37) + Math.floor(rnd() * rnd() * 8)) % 1000;
      const r = rnd();
      const item = Math.min(nItems - 1, cat + 1000 * Math.floor(perItemsInCat * r * r * r));
      const x = rnd();
      cols.userIdx[j] = u;
      cols.itemIdx[j] = item;
      cols.type[j] = x < 0.85 ? 0 : x < 0.95 ? 1 : x < 0.98 ? 2 : 3;
      cols.timestamp[j] = t0 + Math.floor((k / nEvents) * span) - Math.floor(rnd() * rnd() * 5 * MINUTE_MS);
    }
    cols.length = n;
    t = performance.now();
    recorded += p.recordBatch(cols);
    recordMs += performance.now() - t;
    if (process.stderr.isTTY) process.stderr.write(`\r  recording ${((100 * (b + n)) / nEvents).toFixed(0)}%`);
  }
  if (process.stderr.isTTY) process.stderr.write('\r');
  // Counters are updated in per-user batches: the events still pending are part of the cost.
  t = performance.now();
  p.flush();
  recordMs += performance.now() - t;
  const eventsPerS = recorded / (recordMs / 1000);
  const levels = p.levels.length;
  const cellUpdatesPerS = (eventsPerS * (levels * 4 + 4 + levels));
  const rss = process.memoryUsage().rss;
  const stats = p.memoryStats();

  // queries
  const now = p.clock();
  const qr = rng(7);
  type Q = { name: string; reps: number; fn: (u: number) => unknown };
  const queries: Q[] = [
    { name: 'userCounts view 1h', reps: nQueries, fn: (u) => p.userCounts(u, { type: 'view', windowMs: HOUR_MS, now }) },
    { name: 'userCounts view 1d', reps: nQueries, fn: (u) => p.userCounts(u, { type: 'view', windowMs: DAY_MS, now }) },
    { name: 'userCounts view 7d', reps: nQueries, fn: (u) => p.userCounts(u, { type: 'view', windowMs: 7 * DAY_MS, now }) },
    { name: 'userCounts view 30d', reps: nQueries, fn: (u) => p.userCounts(u, { type: 'view', windowMs: 30 * DAY_MS, now }) },
    { name: 'userCounts all types, cat key 7d', reps: nQueries, fn: (u) => p.userCounts(u, { key: `cat:${(u * 37) % 1000}`, windowMs: 7 * DAY_MS, now }) },
    { name: 'userAffinities cat 7d', reps: nQueries, fn: (u) => p.userAffinities(u, { prefix: 'cat:', weights: { view: 1, click: 2, add_to_cart: 4, purchase: 8 }, windowMs: 7 * DAY_MS, now }) },
    { name: 'recentItems 20', reps: nQueries, fn: (u) => p.recentItems(u, 20) },
    { name: 'lastTouched key', reps: nQueries, fn: (u) => p.lastTouched(u, { key: `cat:${(u * 37) % 1000}` }) },
    { name: 'itemPopularity 1d', reps: nQueries, fn: (u) => p.itemPopularity(u % nItems, { windowMs: DAY_MS, now }) },
    { name: 'topItems k=100 1h', reps: 50, fn: () => p.topItems({ k: 100, windowMs: HOUR_MS, now }) },
    { name: 'topItems k=100 1d', reps: 10, fn: () => p.topItems({ k: 100, windowMs: DAY_MS, now }) },
  ];
  const rows: { query: string; p50_us: number; p99_us: number }[] = [];
  for (const q of queries) {
    for (let i = 0; i < Math.min(200, q.reps); i++) q.fn(Math.floor(qr() * nUsers));
    const times = new Float64Array(q.reps);
    for (let i = 0; i < q.reps; i++) {
      const u = Math.floor(qr() * nUsers);
      const s = process.hrtime.bigint();
      q.fn(u);
      times[i] = Number(process.hrtime.bigint() - s) / 1e3;
    }
    times.sort();
    rows.push({ query: q.name, p50_us: +quantile(times, 0.5).toFixed(2), p99_us: +quantile(times, 0.99).toFixed(2) });
  }

  const stream = nSessions > 0 ? `${nSessions.toLocaleString()} concurrent sessions` : 'uniformly random users';
  // A read folds the user's pending events first: worst case, 49 of them (the batch is 50).
  {
    const reps = Math.min(nQueries, 2000);
    const times = new Float64Array(reps);
    const one = { length: 1, userIdx: new Int32Array(1), itemIdx: new Int32Array(1), type: new Uint16Array(1), timestamp: new Float64Array(1), typeNames };
    for (let i = 0; i < reps; i++) {
      const u = Math.floor(qr() * nUsers);
      for (let j = 0; j < 49; j++) {
        one.userIdx[0] = u;
        one.itemIdx[0] = Math.floor(qr() * nItems);
        one.timestamp[0] = now - Math.floor(qr() * DAY_MS);
        p.recordBatch(one);
      }
      const s = process.hrtime.bigint();
      p.userCounts(u, { type: 'view', windowMs: 7 * DAY_MS, now });
      times[i] = Number(process.hrtime.bigint() - s) / 1e3;
    }
    times.sort();
    rows.push({ query: 'userCounts 7d after 49 new events', p50_us: +quantile(times, 0.5).toFixed(2), p99_us: +quantile(times, 0.99).toFixed(2) });
  }

  console.log(`profiles: ${recorded.toLocaleString()} events, ${nUsers.toLocaleString()} users × ${nItems.toLocaleString()} items, 3 keys/item, ${days} days, ${levels} levels, ${stream}`);
  console.log(`  item keys          ${itemKeysMs.toFixed(0)} ms`);
  console.log(`  record             ${recordMs.toFixed(0)} ms → ${(eventsPerS / 1e6).toFixed(2)} M events/s (${(cellUpdatesPerS / 1e6).toFixed(1)} M cell updates/s)`);
  console.log(`  memory             rss ${((rss - rss0) / 2 ** 20).toFixed(0)} MB added (${(rss / 2 ** 20).toFixed(0)} MB total), structures ~${(stats.bytes / 2 ** 20).toFixed(0)} MB`);
  console.log(`  cells              ${stats.userCells.toLocaleString()} user cells, ${stats.itemCells.toLocaleString()} item cells, ${stats.keys.toLocaleString()} keys, ${stats.users.toLocaleString()} users`);
  console.log('query (random users)                   p50 µs     p99 µs');
  for (const r of rows) console.log(`${r.query.padEnd(36)} ${r.p50_us.toFixed(2).padStart(9)} ${r.p99_us.toFixed(2).padStart(10)}`);
  const by = (name: string) => rows.find((r) => r.query === name)!;
  return {
    events: recorded,
    users: nUsers,
    items: nItems,
    days,
    sessions: nSessions,
    events_per_s: Math.round(eventsPerS),
    cell_updates_per_s: Math.round(cellUpdatesPerS),
    record_ms: Math.round(recordMs),
    item_keys_ms: Math.round(itemKeysMs),
    query_1h_p50_us: by('userCounts view 1h').p50_us,
    query_1h_p99_us: by('userCounts view 1h').p99_us,
    query_7d_p50_us: by('userCounts view 7d').p50_us,
    query_7d_p99_us: by('userCounts view 7d').p99_us,
    query_30d_p50_us: by('userCounts view 30d').p50_us,
    query_30d_p99_us: by('userCounts view 30d').p99_us,
    affinity_7d_p99_us: by('userAffinities cat 7d').p99_us,
    query_7d_after_49_pending_p99_us: by('userCounts 7d after 49 new events').p99_us,
    top_items_1d_p50_us: by('topItems k=100 1d').p50_us,
    rss_mb: Math.round(rss / 2 ** 20),
    rss_added_mb: Math.round((rss - rss0) / 2 ** 20),
    structures_mb: Math.round(stats.bytes / 2 ** 20),
    user_cells: stats.userCells,
    item_cells: stats.itemCells,
    queries: rows,
  };
}
