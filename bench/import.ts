/**
 * `npm run bench -- import [--events 10000000] [--users 200000] [--items 100000] [--keep]`
 *
 * Synthesises events with `funnel synth` to CSV, imports users, items and events into a fresh
 * SQLite store with the real importer (bulk mode), and reports events/s and the import process's peak RSS (synthesis runs in a child process).
 * --keep leaves the store in bench/.data/import.db for `npm run bench -- timeline --db ...`.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { intOption } from '../src/cli/args.js';
import { spawnSync } from 'node:child_process';
import { importFile } from '../src/data/import.js';
import { SqliteStore } from '../src/store/sqlite.js';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args, options: { events: { type: 'string' }, users: { type: 'string' }, items: { type: 'string' }, keep: { type: 'boolean' } } });
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
  return { events: ev.rows, accepted: ev.accepted, rejected: ev.rejected, events_per_s: Math.round(ev.rowsPerSecond), import_seconds: +seconds.toFixed(2), synth_seconds: +synthSeconds.toFixed(2), rss_mb: rss, target_events_per_s: 500000 };
}
