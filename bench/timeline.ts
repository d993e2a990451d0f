/**
 * `npm run bench -- timeline [--db PATH] [--users N] [--reads N]`
 *
 * p50/p99 of timeline reads for users with ~1,000 events. With --db (e.g. the store left by
 * `npm run bench -- import --keep`), the users with the most events are read; without it a
 * store of N users × 1,000 events (types view/click/add_to_cart/purchase) is built first.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite.js';
import type { Event } from '../src/data/model.js';
import { createProgress } from '../src/util/progress.js';
import { intOption } from '../src/cli/args.js';

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args, options: { db: { type: 'string' }, users: { type: 'string' }, reads: { type: 'string' } } });
  const reads = intOption(values.reads, 'reads', 20000);
  let path = values.db;
  let built = false;
  const nUsers = intOption(values.users, 'users', 2000);
  if (!path) {
    const dir = join(process.cwd(), 'bench', '.data');
    mkdirSync(dir, { recursive: true });
    path = join(dir, 'timeline.db');
    for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
    const store = await SqliteStore.open(path);
    await store.beginBulkLoad();
    const types = ['view', 'view', 'view', 'view', 'click', 'click', 'add_to_cart', 'purchase'];
    const bar = createProgress({ label: 'building store', total: nUsers * 1000, unit: ' ev' });
    const t0 = Date.UTC(2026, 0, 1);
    for (let b = 0; b < nUsers * 1000; b += 20000) {
      const evs: Event[] = [];
      for (let k = b; k < b + 20000 && k < nUsers * 1000; k++) {
        // Interleave users so each user's events are spread over the file, as in real logs.
        evs.push({ userId: `u${k % nUsers}`, itemId: `i${(k * 2654435761) % 50000}`, type: types[Math.floor(k / nUsers) % 8], timestamp: t0 + k * 1000, value: 1 });
      }
      await store.appendEvents(evs);
      bar.update(b + evs.length);
    }
    await store.endBulkLoad();
    bar.done();
    await store.close();
    built = true;
  } else if (!existsSync(path)) throw new Error(`--db ${path}: no such file`);

  const db = new Database(path, { readonly: true });
  const top = db.prepare('SELECT u.id AS id, COUNT(*) AS n FROM events e JOIN users u ON u.idx = e.user_idx GROUP BY e.user_idx ORDER BY n DESC LIMIT 200').all() as { id: string; n: number }[];
  db.close();
  const store = await SqliteStore.open(path, { readonly: true });
  const meanEvents = top.reduce((s, r) => s + r.n, 0) / top.length;
  const variants: { name: string; opts: Parameters<SqliteStore['timeline']>[1] }[] = [
    { name: 'last 100, all types', opts: { limit: 100 } },
    { name: 'last 100 clicks', opts: { limit: 100, types: ['click'] } },
    { name: 'last 50 of view+click', opts: { limit: 50, types: ['view', 'click'] } },
    { name: 'whole timeline (1000)', opts: { limit: 1000 } },
  ];
  const rows: { variant: string; p50_ms: number; p99_ms: number; events_returned: number }[] = [];
  const calls: { name: string; read: (id: string, o: Parameters<SqliteStore['timeline']>[1]) => Promise<{ length: number }> }[] = [
    { name: 'timeline', read: (id, o) => store.timeline(id, o) },
    { name: 'history', read: (id, o) => store.history(id, o) },
  ];
  for (const call of calls)
  for (const v0 of variants) {
    const v = { name: `${call.name}: ${v0.name}`, opts: v0.opts };
    for (let i = 0; i < 500; i++) await call.read(top[i % top.length].id, v.opts); // warm-up
    const times = new Float64Array(reads);
    let returned = 0;
    for (let i = 0; i < reads; i++) {
      const id = top[(i * 7919) % top.length].id;
      const t = process.hrtime.bigint();
      const r = await call.read(id, v.opts);
      times[i] = Number(process.hrtime.bigint() - t) / 1e6;
      returned += r.length;
    }
    times.sort();
    rows.push({ variant: v.name, p50_ms: +quantile(times, 0.5).toFixed(4), p99_ms: +quantile(times, 0.99).toFixed(4), events_returned: Math.round(returned / reads) });
  }
  await store.close();
  console.log(`timeline reads on ${path} (${built ? 'built here' : 'given'}), ${top.length} users with ~${Math.round(meanEvents)} events each, ${reads} reads per variant`);
  console.log('variant                               p50 ms    p99 ms   events');
  for (const r of rows) console.log(`${r.variant.padEnd(36)} ${r.p50_ms.toFixed(4).padStart(8)} ${r.p99_ms.toFixed(4).padStart(9)} ${String(r.events_returned).padStart(8)}`);
  const filtered = rows[1];
  const whole = rows[rows.length - 1];
  return {
    db: built ? 'synthetic' : path,
    events_per_user: Math.round(meanEvents),
    reads,
    p50_ms: filtered.p50_ms,
    p99_ms: filtered.p99_ms,
    history_all_p99_ms: whole.p99_ms,
    variants: rows,
  };
}
