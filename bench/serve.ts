/**
 * `npm run bench -- serve [--items N] [--users N[,N...]] [--dim D] [--duration S] [--history H]
 *                          [--k K] [--index auto|exact|ivf|hnsw] [--ef N] [--probe N] [--rates R,R,...]
 *                          [--connections C] [--half-runs N] [--no-profile]`
 *
 * Serving throughput and latency through the real server code path:
 *
 * 1. A synthetic catalogue (default 1M items, d = 64) of clustered item vectors and biases
 *    (src/index/synthetic.ts) stands in for a trained LED model: the artifact holds an LED
 *    model with those vectors (saved by its own `save`), item-kNN and popularity fitted on the
 *    synthetic histories, and the item index built by `buildItemIndex` (IVF above 20K items;
 *    `--index hnsw` for the graph index).
 *    A SQLite store holds the items and the users (default 100K) with `--history` views each
 *    (from one taste cluster). Everything is cached under bench/.data/serve/ (the HNSW graph of
 *    1M items takes minutes to build) and reused by later runs.
 * 2. A server process (bench/_serve-server.ts: buildApp + artifact holders + recommendation
 *    routes, as `funnel serve` with one process) and a load process (bench/_serve-load.ts: an
 *    open-loop client, keep-alive connections over loopback) run beside this one.
 * 3. Rates rise geometrically (×1.4 from 250/s, or `--rates`) for `--duration` seconds each
 *    (falling by the same factor from 250/s when that is not sustained on a slow machine)
 *    until one is not sustained (under 97% completed in time, an error, or p99 above 100 ms).
 *    Before each step the server is left to settle (under 5% of a core), so that work left
 *    behind by an overloaded step is not charged to the next. Latencies run from the moment a
 *    request is sent (bench/_serve-load.ts); the load generator's lag behind its schedule, its
 *    own CPU per request and the server's event-loop delay are reported beside them. The load
 *    generator writes and reads its keep-alive sockets directly (LOAD_CLIENT=http: node:http's
 *    client, as before 2026-11-30 night: about twice the client CPU per request, and ~0.06 ms
 *    more at p50 on GET /health).
 *    Between the last sustained rate and the first that was not, three halvings of the gap
 *    refine the highest sustained rate: that is the throughput, reported per server core too
 *    (the rate over the cores the server kept busy at it); then `--half-runs` runs (default 3) at half of
 *    it give p50/p99/p99.9 (each figure the median of the runs: the same code on this VM measured
 *    0.74–0.90 ms of CPU per request from one 15 s run to the next),
 *    server CPU seconds per 1,000 requests (process.cpuUsage of the server), RSS, and the
 *    in-process split of a request (FUNNEL_PROFILE hooks: history read, user encoding, ANN
 *    search, other generators, merge, scoring, rules, response).
 * 4. Each further `--users` count (e.g. `--users 100000,1000000`) gets its own store, served
 *    with the same artifact, and a run at the same half-load rate: server RSS must not grow
 *    with the number of users. Both RSS figures (ready, after the half-load run) are read after
 *    a full garbage collection, so that they show what the server keeps, not when V8 last
 *    collected (start-up garbage alone moved the after-load RSS by ±200 MB between runs).
 *
 * 5. The HTTP floor: after the half-load runs, the same load on `GET /health` (no
 *    recommendation work: HTTP parsing, Fastify's hooks, loopback, the client, the machine's
 *    wake-ups) gives the latency and CPU that every request pays under the recommendation's own.
 *
 * 6. The Node floor: the same load on a bare node:http server (bench/_bare-server.ts): what
 *    the machine, the loopback and Node's HTTP cost with no Fastify and no Funnel.
 *
 * Also reported: Recall@100 and @200 of the index against the exact search for 200 real user
 * histories, and the mean in-process search time. A cached store loses the impressions that
 * earlier runs logged into it, and is read into the page cache before its run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, linkSync, copyFileSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { intOption } from '../src/cli/args.js';
import { writeArtifact, latestArtifact } from '../src/artifacts/registry.js';
import type { Event, Item } from '../src/data/model.js';
import { ExactIndex } from '../src/index/exact.js';
import { defaultProbe } from '../src/index/ivf.js';
import { syntheticCatalog, type SyntheticCatalog } from '../src/index/synthetic.js';
import { ItemKnnModel } from '../src/models/retrieval/itemknn.js';
import { LedModel } from '../src/models/retrieval/led.js';
import { PopularityModel } from '../src/models/retrieval/popularity.js';
import { loadModel } from '../src/models/retrieval/registry.js';
import { SmallRng, timelinesFromArrays } from '../src/models/retrieval/types.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { DEFAULT_TRAINING, resolveConfig, type ItemIndexConfig } from '../src/train/config.js';
import { buildItemIndex, indexKindFor, loadItemIndex } from '../src/train/index-build.js';
import { createProgress } from '../src/util/progress.js';

const here = join(fileURLToPath(import.meta.url), '..');
const T0 = Date.UTC(2026, 0, 1);

interface Options {
  items: number;
  users: number[];
  dim: number;
  duration: number;
  history: number;
  k: number;
  index: ItemIndexConfig;
  rates?: number[];
  connections: number;
  halfRuns: number;
  profile: boolean;
}

const log = (line: string) => console.error(`serve: ${line}`);

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

/** Hard-links (or copies) every file of `from` into `to`. */
function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const a = join(from, name);
    const b = join(to, name);
    if (statSync(a).isDirectory()) linkTree(a, b);
    else {
      try {
        linkSync(a, b);
      } catch {
        copyFileSync(a, b);
      }
    }
  }
}

/** The users' histories: each user views `history` distinct items of one cluster. */
function histories(cat: SyntheticCatalog, users: number, history: number, seed = 7): { userIdx: Int32Array; itemIdx: Int32Array; ts: Float64Array } {
  const rng = new SmallRng(seed);
  const n = cat.biases.length;
  const byCluster: number[][] = Array.from({ length: cat.clusters }, () => []);
  for (let i = 0; i < n; i++) byCluster[cat.cluster[i]].push(i);
  const total = users * history;
  const userIdx = new Int32Array(total);
  const itemIdx = new Int32Array(total);
  const ts = new Float64Array(total);
  let e = 0;
  for (let u = 0; u < users; u++) {
    const members = byCluster[rng.int(cat.clusters)];
    const seen = new Set<number>();
    const want = Math.min(history, members.length);
    while (seen.size < want) seen.add(members[rng.int(members.length)]);
    let t = T0 + u * 1000;
    for (const i of seen) {
      userIdx[e] = u;
      itemIdx[e] = i;
      ts[e] = t += 10;
      e++;
    }
  }
  return { userIdx: userIdx.subarray(0, e), itemIdx: itemIdx.subarray(0, e), ts: ts.subarray(0, e) };
}

function indexName(o: Pick<Options, 'index' | 'items'>): string {
  const kind = indexKindFor(o.index, o.items);
  const c = o.index;
  if (kind === 'ivf') return `index-ivf-l${c.lists || 'auto'}`;
  return kind === 'hnsw' ? `index-hnsw-m${c.m}-efc${c.efConstruction}-b${c.bands}` : 'index-exact';
}

/**
 * The artifact folder in one of this bench's user folders (e.g. .data/serve/i1000000-d64/u100000-h20),
 * for the development aids beside it: the one of the default index setting, else the first there
 * is (another `--ef` or a copy made for a comparison).
 */
export function serveModelsDir(userDir: string): string {
  const found = readdirSync(userDir).filter((n) => n.startsWith('models-')).sort();
  if (found.length === 0) throw new Error(`no artifact in ${userDir}: run 'npm run bench -- serve' first`);
  const preferred = `models-${indexName({ index: DEFAULT_TRAINING.index, items: 1_000_000 })}`;
  return join(userDir, found.includes(preferred) ? preferred : found[0]);
}

/** The catalogue's LED model and index, cached. */
async function prepareCatalog(o: Options, cat: SyntheticCatalog): Promise<{ led: LedModel; indexDir: string; buildSeconds: number }> {
  const catDir = join(here, '.data', 'serve', `i${o.items}-d${o.dim}`);
  const led = LedModel.fromParameters(cat.vectors, cat.biases, o.dim);
  const indexDir = join(catDir, indexName(o));
  if (existsSync(join(indexDir, 'index.json'))) {
    // A cached HNSW index from before the graphs were renumbered for locality: rebuilt (with
    // the artifacts linking it), so that the figures are those of what `funnel train` builds.
    const cached = JSON.parse(readFileSync(join(indexDir, 'index.json'), 'utf8')) as { kind: string; layout?: string };
    if (cached.kind === 'hnsw' && cached.layout !== 'bfs') {
      log(`the cached item index predates the graphs' locality layout: rebuilding it`);
      rmSync(indexDir, { recursive: true, force: true });
      for (const u of readdirSync(catDir)) rmSync(join(catDir, u, `models-${indexName(o)}`), { recursive: true, force: true });
    }
  }
  if (!existsSync(join(indexDir, 'index.json'))) {
    log(`building the item index (${indexKindFor(o.index, o.items)}) over ${o.items} items, cached in ${indexDir}`);
    const tmp = `${indexDir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    const bar = createProgress({ label: 'index build', total: o.items, unit: ' rows' });
    const built = await buildItemIndex(led, tmp, o.index, (done, total) => bar.update(done, total));
    bar.done();
    writeFileSync(join(tmp, 'build.json'), JSON.stringify({ seconds: built.seconds, kind: built.kind, items: built.size }));
    renameSync(tmp, indexDir);
  }
  const buildSeconds = (JSON.parse(readFileSync(join(indexDir, 'build.json'), 'utf8')) as { seconds: number }).seconds;
  // The search breadth is a load-time setting saved in index.json: follow --ef / the default.
  const metaPath = join(indexDir, 'index.json');
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { kind: string; efSearch?: number; probe?: number; lists?: number };
  if (meta.kind === 'hnsw' && meta.efSearch !== o.index.efSearch) writeFileSync(metaPath, JSON.stringify({ ...meta, efSearch: o.index.efSearch }, null, 2));
  // Likewise the IVF index's lists scanned per search (--probe, else the default for its lists).
  const probe = o.index.probe || defaultProbe(Number(meta.lists));
  if (meta.kind === 'ivf' && meta.probe !== probe) writeFileSync(metaPath, JSON.stringify({ ...meta, probe }, null, 2));
  return { led, indexDir, buildSeconds };
}

/**
 * Removes the impressions that earlier runs' servers logged into a cached store, so that every
 * run starts from the store as built: each run logs ~50K responses, and after a few runs the
 * store held 311K of them, i.e. later runs measured a server writing into a larger events
 * table and impression index than the first run did.
 */
function forgetImpressions(db: string): void {
  const conn = new Database(db);
  try {
    const code = conn.prepare("SELECT code FROM event_types WHERE name = 'impression'").pluck().get() as number | undefined;
    if (code === undefined) return;
    const t0 = performance.now();
    // The literal type lets SQLite find the rows through the impressions' partial index.
    const n = conn.prepare(`DELETE FROM events WHERE type = ${Number(code)}`).run().changes;
    conn.pragma('wal_checkpoint(TRUNCATE)');
    if (n > 0) log(`store: ${n} impression rows of earlier runs removed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    conn.close();
  }
}

/**
 * Reads the store file once, so the run starts with it in the page cache, as a serving store is
 * in steady state. Without it a store the machine had evicted since it was built (this
 * project's machines reclaim cold pages: DAMON) was read from disk during the run: the 1M-user
 * store's run measured p50 2.0 ms, p99 95 ms, against 0.87 / 5.9 with the store just built.
 */
function warmFile(path: string): void {
  const t0 = performance.now();
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(16 << 20);
  let total = 0;
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, total)) > 0; ) total += n;
  } finally {
    closeSync(fd);
  }
  log(`store: ${(total / 1e9).toFixed(2)} GB read into the page cache in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * The store of `users` users and the artifact over it, cached. With `models` given (the
 * memory comparison), the store is built and that artifact reused, so only the number of
 * users differs between the runs.
 */
async function prepareUsers(o: Options, cat: SyntheticCatalog, led: LedModel, indexDir: string, users: number, reuse?: string): Promise<{ db: string; models: string; events: number }> {
  const uDir = join(here, '.data', 'serve', `i${o.items}-d${o.dim}`, `u${users}-h${o.history}`);
  const db = join(uDir, 'funnel.db');
  const ready = join(uDir, 'store.ready');
  const h = histories(cat, users, o.history);
  if (!existsSync(ready)) {
    rmSync(uDir, { recursive: true, force: true });
    mkdirSync(uDir, { recursive: true });
    const t0 = performance.now();
    const store = await SqliteStore.open(db);
    await store.beginBulkLoad();
    const bar = createProgress({ label: 'store: items', total: o.items, unit: ' items' });
    for (let a = 0; a < o.items; a += 20_000) {
      const batch: Item[] = [];
      for (let i = a; i < Math.min(o.items, a + 20_000); i++) {
        batch.push({ id: `i${i}`, categories: [`c${cat.cluster[i] % 50}`], price: 5 + (i % 100), createdAt: T0 - 30 * 86_400_000, available: true });
      }
      const r = await store.upsertItems(batch);
      if (r.errors.length) throw new Error(`item upsert: ${JSON.stringify(r.errors[0])}`);
      bar.update(a + batch.length);
    }
    bar.done();
    for (const [p, id] of [[0, 'i0'], [o.items - 1, `i${o.items - 1}`]] as const) {
      const idx = await store.itemIndex(id);
      if (idx !== p) throw new Error(`store gave item ${id} index ${idx}, expected ${p}: the model's item rows would not match`);
    }
    const ev = createProgress({ label: 'store: events', total: h.userIdx.length, unit: ' ev' });
    for (let a = 0; a < h.userIdx.length; a += 50_000) {
      const batch: Event[] = [];
      for (let e = a; e < Math.min(h.userIdx.length, a + 50_000); e++) batch.push({ userId: `u${h.userIdx[e]}`, itemId: `i${h.itemIdx[e]}`, type: 'view', timestamp: h.ts[e] });
      const r = await store.appendEvents(batch);
      if (r.errors.length) throw new Error(`event append: ${JSON.stringify(r.errors[0])}`);
      ev.update(a + batch.length);
    }
    ev.done();
    await store.endBulkLoad();
    await store.close();
    writeFileSync(ready, JSON.stringify({ seconds: (performance.now() - t0) / 1000 }));
    log(`store of ${users} users, ${h.userIdx.length} events built in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  } else forgetImpressions(db);
  if (reuse) return { db, models: reuse, events: h.userIdx.length };
  const models = join(uDir, `models-${indexName(o)}`);
  if (!latestArtifact(models)) {
    const t0 = performance.now();
    const data = timelinesFromArrays({ userIdx: h.userIdx, itemIdx: h.itemIdx, timestamp: h.ts, numUsers: users, numItems: o.items });
    const knn = new ItemKnnModel();
    await knn.fit(data, DEFAULT_TRAINING.itemknn);
    const pop = new PopularityModel();
    await pop.fit(data, DEFAULT_TRAINING.popularity);
    const config = resolveConfig({ training: { index: o.index } });
    await writeArtifact(
      models,
      async (dir) => {
        await led.save(join(dir, 'led'));
        await knn.save(join(dir, 'itemknn'));
        await pop.save(join(dir, 'popularity'));
        linkTree(indexDir, join(dir, 'index'));
        const kind = (JSON.parse(readFileSync(join(indexDir, 'index.json'), 'utf8')) as { kind: string }).kind;
        return {
          led: { kind: 'retrieval:led', path: 'led' },
          itemknn: { kind: 'retrieval:itemknn', path: 'itemknn' },
          popularity: { kind: 'retrieval:popularity', path: 'popularity' },
          index: { kind: `index:${kind}`, path: 'index', items: o.items },
        };
      },
      { dataSnapshot: { users, items: o.items, events: h.userIdx.length, synthetic: true }, config },
    );
    log(`artifact written in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  return { db, models, events: h.userIdx.length };
}

/** Recall of the served index against exact search, for real user encodings. */
async function measureRecall(o: Options, cat: SyntheticCatalog, models: string, users: number): Promise<Record<string, number>> {
  const dir = latestArtifact(models)!;
  const led = (await loadModel(join(dir, 'led'))) as unknown as LedModel;
  const index = await loadItemIndex(join(dir, 'index'), led);
  const { vectors, biases, dim } = led.itemVectors();
  const exact = ExactIndex.adopt(vectors, biases!, dim);
  const h = histories(cat, Math.min(users, 200), o.history);
  const queries: Float32Array[] = [];
  for (let u = 0, e = 0; u < Math.min(users, 200); u++) {
    const start = e;
    while (e < h.userIdx.length && h.userIdx[e] === u) e++;
    queries.push(led.encodeUser(h.itemIdx.slice(start, e)));
  }
  const out: Record<string, number> = { index_memory_mb: +(index.memoryBytes() / 1e6).toFixed(0) };
  for (const k of [100, 200]) {
    let hit = 0;
    let ms = 0;
    let exactMs = 0;
    for (const q of queries) {
      const t0 = performance.now();
      const want = exact.search(q, k);
      const t1 = performance.now();
      const got = index.search(q, k);
      ms += performance.now() - t1;
      exactMs += t1 - t0;
      const w = new Set(want.ids);
      for (const id of got.ids) if (w.has(id)) hit++;
    }
    out[`recall_at_${k}`] = +(hit / (k * queries.length)).toFixed(4);
    out[`search_ms_k${k}`] = +(ms / queries.length).toFixed(3);
    out[`exact_search_ms_k${k}`] = +(exactMs / queries.length).toFixed(3);
  }
  return out;
}

// ---- processes ------------------------------------------------------------------------------

function child(script: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  // The server can be asked for its RSS after a full collection (--expose-gc): live memory.
  const execArgv = script === '_serve-server.ts' ? ['--import', 'tsx', '--expose-gc'] : ['--import', 'tsx'];
  return fork(join(here, script), args, { execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function ask<T>(p: ChildProcess, msg: unknown, type: string, timeoutMs = 600_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${type}' answer within ${timeoutMs} ms`)), timeoutMs);
    const onMsg = (m: { type: string }) => {
      if (m.type !== type) return;
      clearTimeout(timer);
      p.off('message', onMsg);
      p.off('exit', onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before answering '${type}'`));
    };
    p.on('message', onMsg);
    p.once('exit', onExit);
    if (msg !== undefined) p.send(msg as never);
  });
}

interface ServerStats {
  loopDelay: { p50: number; p99: number; max: number };
  cpu: NodeJS.CpuUsage;
  rss: number;
  heapUsed: number;
  profile: Record<string, { mean_ms: number; count: number }>;
}

interface LoadResult {
  sent: number;
  ok: number;
  errors: number;
  late: number;
  lastError: string;
  wallSeconds: number;
  /** From send, from the scheduled time, and the client's lag between the two (ms, sorted). */
  latencies: number[];
  fromSchedule: number[];
  lags: number[];
  /** The load process's CPU per request sent (ms). */
  clientCpuMs: number;
}

interface Step {
  rate: number;
  achieved: number;
  ok: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  /** The same latencies counted from the scheduled send time (adds the client's timer lag). */
  from_schedule_p50_ms: number;
  from_schedule_p99_ms: number;
  /** The load generator's lag behind its schedule (Node timers: ~1 ms grain). */
  client_lag_p50_ms: number;
  client_lag_p99_ms: number;
  client_cpu_ms: number;
  /** The server's event-loop delay (monitorEventLoopDelay, 5 ms resolution): stalls. */
  server_loop_delay_p99_ms: number;
  server_loop_delay_max_ms: number;
  server_cpu_s_per_1000: number;
  server_cores: number;
  rss_mb: number;
  sustained: boolean;
  profile?: Record<string, number>;
}

/** Each figure of `steps` (runs at one rate) as its median over them; sustained only if all were. */
function medianStep(steps: Step[]): Step {
  const med = (f: (s: Step) => number) => {
    const v = steps.map(f).sort((a, b) => a - b);
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : +((v[m - 1] + v[m]) / 2).toFixed(4);
  };
  const out = { ...steps[0], sustained: steps.every((s) => s.sustained) } as Step;
  for (const key of Object.keys(out) as (keyof Step)[]) {
    if (typeof out[key] === 'number') (out as unknown as Record<string, number>)[key] = med((s) => s[key] as number);
  }
  if (steps.every((s) => s.profile)) {
    out.profile = Object.fromEntries(Object.keys(steps[0].profile!).map((k) => [k, med((s) => s.profile![k])]));
  }
  return out;
}

class Rig {
  private constructor(
    private readonly server: ChildProcess,
    private readonly load: ChildProcess,
    readonly port: number,
    readonly startSeconds: number,
    readonly startRss: number,
    /** Whether the server read its artifact arrays onto huge pages (src/server/serving-process.ts). */
    readonly hugePages: boolean,
  ) {}

  /** `script`: the server to drive (bench/_bare-server.ts for the Node floor: no store, no models). */
  static async start(db: string, models: string, profile: boolean, script = '_serve-server.ts'): Promise<Rig> {
    const server = child(script, [db, models], profile ? { FUNNEL_PROFILE: '1' } : {});
    const ready = await ask<{ port: number; startSeconds: number; rss: number; hugePages: boolean }>(server, undefined, 'ready');
    const load = child('_serve-load.ts', []);
    return new Rig(server, load, ready.port, ready.startSeconds, ready.rss, ready.hugePages);
  }

  stats(): Promise<ServerStats> {
    return ask<ServerStats>(this.server, { type: 'stats' }, 'stats', 30_000);
  }

  /** The server's RSS (bytes) after a full garbage collection: what it keeps, not what it has yet to collect. */
  async liveRss(): Promise<number> {
    return (await ask<ServerStats & { rss: number }>(this.server, { type: 'stats', gc: true }, 'stats', 30_000)).rss;
  }

  /**
   * Waits (up to 15 s) until the server is idle: under 5% of a core over 300 ms. An overloaded
   * step leaves work behind (impressions still to write, the WAL checkpoint) that would
   * otherwise be charged to the next step.
   */
  async settle(): Promise<void> {
    const until = performance.now() + 15_000;
    while (performance.now() < until) {
      const a = await this.stats();
      await new Promise((r) => setTimeout(r, 300));
      const b = await this.stats();
      if ((b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system) / 1e6 < 0.05 * 0.3) return;
    }
  }

  async step(rate: number, seconds: number, users: number, k: number, connections: number, seed: number, path?: string): Promise<Step> {
    await this.settle();
    await ask(this.server, { type: 'reset' }, 'reset', 30_000);
    const a = await this.stats();
    const t0 = performance.now();
    const r = await ask<LoadResult>(this.load, { type: 'run', port: this.port, rate, seconds, users, k, connections, seed, ...(path ? { path } : {}) }, 'result');
    const wall = (performance.now() - t0) / 1000;
    const b = await this.stats();
    const cpu = (b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system) / 1e6;
    const lat = r.latencies;
    const p99 = quantile(lat, 0.99);
    const inTime = r.ok / Math.max(1, r.sent);
    const achieved = r.ok / Math.max(1e-9, r.wallSeconds);
    const sustained = r.errors === 0 && r.late === 0 && inTime >= 0.97 && achieved >= 0.9 * rate && p99 <= 100;
    const prof: Record<string, number> = {};
    for (const [stage, v] of Object.entries(b.profile)) prof[`${stage}_ms`] = +v.mean_ms.toFixed(4);
    return {
      rate,
      achieved: Math.round(achieved),
      ok: r.ok,
      errors: r.errors,
      p50_ms: +quantile(lat, 0.5).toFixed(3),
      p99_ms: +p99.toFixed(3),
      p999_ms: +quantile(lat, 0.999).toFixed(3),
      from_schedule_p50_ms: +quantile(r.fromSchedule, 0.5).toFixed(3),
      from_schedule_p99_ms: +quantile(r.fromSchedule, 0.99).toFixed(3),
      client_lag_p50_ms: +quantile(r.lags, 0.5).toFixed(3),
      client_lag_p99_ms: +quantile(r.lags, 0.99).toFixed(3),
      client_cpu_ms: +r.clientCpuMs.toFixed(4),
      server_loop_delay_p99_ms: b.loopDelay.p99,
      server_loop_delay_max_ms: b.loopDelay.max,
      server_cpu_s_per_1000: +((cpu / Math.max(1, r.ok)) * 1000).toFixed(4),
      server_cores: +(cpu / wall).toFixed(2),
      rss_mb: Math.round(b.rss / 1e6),
      sustained,
      ...(Object.keys(prof).length ? { profile: prof } : {}),
      ...(r.errors ? { last_error: r.lastError } : {}),
    } as Step;
  }

  async stop(): Promise<void> {
    const exited = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null ? r() : p.once('exit', () => r())));
    if (this.server.connected) this.server.send({ type: 'stop' });
    if (this.load.connected) this.load.disconnect();
    await Promise.race([Promise.all([exited(this.server), exited(this.load)]), new Promise((r) => setTimeout(r, 10_000))]);
    for (const p of [this.server, this.load]) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

function printStep(s: Step): void {
  console.log(
    `${String(s.rate).padStart(7)} ${String(s.achieved).padStart(8)} ${s.p50_ms.toFixed(2).padStart(8)} ${s.p99_ms.toFixed(2).padStart(8)} ${s.p999_ms.toFixed(2).padStart(8)} ${s.server_cpu_s_per_1000.toFixed(3).padStart(9)} ${s.server_cores.toFixed(2).padStart(6)} ${String(s.rss_mb).padStart(6)} ${s.client_lag_p99_ms.toFixed(2).padStart(7)} ${s.server_loop_delay_p99_ms.toFixed(1).padStart(6)}  ${s.sustained ? 'yes' : 'NO'}${s.errors ? ` (${s.errors} errors)` : ''}`,
  );
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args,
    options: {
      items: { type: 'string' }, users: { type: 'string' }, dim: { type: 'string' }, duration: { type: 'string' }, history: { type: 'string' },
      k: { type: 'string' }, index: { type: 'string' }, ef: { type: 'string' }, probe: { type: 'string' }, rates: { type: 'string' }, connections: { type: 'string' },
      'no-profile': { type: 'boolean' },
      'half-runs': { type: 'string' },
    },
  });
  const kind = values.index ?? 'auto';
  if (!['auto', 'exact', 'hnsw', 'ivf'].includes(kind)) throw new Error(`--index expects auto, exact, ivf or hnsw, got '${kind}'`);
  const users = (values.users ?? '100000').split(',').map((s) => intOption(s, 'users', 100_000));
  if (users.some((u) => u < 1)) throw new Error('--users expects positive counts');
  const o: Options = {
    items: intOption(values.items, 'items', 1_000_000),
    users,
    dim: intOption(values.dim, 'dim', 64),
    duration: intOption(values.duration, 'duration', 5),
    history: intOption(values.history, 'history', 20),
    k: intOption(values.k, 'k', 20),
    index: {
      ...DEFAULT_TRAINING.index, kind: kind as ItemIndexConfig['kind'], ...(values.ef ? { efSearch: intOption(values.ef, 'ef', 100) } : {}),
      ...(values.probe ? { probe: intOption(values.probe, 'probe', 0) } : {}),
    },
    rates: values.rates ? values.rates.split(',').map((r) => intOption(r, 'rates', 1000)) : undefined,
    connections: intOption(values.connections, 'connections', 64),
    profile: !values['no-profile'],
    halfRuns: intOption(values['half-runs'], 'half-runs', 3),
  };
  const tCat = performance.now();
  const cat = syntheticCatalog({ items: o.items, dim: o.dim, seed: 1 });
  log(`catalogue of ${o.items} items (d = ${o.dim}) generated in ${((performance.now() - tCat) / 1000).toFixed(1)} s`);
  const { led, indexDir, buildSeconds } = await prepareCatalog(o, cat);

  // 1. Throughput search and half load at the first user count.
  const main = await prepareUsers(o, cat, led, indexDir, o.users[0]);
  const recall = await measureRecall(o, cat, main.models, o.users[0]);
  log(`index: ${JSON.stringify(recall)}`);
  warmFile(main.db);
  const rig = await Rig.start(main.db, main.models, o.profile);
  log(`server ready in ${rig.startSeconds.toFixed(1)} s, RSS ${(rig.startRss / 1e6).toFixed(0)} MB, artifact arrays ${rig.hugePages ? 'on huge pages' : 'mapped'}`);
  console.log(`\nserve: ${o.items} items (d=${o.dim}, ${indexKindFor(o.index, o.items)} index), ${o.users[0]} users × ${o.history} views, k=${o.k}, default scene (led 200, itemknn 100, popular 100, fresh 50)`);
  console.log('   rate  achieved  p50 ms   p99 ms  p99.9 ms  cpu s/1000  cores  RSS MB  lag p99  loop p99  sustained');
  const steps: Step[] = [];
  let best: Step | undefined;
  try {
    await rig.step(200, 2, o.users[0], o.k, o.connections, 99); // warm-up (JIT, page cache)
    const rates = o.rates ?? Array.from({ length: 20 }, (_, i) => Math.round(250 * 1.4 ** i));
    let failed: Step | undefined;
    for (const rate of rates) {
      const s = await rig.step(rate, o.duration, o.users[0], o.k, o.connections, rate);
      steps.push(s);
      printStep(s);
      if (!s.sustained) {
        failed = s;
        break;
      }
      best = s;
    }
    // The ×1.4 steps are coarse (the highest sustained rate could be 40% short of the real
    // one): three halvings of the gap between the last sustained rate and the first that was
    // not give the highest sustainable throughput to within ~5%.
    if (!o.rates && best && failed) {
      let lo = best.rate;
      let hi = failed.rate;
      for (let i = 0; i < 3 && hi - lo > 0.03 * lo; i++) {
        const mid = Math.round((lo + hi) / 2);
        const s = await rig.step(mid, o.duration, o.users[0], o.k, o.connections, mid);
        steps.push(s);
        printStep(s);
        if (s.sustained) {
          best = s;
          lo = mid;
        } else hi = mid;
      }
    }
    // A slow machine: step down from the first default rate until one is sustained.
    for (let rate = Math.round(rates[0] / 1.4); !best && !o.rates && rate >= 25; rate = Math.round(rate / 1.4)) {
      const s = await rig.step(rate, o.duration, o.users[0], o.k, o.connections, rate);
      steps.push(s);
      printStep(s);
      if (s.sustained) best = s;
    }
    if (!best) throw new Error(`not even ${o.rates ? rates[0] : 25} requests/s were sustained`);
    const half = Math.max(1, Math.round(best.rate / 2));
    console.log(`half load (${half}/s, ${o.halfRuns} × ${2 * o.duration} s; the figures below are their medians):`);
    const halfRuns: Step[] = [];
    for (let r = 0; r < o.halfRuns; r++) {
      const s = await rig.step(half, 2 * o.duration, o.users[0], o.k, o.connections, 4242 + r);
      printStep(s);
      halfRuns.push(s);
    }
    const halfStep = medianStep(halfRuns);
    // The floor under those latencies: the same load on GET /health (HTTP parsing, Fastify's
    // hooks, loopback, the client, the machine's wake-ups), with no recommendation work.
    const floor = await rig.step(half, o.duration, o.users[0], o.k, o.connections, 77, '/health');
    console.log(`the HTTP floor: GET /health at ${half}/s: p50 ${floor.p50_ms} ms, p99 ${floor.p99_ms} ms, p99.9 ${floor.p999_ms} ms, ${floor.server_cpu_s_per_1000} CPU s per 1000 requests`);
    const memory: { users: number; events: number; rss_mb_idle: number; rss_mb_after_load: number; p50_ms: number; p99_ms: number }[] = [
      { users: o.users[0], events: main.events, rss_mb_idle: Math.round(rig.startRss / 1e6), rss_mb_after_load: Math.round((await rig.liveRss()) / 1e6), p50_ms: halfStep.p50_ms, p99_ms: halfStep.p99_ms },
    ];
    await rig.stop();
    // The Node floor: the same load on a bare node:http server (bench/_bare-server.ts), i.e. what
    // the machine, the loopback and Node's HTTP cost with no Fastify and no Funnel at all.
    const bare = await Rig.start('', '', false, '_bare-server.ts');
    let nodeFloor: Step;
    try {
      nodeFloor = await bare.step(half, o.duration, o.users[0], o.k, o.connections, 78, '/health');
    } finally {
      await bare.stop();
    }
    console.log(`the Node floor: a bare node:http server at ${half}/s: p50 ${nodeFloor.p50_ms} ms, p99 ${nodeFloor.p99_ms} ms, p99.9 ${nodeFloor.p999_ms} ms, ${nodeFloor.server_cpu_s_per_1000} CPU s per 1000 requests, event-loop delay p99 ${nodeFloor.server_loop_delay_p99_ms} ms`);

    // 2. Memory against the number of users: the same load on larger stores.
    for (const u of o.users.slice(1)) {
      const more = await prepareUsers(o, cat, led, indexDir, u, main.models);
      warmFile(more.db);
      const r2 = await Rig.start(more.db, more.models, o.profile);
      try {
        await r2.step(200, 2, u, o.k, o.connections, 99);
        const s = await r2.step(half, 2 * o.duration, u, o.k, o.connections, 4242);
        console.log(`${u} users, half load:`);
        printStep(s);
        memory.push({ users: u, events: more.events, rss_mb_idle: Math.round(r2.startRss / 1e6), rss_mb_after_load: Math.round((await r2.liveRss()) / 1e6), p50_ms: s.p50_ms, p99_ms: s.p99_ms });
      } finally {
        await r2.stop();
      }
    }
    if (memory.length > 1) {
      console.log('users      events   RSS idle MB  RSS after load MB');
      for (const m of memory) console.log(`${String(m.users).padEnd(9)} ${String(m.events).padStart(9)} ${String(m.rss_mb_idle).padStart(12)} ${String(m.rss_mb_after_load).padStart(18)}`);
    }
    const perCore = Math.round(1000 / halfStep.server_cpu_s_per_1000);
    // Throughput per server core: the highest sustained rate over the cores the server kept
    // busy at it (its CPU seconds per second; one event loop, so about one core at most).
    const capacityPerCore = Math.round(best.achieved / Math.max(best.server_cores, 1e-9));
    console.log(`\nhighest sustained: ${best.rate}/s (server ${best.server_cores} cores busy: ${capacityPerCore} requests per second per core); at half load: p50 ${halfStep.p50_ms} ms, p99 ${halfStep.p99_ms} ms, p99.9 ${halfStep.p999_ms} ms, ${halfStep.server_cpu_s_per_1000} CPU s per 1000 requests (${perCore} requests per CPU second)`);
    if (halfStep.profile) console.log(`in-process split at half load (mean ms): ${Object.entries(halfStep.profile).map(([k, v]) => `${k.replace(/_ms$/, '')} ${v.toFixed(3)}`).join(', ')}`);
    console.log(
      `targets: >= 1600 rec/s per core at the highest sustained rate: ${capacityPerCore >= 1600 ? 'met' : 'NOT met'} (at half load, per CPU second: ${perCore >= 1600 ? 'met' : 'NOT met'}); ` +
        `p50 <= 0.5 ms: ${halfStep.p50_ms <= 0.5 ? 'met' : 'NOT met'}; p99 <= 2 ms: ${halfStep.p99_ms <= 2 ? 'met' : 'NOT met'}`,
    );
    return {
      items: o.items,
      dim: o.dim,
      users: o.users[0],
      history: o.history,
      k: o.k,
      index: indexKindFor(o.index, o.items),
      index_params: o.index,
      index_build_s: +buildSeconds.toFixed(1),
      ...recall,
      server_start_s: +rig.startSeconds.toFixed(1),
      huge_pages: rig.hugePages,
      max_sustained_rps: best.rate,
      max_step_cores: best.server_cores,
      max_sustained_rps_per_core: capacityPerCore,
      half_load_rps: half,
      p50_ms: halfStep.p50_ms,
      p99_ms: halfStep.p99_ms,
      from_schedule_p50_ms: halfStep.from_schedule_p50_ms,
      from_schedule_p99_ms: halfStep.from_schedule_p99_ms,
      client_lag_p99_ms: halfStep.client_lag_p99_ms,
      load_client: process.env.LOAD_CLIENT === 'http' ? 'node:http' : 'raw sockets',
      client_cpu_ms_per_request: halfStep.client_cpu_ms,
      server_loop_delay_p99_ms: halfStep.server_loop_delay_p99_ms,
      p999_ms: halfStep.p999_ms,
      http_floor_p50_ms: floor.p50_ms,
      http_floor_p99_ms: floor.p99_ms,
      http_floor_cpu_s_per_1000: floor.server_cpu_s_per_1000,
      node_floor_p50_ms: nodeFloor.p50_ms,
      node_floor_p99_ms: nodeFloor.p99_ms,
      node_floor_cpu_s_per_1000: nodeFloor.server_cpu_s_per_1000,
      node_floor_loop_delay_p99_ms: nodeFloor.server_loop_delay_p99_ms,
      server_cpu_s_per_1000: halfStep.server_cpu_s_per_1000,
      requests_per_cpu_second: perCore,
      rss_mb: halfStep.rss_mb,
      split_ms: halfStep.profile ?? {},
      half_load_runs: halfRuns.map((h) => ({ p50_ms: h.p50_ms, p99_ms: h.p99_ms, p999_ms: h.p999_ms, server_cpu_s_per_1000: h.server_cpu_s_per_1000 })),
      memory_by_users: memory,
      steps,
    };
  } finally {
    await rig.stop().catch(() => undefined);
  }
}
