/**
 * `npm run bench -- import [--events 10000000] [--users 200000] [--items 100000] [--keep]`
 *
 * Synthesises events with `funnel synth` to CSV, imports users, items and events into a fresh
 * SQLite store with the real importer (bulk mode), and reports events/s and the import process's peak RSS (synthesis runs in a child process).
 * --keep leaves the store in bench/.data/import.db for `npm run bench -- timeline --db ...`.
 *
 * Side by side, the store's floor (`--no-floor` skips it): the same number of events as
 * ready-made rows (no file, no parsing, no ids to resolve) written into a fresh store with the
 * importer's multi-row INSERT and batch size, then the store's own end of bulk load (index
 * builds). No importer on top of this store can go faster than that figure on this machine.
 */
import Database from 'better-sqlite3';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { intOption } from '../src/cli/args.js';
import { spawnSync } from 'node:child_process';
import { importFile } from '../src/data/import.js';
import { SqliteStore } from '../src/store/sqlite.js';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args, options: { events: { type: 'string' }, users: { type: 'string' }, items: { type: 'string' }, keep: { type: 'boolean' }, 'no-floor': { type: 'boolean' } } });
  const events = intOption(values.events, 'events', 10_000_000);
  const users = intOption(values.users, 'users', 200_000);
  const items = intOption(values.items, 'items', 100_000);
  const dir = join(process.cwd(), 'bench', '.data', 'import');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  // Synthesised in a child process, so the peak RSS reported is the import's alone.
  const child = spawnSync(process.execPath, [join(process.cwd(), 'bin', 'funnel.js'), 'synth', '--out', dir, '--users', String(users), '--items', String(items), '--events', String(events), '--seed', '1'], {
    env: { ...process.env, FUNNEL_FROM_SOURCE: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20,
  });
  if (child.status !== 0) throw new Error(`funnel synth failed (${child.status})`);
  const files = { users: join(dir, 'users.csv'), items: join(dir, 'items.csv'), events: join(dir, 'events.csv') };
  const synthSeconds = (performance.now() - t0) / 1000;
  const db = join(process.cwd(), 'bench', '.data', 'import.db');
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  const store = await SqliteStore.open(db);
  const reports = [];
  const t1 = performance.now();
  for (const kind of ['users', 'items', 'events'] as const) {
    reports.push(await importFile(store, { path: files[kind], kind, preset: 'funnel' }));
  }
  const seconds = (performance.now() - t1) / 1000;
  await store.close();
  const ev = reports[2];
  const rss = Math.round(process.resourceUsage().maxRSS / 1024);
  console.log(`synthesised ${reports[2].rows} events (${users} users, ${items} items) in ${synthSeconds.toFixed(1)} s (child process)`);
  console.log('file     rows        accepted    rejected  seconds  rows/s');
  for (const r of reports) console.log(`${r.kind.padEnd(8)} ${String(r.rows).padStart(10)}  ${String(r.accepted).padStart(10)}  ${String(r.rejected).padStart(8)}  ${r.seconds.toFixed(1).padStart(7)}  ${Math.round(r.rowsPerSecond)}`);
  console.log(`events imported at ${Math.round(ev.rowsPerSecond)} events/s; everything in ${seconds.toFixed(1)} s; peak RSS ${rss} MB`);
  if (!values.keep) for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  rmSync(dir, { recursive: true, force: true });
  const out: Record<string, unknown> = { events: ev.rows, accepted: ev.accepted, rejected: ev.rejected, events_per_s: Math.round(ev.rowsPerSecond), import_seconds: +seconds.toFixed(2), synth_seconds: +synthSeconds.toFixed(2), rss_mb: rss, target_events_per_s: 500000 };
  if (!values['no-floor']) {
    const f = await storeFloor(join(process.cwd(), 'bench', '.data', 'floor.db'), ev.rows, users, items);
    console.log(`store floor (ready-made rows, no parsing): inserts ${f.insert_s} s + index builds ${f.index_s} s → ${f.events_per_s} events/s (inserts alone ${f.insert_events_per_s}/s)`);
    out.store_floor = f;
  }
  return out;
}

/** The store's floor: ready-made event rows inserted as the importer does, then the end of bulk load. */
async function storeFloor(path: string, n: number, users: number, items: number): Promise<Record<string, number>> {
  for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
  const store = await SqliteStore.open(path);
  await store.beginBulkLoad();
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -65536');
  // as SqliteStore.writeEvents: 50 rows of 11 columns per statement, 20,000 events per transaction
  const CHUNK = 50;
  const COLS = 11;
  const one = `(${new Array(COLS).fill('?').join(', ')})`;
  const many = db.prepare(`INSERT OR IGNORE INTO events (user_idx, item_idx, type, value, ts, ext_id, request_id, scene, position, device, extra) VALUES ${new Array(CHUNK).fill(one).join(', ')}`);
  const flat: unknown[] = new Array(CHUNK * COLS).fill(null);
  let seed = 1;
  const rnd = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const t0 = performance.now();
  const tx = db.transaction((from: number, to: number) => {
    for (let p = from; p < to; p += CHUNK) {
      for (let r = 0; r < CHUNK; r++) {
        const o = r * COLS;
        flat[o] = Math.floor(rnd() * users);
        flat[o + 1] = Math.floor(rnd() * items);
        flat[o + 2] = rnd() < 0.8 ? 0 : 1;
        flat[o + 4] = 1_700_000_000_000 + (p + r) * 1000;
      }
      many.run(flat);
    }
  });
  const rows = Math.ceil(n / CHUNK) * CHUNK;
  for (let b = 0; b < rows; b += 20_000) tx(b, Math.min(rows, b + 20_000));
  db.close();
  const t1 = performance.now();
  await store.endBulkLoad();
  const t2 = performance.now();
  await store.close();
  for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
  return {
    events: rows,
    insert_s: +((t1 - t0) / 1000).toFixed(2),
    index_s: +((t2 - t1) / 1000).toFixed(2),
    insert_events_per_s: Math.round(rows / ((t1 - t0) / 1000)),
    events_per_s: Math.round(rows / ((t2 - t0) / 1000)),
  };
}
