/**
 * Re-ranking rules declared per scene, applied by the served funnel: diversity, filters on
 * attributes, pins, with debug output naming every rule that moved or removed an item; the
 * rules see item changes (new attribute values) without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/train/config.js';
import { SmallRng } from '../../src/models/retrieval/types.js';
import type { Event, Item } from '../../src/data/model.js';
import { startServedApp, type ServedApp } from './fixture.js';

const T0 = Date.UTC(2026, 0, 1);
let served: ServedApp;

const gens = [{ type: 'led', quota: 40 }, { type: 'popular', quota: 40 }];
const cfg = resolveConfig({
  training: { led: { dim: 8, epochs: 10, negatives: 20, batchSize: 32, lr: 0.05 }, validationUsers: 10, eventTypes: ['view'] },
  scenes: {
    plain: { k: 6, generators: gens },
    diverse: { k: 6, generators: gens, rules: [{ rule: 'diversity', maxPerCategory: 2, topK: 6 }] },
    filtered: {
      k: 6,
      generators: gens,
      rules: [
        { rule: 'filter', name: 'no_brand_x', remove: { attr: 'brand', op: 'eq', value: 'x' } },
        { rule: 'pin', items: [{ id: 'c0-i1', position: 2 }] },
      ],
    },
  },
});
const item = (c: number, q: number): string => `c${c}-i${q}`;

before(async () => {
  served = await startServedApp({
    name: 'rules',
    config: cfg,
    seed: 5,
    fill: async (store) => {
      const items: Item[] = [];
      for (let c = 0; c < 3; c++) {
        for (let q = 0; q < 20; q++) items.push({ id: item(c, q), categories: [`c${c}`], price: 10 + q, createdAt: T0, attributes: { brand: q % 2 === 0 ? 'x' : 'y' } });
      }
      await store.upsertItems(items);
      const rng = new SmallRng(11);
      const events: Event[] = [];
      for (let u = 0; u < 150; u++) {
        const c = u % 3;
        const seen = new Set<number>();
        while (seen.size < 6) seen.add(rng.int(20));
        let t = T0 + u * 1000;
        for (const q of seen) events.push({ userId: `u${u}`, itemId: item(c, q), type: 'view', timestamp: (t += 10) });
      }
      await store.appendEvents(events);
    },
  });
});

after(async () => {
  await served?.close();
});

type Rec = {
  items: { id: string; score: number; sources: string[]; debug?: { trace: string[] } }[];
  debug?: { removed?: { id: string; rule: string; reason: string }[] };
};
async function recs(url: string): Promise<Rec> {
  const res = await served.app.inject({ method: 'GET', url, headers: served.auth });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as Rec;
}
const cat = (id: string) => id.split('-')[0];

describe('serving: re-ranking rules per scene', () => {
  it('diversity caps items per category in the top k (the plain scene does not)', async () => {
    const plain = await recs('/users/u0/recommendations?scene=plain&k=6');
    const perCat = (r: Rec) => {
      const m = new Map<string, number>();
      for (const x of r.items) m.set(cat(x.id), (m.get(cat(x.id)) ?? 0) + 1);
      return Math.max(...m.values());
    };
    assert.ok(perCat(plain) > 2, `the user's taste dominates without the rule: ${plain.items.map((x) => x.id)}`);
    const diverse = await recs('/users/u0/recommendations?scene=diverse&k=6&debug=true');
    assert.equal(diverse.items.length, 6);
    assert.ok(perCat(diverse) <= 2, `at most 2 per category: ${diverse.items.map((x) => x.id)}`);
    assert.ok(
      diverse.items.some((x) => x.debug!.trace.some((t) => t.startsWith('diversity'))),
      'debug traces name the rule that moved items',
    );
  });

  it('filters on an item attribute and pins an item; debug lists removed items with the rule', async () => {
    const r = await recs('/users/u1/recommendations?scene=filtered&k=6&debug=true');
    assert.equal(r.items[2].id, item(0, 1), 'pinned at position 2');
    for (const x of r.items) assert.equal(Number(x.id.split('-i')[1]) % 2, 1, `brand x removed: ${x.id}`);
    assert.ok(r.debug?.removed?.length, 'removed items are reported: ' + JSON.stringify(r).slice(0, 1500));
    assert.ok(r.debug!.removed!.every((x) => x.rule === 'no_brand_x' && Number(x.id.split('-i')[1]) % 2 === 0));
    assert.ok(r.items[2].debug!.trace.some((t) => t.startsWith('pin')), JSON.stringify(r.items[2]));
  });

  it('rules see item changes without a restart (catalog refresh)', async () => {
    const before = await recs('/users/u1/recommendations?scene=filtered&k=20');
    assert.ok(before.items.some((x) => x.id.startsWith('c1-')), 'the user gets cluster-1 items before the change');
    // Re-brand every odd item of cluster 1 as 'x': the filter must now drop them.
    const changed = Array.from({ length: 10 }, (_, j) => ({ id: item(1, 2 * j + 1), categories: ['c1'], price: 11 + 2 * j, createdAt: T0, attributes: { brand: 'x' } }));
    const res = await served.app.inject({ method: 'POST', url: '/items', headers: served.auth, payload: changed });
    assert.equal(res.statusCode, 200, res.body);
    let after: Rec | undefined;
    for (let i = 0; i < 50; i++) {
      after = await recs('/users/u1/recommendations?scene=filtered&k=20');
      if (!after.items.some((x) => x.id.startsWith('c1-'))) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(!after!.items.some((x) => x.id.startsWith('c1-')), `re-branded items filtered: ${after!.items.map((x) => x.id)}`);
  });

  it('an app can switch server-side impressions off', async () => {
    const quiet = await startServedApp({
      name: 'noimp',
      config: resolveConfig({ training: { led: { dim: 4, epochs: 1, negatives: 5, batchSize: 16 }, validationUsers: 5, eventTypes: ['view'] }, scenes: { s: { k: 3, generators: [{ type: 'popular', quota: 10 }] } } }),
      app: { impressions: false },
      fill: async (store) => {
        const events: Event[] = [];
        for (let u = 0; u < 40; u++) for (let q = 0; q < 5; q++) events.push({ userId: `u${u}`, itemId: item(0, (u + q) % 20), type: 'view', timestamp: T0 + u * 100 + q });
        await store.appendEvents(events);
      },
    });
    try {
      const r = await quiet.app.inject({ method: 'GET', url: '/users/u1/recommendations?k=3', headers: quiet.auth });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal((r.json() as Rec).items.length, 3);
      await new Promise((res) => setTimeout(res, 300));
      assert.equal((await quiet.store.timeline('u1', { types: ['impression'], limit: 10 })).length, 0);
    } finally {
      await quiet.close();
    }
  });

  it('a scene with an unknown rule is refused when the configuration is read', () => {
    assert.throws(() => resolveConfig({ scenes: { s: { generators: gens, rules: [{ rule: 'shuffle' }] } } }), /rules\[0\]\.rule: unknown rule "shuffle"/);
  });
});
