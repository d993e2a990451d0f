/**
 * The serving funnel end to end, through the real app: store → train → artifact → routes.
 * Data: 3 taste clusters of 20 items each (categories c0..c2); users view items of one cluster.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { parseConfig } from '../../src/server/config.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { resolveConfig } from '../../src/train/config.js';
import { train } from '../../src/train/train.js';
import { artifactHolders, recommendationRoutes } from '../../src/serving/routes.js';
import { loadArtifact } from '../../src/serving/artifact.js';
import { buildItemIndex } from '../../src/train/index-build.js';
import { DEFAULT_TRAINING } from '../../src/train/config.js';
import { HnswIndex } from '../../src/index/hnsw.js';
import type { IvfIndex } from '../../src/index/ivf.js';
import { SmallRng } from '../../src/models/retrieval/types.js';
import type { Event, Item } from '../../src/data/model.js';
import { startServedApp, type ServedApp } from './fixture.js';

const T0 = Date.UTC(2026, 0, 1);
const NOW = Date.now();
const KEY = 'serving-test-key-000001';

let served: ServedApp;
let dir: string;
let app: FastifyInstance;
let store: SqliteStore;
const cfg = resolveConfig({
  training: { led: { dim: 8, epochs: 15, negatives: 20, batchSize: 32, lr: 0.05 }, validationUsers: 20, eventTypes: ['view', 'purchase'] },
  scenes: {
    home: { k: 10, generators: [{ type: 'led', quota: 50 }, { type: 'itemknn', quota: 30, lastN: 3 }, { type: 'popular', quota: 30 }, { type: 'fresh', quota: 5, maxAgeDays: 2 }] },
    simple: { k: 5, generators: [{ type: 'popular', quota: 20 }] },
    ledonly: { k: 5, generators: [{ type: 'led', quota: 6 }] },
  },
});

const item = (c: number, q: number): string => `c${c}-i${q}`;

before(async () => {
  served = await startServedApp({
    name: 'serving',
    key: KEY,
    config: cfg,
    seed: 3,
    fill: async (s) => {
      const items: Item[] = [];
      for (let c = 0; c < 3; c++) for (let q = 0; q < 20; q++) items.push({ id: item(c, q), categories: [`c${c}`], price: 10 + q, createdAt: T0, available: !(c === 2 && q === 0) });
      await s.upsertItems(items);
      const rng = new SmallRng(7);
      const events: Event[] = [];
      for (let u = 0; u < 240; u++) {
        const c = u % 3;
        const seen = new Set<number>();
        while (seen.size < 8) seen.add(rng.int(20));
        let t = T0 + u * 1000;
        for (const q of seen) events.push({ userId: `u${u}`, itemId: item(c, q), type: 'view', timestamp: (t += 10) });
      }
      await s.appendEvents(events);
    },
  });
  ({ app, store, dir } = served);
});

after(async () => {
  await served?.close();
});

const auth = { authorization: `Bearer ${KEY}` };
type Rec = { requestId: string; modelVersion: string; scene: string; items: { id: string; score: number; sources: string[]; debug?: unknown }[]; debug?: { timings: Record<string, number> } };

async function recs(path: string, body?: unknown): Promise<Rec> {
  const res = await app.inject(body === undefined ? { method: 'GET', url: path, headers: auth } : { method: 'POST', url: path, headers: auth, payload: body as object });
  assert.equal(res.statusCode, 200, res.body);
  // Written as JSON text by the route (not the schema's serializer): the header, and only the
  // fields of the documented response.
  assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  const r = res.json() as Rec & Record<string, unknown>;
  for (const key of Object.keys(r)) assert.ok(['requestId', 'scene', 'modelVersion', 'items', 'debug'].includes(key), `response field ${key}`);
  for (const it of r.items) for (const key of Object.keys(it)) assert.ok(['id', 'score', 'sources', 'debug'].includes(key), `item field ${key}`);
  return r;
}

describe('serving: recommendations through the real app', () => {
  it('recommends items of the user’s taste, never what the user has seen, with provenance', async () => {
    const tl = await store.timeline('u0', { limit: 100 });
    const seen = new Set(tl.map((e) => e.itemId));
    const r = await recs('/users/u0/recommendations?scene=home&k=8');
    assert.equal(r.items.length, 8);
    assert.match(r.modelVersion, /^v\d{8}-/);
    assert.ok(r.items.every((x) => !seen.has(x.id)), 'seen items excluded');
    const inTaste = r.items.filter((x) => x.id.startsWith('c0-')).length;
    assert.ok(inTaste >= 6, `expected mostly cluster-0 items, got ${r.items.map((x) => x.id)}`);
    assert.ok(r.items.every((x) => x.sources.length >= 1 && x.sources.every((s) => ['led', 'itemknn', 'popular', 'fresh'].includes(s))));
    assert.ok(r.items.some((x) => x.sources.includes('led')));
  });

  it('a newly ingested event changes the next recommendations without retraining', async () => {
    const before = await recs('/users/newbie/recommendations?scene=home&k=5');
    const evs = [3, 5, 7, 9].map((q, i) => ({ userId: 'newbie', itemId: item(1, q), type: 'view', timestamp: NOW - 1000 + i }));
    const ing = await app.inject({ method: 'POST', url: '/events', headers: auth, payload: evs });
    assert.equal(ing.statusCode, 200, ing.body);
    const afterR = await recs('/users/newbie/recommendations?scene=home&k=5');
    assert.notDeepEqual(afterR.items.map((x) => x.id), before.items.map((x) => x.id));
    assert.ok(afterR.items.filter((x) => x.id.startsWith('c1-')).length >= 4, `expected cluster-1 items, got ${afterR.items.map((x) => x.id)}`);
  });

  it('never serves an item the user disliked, from the next request on', async () => {
    const first = await recs('/users/u4/recommendations?scene=home&k=5');
    const gone = first.items.slice(0, 2).map((x) => x.id);
    const evs = gone.map((id, i) => ({ userId: 'u4', itemId: id, type: 'dislike', timestamp: NOW - 500 + i }));
    const ing = await app.inject({ method: 'POST', url: '/events', headers: auth, payload: evs });
    assert.equal(ing.statusCode, 200, ing.body);
    const next = await recs('/users/u4/recommendations?scene=home&k=5');
    assert.equal(next.items.length, 5);
    for (const id of gone) assert.ok(!next.items.some((x) => x.id === id), `${id} was disliked`);
  });

  it('serves unknown users and empty histories (cold start) and explicit histories', async () => {
    const cold = await recs('/recommendations', { k: 5, scene: 'home' });
    assert.equal(cold.items.length, 5);
    const nobody = await recs('/users/never-seen/recommendations?k=5');
    assert.equal(nobody.items.length, 5);
    const hist = await recs('/recommendations', { history: [item(2, 3), item(2, 4), item(2, 5)], k: 5, scene: 'home' });
    assert.ok(hist.items.filter((x) => x.id.startsWith('c2-')).length >= 4);
  });

  it('applies filters, exclusions, availability and paging without repeats', async () => {
    const r = await recs('/recommendations', { userId: 'u1', k: 10, scene: 'home', filters: { categories: ['c2'], maxPrice: 20 }, exclude: [item(2, 1)] });
    assert.ok(r.items.length > 0);
    for (const x of r.items) {
      assert.ok(x.id.startsWith('c2-'), x.id);
      assert.ok(Number(x.id.split('-i')[1]) <= 10, `price filter: ${x.id}`);
      assert.notEqual(x.id, item(2, 1));
      assert.notEqual(x.id, item(2, 0), 'unavailable item never served');
    }
    const p1 = await recs('/users/u2/recommendations?scene=home&k=5&session=s1&page=1');
    const p2 = await recs('/users/u2/recommendations?scene=home&k=5&session=s1&page=2');
    const overlap = p2.items.filter((x) => p1.items.some((y) => y.id === x.id));
    assert.deepEqual(overlap, []);
  });

  it('logs one impression per returned item with request id and position', async () => {
    const r = await recs('/users/u3/recommendations?scene=simple&k=3');
    await new Promise((res) => setTimeout(res, 400));
    const imps = (await store.timeline('u3', { types: ['impression'], limit: 10 })).filter((e) => e.context?.requestId === r.requestId);
    assert.equal(imps.length, 3);
    assert.deepEqual(imps.map((e) => e.context?.position).sort(), [0, 1, 2]);
    assert.ok(imps.every((e) => e.context?.scene === 'simple'));
    // each impression is the item served at its position, with the generators that proposed it
    for (const e of imps) {
      const served = r.items[e.context?.position as number];
      assert.equal(e.itemId, served.id);
      assert.deepEqual(String(e.context?.sources).split('|').map((part) => part.split(':')[0]), served.sources);
    }
  });

  it('answers similar items, debug output and model info', async () => {
    const res = await app.inject({ method: 'GET', url: `/items/${item(0, 1)}/similar?k=5`, headers: auth });
    assert.equal(res.statusCode, 200, res.body);
    const sim = res.json() as { items: { id: string }[] };
    assert.equal(sim.items.length, 5);
    assert.ok(sim.items.filter((x) => x.id.startsWith('c0-')).length >= 4);
    const d = await recs('/recommendations', { userId: 'u0', debug: true, scene: 'home', k: 3 });
    assert.ok(d.debug && typeof d.debug.timings.total_ms === 'number');
    assert.ok(d.items.every((x) => x.debug));
    const m = await app.inject({ method: 'GET', url: '/models', headers: auth });
    assert.equal((m.json() as { loaded: boolean }).loaded, true);
  });

  it('rejects bad input with the one error shape', async () => {
    const bad = [
      { method: 'POST', url: '/recommendations', payload: { k: 'ten' } },
      { method: 'POST', url: '/recommendations', payload: { k: 0 } },
      { method: 'POST', url: '/recommendations', payload: { scene: 'nope' } },
      { method: 'POST', url: '/recommendations', payload: { bogus: 1 } },
      { method: 'GET', url: '/users/u0/recommendations?k=-1' },
    ] as const;
    for (const b of bad) {
      const res = await app.inject({ ...b, headers: auth } as never);
      assert.equal(res.statusCode, 400, `${b.method} ${b.url} ${JSON.stringify((b as { payload?: unknown }).payload)}: ${res.body}`);
      assert.equal((res.json() as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
    }
    const malformed = await app.inject({ method: 'POST', url: '/recommendations', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"k":' });
    assert.equal(malformed.statusCode, 400);
    const unknownItem = await app.inject({ method: 'GET', url: '/items/nope/similar', headers: auth });
    assert.equal(unknownItem.statusCode, 404);
    assert.equal((unknownItem.json() as { error: { code: string } }).error.code, 'ITEM_NOT_FOUND');
    const noKey = await app.inject({ method: 'GET', url: '/users/u0/recommendations' });
    assert.equal(noKey.statusCode, 401);
  });

  it('swaps in a new model under concurrent load with zero failed requests', async () => {
    const v0 = (await recs('/users/u0/recommendations?k=3')).modelVersion;
    let stop = false;
    const versions = new Set<string>();
    let failures = 0;
    let done = 0;
    const loop = async () => {
      while (!stop) {
        const res = await app.inject({ method: 'GET', url: '/users/u5/recommendations?k=5', headers: auth });
        if (res.statusCode !== 200) failures++;
        else versions.add((res.json() as Rec).modelVersion);
        done++;
        // inject() can settle on microtasks alone: yield so timers and I/O (the training) run.
        await new Promise((r) => setImmediate(r));
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    await train(store, { modelsDir: join(dir, 'models'), config: cfg, seed: 4 });
    const rel = await app.inject({ method: 'POST', url: '/models/reload', headers: auth });
    assert.equal(rel.statusCode, 200, rel.body);
    const v1 = (rel.json() as { version: string }).version;
    assert.notEqual(v1, v0);
    const until = done + 20;
    while (done < until) await new Promise((r) => setTimeout(r, 5));
    stop = true;
    await Promise.all(loops);
    assert.equal(failures, 0);
    assert.ok(versions.has(v1), 'the new version serves after the swap');
    assert.ok([...versions].every((v) => v === v0 || v === v1));
  });
});

describe('serving: approximate item indexes', () => {
  // The artifact as trained (exact index: 60 items), copied with an HNSW or IVF index over the
  // same LED: the same top items, answered by the approximate index itself.
  const answered = (idx: HnswIndex | IvfIndex) => (idx instanceof HnswIndex ? idx.stats.overfetch : idx.stats.lists);
  for (const kind of ['hnsw', 'ivf'] as const) {
    it(`${kind}: returns the same top items as the exact index (same model, small catalogue)`, async () => {
      const serving = (await recs('/users/u0/recommendations?k=1')).modelVersion;
      const src = join(dir, 'models', serving);
      const copy = join(dir, `models-${kind}`, 'v20260101-000000-000-abcdef');
      cpSync(src, copy, { recursive: true });
      const exactArt = await loadArtifact(copy);
      assert.equal(exactArt.index.kind, 'exact');
      rmSync(join(copy, 'index'), { recursive: true });
      const built = await buildItemIndex(exactArt.led, join(copy, 'index'), { ...DEFAULT_TRAINING.index, kind });
      assert.equal(built.kind, kind);
      const mf = JSON.parse(readFileSync(join(copy, 'manifest.json'), 'utf8')) as { components: Record<string, { kind: string }>; version: string };
      mf.components.index.kind = `index:${kind}`;
      writeFileSync(join(copy, 'manifest.json'), JSON.stringify(mf));
      assert.equal((JSON.parse(readFileSync(join(copy, 'index', 'index.json'), 'utf8')) as { kind: string }).kind, kind);

      const config2 = parseConfig({ apps: { shop: { db: 'app.db', models: `models-${kind}`, keys: [{ key: KEY, scopes: ['read'] }] } } }, { baseDir: dir, source: 'test' });
      const models2 = await artifactHolders(config2.apps.shop);
      const app2 = await buildApp({ config: config2, tenants: [{ name: 'shop', store, models: models2, config: config2.apps.shop }], plugins: [recommendationRoutes], processMetrics: false });
      try {
        await app2.ready();
        const idx = (models2.current() as { index: HnswIndex | IvfIndex }).index;
        assert.equal(idx.kind, kind);
        const before = answered(idx);
        for (let u = 0; u < 30; u++) {
          const url = `/users/u${u}/recommendations?scene=ledonly&k=5`;
          const a = await recs(url);
          const res = await app2.inject({ method: 'GET', url, headers: auth });
          assert.equal(res.statusCode, 200, res.body);
          const b = res.json() as Rec;
          assert.equal(b.modelVersion, mf.version);
          assert.deepEqual(b.items.map((x) => x.id), a.items.map((x) => x.id), `user u${u}`);
        }
        assert.ok(answered(idx) > before, `the ${kind} index answered (not only the exact fallback)`);
      } finally {
        await app2.close();
        await models2.close?.();
      }
    });
  }
});
