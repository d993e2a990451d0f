/**
 * The ranking stage served: a scene with `"scorer": "ranker"` scores its candidates with the
 * artifact's ranker over live profiles (rebuilt from the store, then fed by every ingested
 * event), impressions carry the generators' provenance for the next training, and scenes
 * without it keep rank fusion.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildSynthWorld, synthEvents, synthItems } from '../../src/data/synth.js';
import { openLiveProfiles } from '../../src/serving/profiles.js';
import { resolveConfig } from '../../src/train/config.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { startServedApp, type ServedApp } from './fixture.js';

let served: ServedApp;
let someUser = '';

before(async () => {
  const world = buildSynthWorld({ users: 150, items: 200, events: 15_000, seed: 6, days: 10 });
  const events = [...synthEvents(world)];
  someUser = events.find((e) => e.type === 'click')!.userId;
  served = await startServedApp({
    name: 'ranker',
    seed: 2,
    config: resolveConfig({
      training: { led: { dim: 8, epochs: 2, negatives: 20, batchSize: 64 }, validationUsers: 20, ranker: { model: 'lr', heads: { click: 1, conversion: 0.3 } } },
      scenes: {
        home: { k: 10, scorer: 'ranker', generators: [{ type: 'popular', quota: 50 }, { type: 'itemknn', quota: 50 }] },
        plain: { k: 5, generators: [{ type: 'popular', quota: 20 }] },
      },
    }),
    fill: async (store) => {
      await store.upsertItems([...synthItems(world)]);
      for (let i = 0; i < events.length; i += 5000) await store.appendEvents(events.slice(i, i + 5000));
    },
  });
  assert.ok(served.trained.manifest.components.ranker, 'the ranker was trained');
});

after(async () => {
  await served?.close();
});

type Rec = { requestId: string; items: { id: string; score: number; sources: string[]; debug?: { trace: string[] } }[] };

describe('serving: the ranking stage', () => {
  it('rebuilds the live profiles at start; readiness waits for them', async () => {
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await served.app.inject({ method: 'GET', url: '/health/ready' })).statusCode;
      if (status !== 200) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 200);
  });

  it('scores a ranker scene with the ranker (probabilities), other scenes with rank fusion', async () => {
    const r = await served.app.inject({ method: 'GET', url: `/users/${someUser}/recommendations?scene=home&k=10&debug=true`, headers: served.auth });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json() as Rec;
    assert.equal(body.items.length, 10);
    for (const it of body.items) {
      assert.ok(it.score > 0 && it.score < 2, `a weighted sum of calibrated probabilities: ${it.score}`);
      assert.match(it.debug!.trace[0], /^ranker:lr: score/);
    }
    const plain = await served.app.inject({ method: 'GET', url: `/users/${someUser}/recommendations?scene=plain&k=5&debug=true`, headers: served.auth });
    assert.match((plain.json() as Rec).items[0].debug!.trace[0], /^rank_fusion: score/);
  });

  it('logs impressions with the provenance the next training reads', async () => {
    const r = (await served.app.inject({ method: 'GET', url: `/users/${someUser}/recommendations?scene=home&k=3`, headers: served.auth })).json() as Rec;
    let imps: { context?: Record<string, unknown> }[] = [];
    for (let i = 0; i < 50 && imps.length < 3; i++) {
      await new Promise((res) => setTimeout(res, 50));
      imps = (await served.store.timeline(someUser, { types: ['impression'], limit: 20 })).filter((e) => e.context?.requestId === r.requestId);
    }
    assert.equal(imps.length, 3);
    for (const e of imps) assert.match(String(e.context?.sources), /^(popular|itemknn):\d+:/);
  });

  it('live profiles start from the store and follow every event the store commits', async () => {
    const live = await openLiveProfiles(served.store);
    try {
      assert.ok(live.rebuild.events > 0, 'rebuilt from the stored events');
      const before = live.applied();
      const now = Date.now();
      const res = await served.app.inject({ method: 'POST', url: '/events', headers: served.auth, payload: [{ userId: someUser, itemId: 'i1', type: 'click', timestamp: now }] });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(live.applied(), before + 1, 'the ingested click reached the profiles');
      const u = await served.store.userIndex(someUser);
      const clicks = await live.profiles.userCounts(u, { type: 'click', windowMs: 3_600_000, now });
      assert.ok(clicks >= 1, `click counted in the last hour: ${clicks}`);
      // An item created after the rebuild gets its category key at once.
      const items = await served.app.inject({ method: 'POST', url: '/items', headers: served.auth, payload: [{ id: 'brand-new', categories: ['zz-new-cat'] }] });
      assert.equal(items.statusCode, 200, items.body);
      await served.app.inject({ method: 'POST', url: '/events', headers: served.auth, payload: [{ userId: someUser, itemId: 'brand-new', type: 'click', timestamp: now + 1 }] });
      const inCat = await live.profiles.userCounts(u, { type: 'click', key: 'cat:zz-new-cat', windowMs: 3_600_000, now: now + 1 });
      assert.equal(inCat, 1, 'the new item’s category counts');
    } finally {
      live.close();
    }
  });

  it('live profiles count an event committed while they rebuild once, whether the scan read it or not', async () => {
    const store = served.store;
    const u = await store.userIndex(someUser);
    const now = Date.now();
    let written = false;
    // A store whose scan lets two events commit before it reads (the first is in the scan and
    // heard), then one after its last batch (heard only).
    const racing = Object.create(store, {
      scanEvents: {
        value: async function* (opts: Parameters<typeof store.scanEvents>[0]) {
          if (!written) {
            written = true;
            await store.appendEvents([{ userId: someUser, itemId: 'i4', type: 'add_to_cart', timestamp: now }, { userId: someUser, itemId: 'i5', type: 'add_to_cart', timestamp: now + 1 }]);
          }
          yield* store.scanEvents(opts);
          await store.appendEvents([{ userId: someUser, itemId: 'i6', type: 'add_to_cart', timestamp: now + 2 }]);
        },
      },
    }) as typeof store;
    const before = await openLiveProfiles(store);
    const base = await before.profiles.userCounts(u, { type: 'add_to_cart', windowMs: 3_600_000, now: now + 2 });
    before.close();
    const live = await openLiveProfiles(racing);
    try {
      const got = await live.profiles.userCounts(u, { type: 'add_to_cart', windowMs: 3_600_000, now: now + 2 });
      assert.equal(got, base + 3, 'each of the three counted once');
    } finally {
      live.close();
    }
  });

  it('live profiles also follow the events other processes write to the store (another worker, an import)', async () => {
    const live = await openLiveProfiles(served.store);
    const other = await SqliteStore.open(served.store.path); // as another worker would
    try {
      const before = live.applied();
      const now = Date.now();
      await other.appendEvents([{ userId: someUser, itemId: 'i2', type: 'purchase', timestamp: now }, { userId: someUser, itemId: 'i3', type: 'purchase', timestamp: now + 1 }]);
      for (let t = 0; t < 300 && live.applied() < before + 2; t++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(live.applied(), before + 2, 'heard from the file within the follow interval');
      const u = await served.store.userIndex(someUser);
      assert.ok((await live.profiles.userCounts(u, { type: 'purchase', windowMs: 3_600_000, now: now + 1 })) >= 2);
      // an item created elsewhere gets its category key here, so events on it count under it
      await other.upsertItems([{ id: 'made-elsewhere', categories: ['zz-elsewhere'] }]);
      await new Promise((r) => setTimeout(r, 500));
      const seen = live.applied();
      await other.appendEvents([{ userId: someUser, itemId: 'made-elsewhere', type: 'click', timestamp: now + 2 }]);
      for (let t = 0; t < 300 && live.applied() < seen + 1; t++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(await live.profiles.userCounts(u, { type: 'click', key: 'cat:zz-elsewhere', windowMs: 3_600_000, now: now + 2 }), 1);
    } finally {
      live.close();
      await other.close();
    }
  });
});
