import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import {
  EVENTS_CSV_COLUMNS,
  ITEMS_CSV_COLUMNS,
  USERS_CSV_COLUMNS,
  buildSynthWorld,
  clickProbability,
  csvField,
  examination,
  resolveSynthOptions,
  synthEventBatches,
  synthEvents,
  synthItems,
  synthToStrings,
  synthTruth,
  synthUserVector,
  synthUsers,
  writeSynth,
  type SynthWorld,
} from '../../src/data/synth.js';
import type { Event } from '../../src/data/model.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('synth: options', () => {
  it('fills defaults and rejects nonsense', () => {
    const o = resolveSynthOptions();
    assert.equal(o.users, 1000);
    assert.equal(o.items, 2000);
    assert.equal(o.events, 50_000);
    assert.ok(o.categories >= 4);
    assert.throws(() => resolveSynthOptions({ items: 0 }), /items/);
    assert.throws(() => resolveSynthOptions({ categories: 10, items: 5 }), /categories/);
    assert.throws(() => resolveSynthOptions({ days: 0 }), /days/);
  });
});

describe('synth: determinism', () => {
  it('the same seed gives the same bytes; another seed other bytes', () => {
    const opts = { users: 200, items: 300, events: 8000, seed: 42 };
    const a = synthToStrings(opts);
    const b = synthToStrings(opts);
    assert.equal(sha(a.users), sha(b.users));
    assert.equal(sha(a.items), sha(b.items));
    assert.equal(sha(a.events), sha(b.events));
    const c = synthToStrings({ ...opts, seed: 43 });
    assert.notEqual(sha(a.items), sha(c.items));
    assert.notEqual(sha(a.events), sha(c.events));
    // JSON Lines carries the same events.
    const j = synthToStrings(opts, 'jsonl');
    assert.equal(j.events.trimEnd().split('\n').length, a.events.trimEnd().split('\n').length - 1);
  });
});

describe('synth: a small world', () => {
  let world: SynthWorld;
  let events: Event[];
  before(() => {
    world = buildSynthWorld({ users: 600, items: 1500, events: 60_000, seed: 7, days: 10 });
    events = [...synthEvents(world)];
  });

  it('sizes are close to the request', () => {
    assert.equal([...synthUsers(world)].length, 600);
    assert.equal([...synthItems(world)].length, 1500);
    assert.ok(Math.abs(events.length - 60_000) / 60_000 < 0.05, `got ${events.length} events`);
    for (const target of [3000, 20_000]) {
      let n = 0;
      for (const b of synthEventBatches({ users: 300, items: 500, events: target, seed: 3 })) n += b.length;
      assert.ok(Math.abs(n - target) / target < 0.15, `target ${target}, got ${n}`);
    }
    let n0 = 0;
    for (const b of synthEventBatches({ events: 0 })) n0 += b.length;
    assert.equal(n0, 0);
  });

  it('event ids are e0, e1, ... in order and timestamps never go back', () => {
    for (let k = 0; k < events.length; k++) {
      assert.equal(events[k].id, `e${k}`);
      if (k > 0) assert.ok(events[k].timestamp >= events[k - 1].timestamp);
    }
  });

  it('timestamps lie within the span and after the item was created', () => {
    for (const e of events) {
      assert.ok(e.timestamp >= world.start && e.timestamp < world.end, `${e.id} at ${e.timestamp}`);
      assert.ok(Number.isInteger(e.timestamp));
      const i = Number(e.itemId.slice(1));
      assert.ok(e.timestamp >= world.itemCreatedAt[i], `${e.id}: item ${e.itemId} created later`);
    }
    // Some items are created within the span, and they do get events.
    const newItems = new Set<string>();
    for (let i = 0; i < world.opts.items; i++) if (world.itemCreatedAt[i] >= world.start) newItems.add(`i${i}`);
    assert.ok(newItems.size > 0.2 * world.opts.items);
    assert.ok(events.some((e) => newItems.has(e.itemId)));
  });

  it('item popularity follows a power law', () => {
    const counts = new Map<string, number>();
    let total = 0;
    for (const e of events) {
      if (e.type !== 'impression') continue;
      counts.set(e.itemId, (counts.get(e.itemId) ?? 0) + 1);
      total++;
    }
    const sorted = [...counts.values()].sort((a, b) => b - a);
    const top = sorted.slice(0, Math.ceil(world.opts.items / 10)).reduce((a, b) => a + b, 0);
    assert.ok(top / total > 0.45, `top 10% of items got ${((100 * top) / total).toFixed(1)}% of impressions`);
  });

  it('the funnel is ordered: impression → click → add_to_cart → purchase, same request and item', () => {
    const seen = new Map<string, Set<string>>(); // `${type}|${request}` -> items
    const key = (t: string, e: Event) => `${t}|${e.context?.requestId}`;
    const had = (t: string, e: Event) => seen.get(key(t, e))?.has(e.itemId) ?? false;
    const types = new Set<string>();
    for (const e of events) {
      types.add(e.type);
      if (e.type === 'click' || e.type === 'dwell') assert.ok(had('impression', e), `${e.id}: ${e.type} without impression`);
      if (e.type === 'dwell') assert.ok(had('click', e), `${e.id}: dwell without click`);
      if (e.type === 'add_to_cart') assert.ok(had('click', e), `${e.id}: add_to_cart without click`);
      if (e.type === 'purchase') assert.ok(had('add_to_cart', e), `${e.id}: purchase without add_to_cart`);
      if (e.type === 'rating' || e.type === 'view') {
        assert.equal(e.context?.requestId, undefined);
        if (e.type === 'rating') assert.ok(Number.isInteger(e.value) && e.value! >= 1 && e.value! <= 5);
        continue;
      }
      assert.match(e.context!.requestId!, /^r\d+$/);
      assert.ok(e.context!.position! >= 0 && e.context!.position! < world.opts.impressionsPerRequest);
      const k = key(e.type, e);
      let s = seen.get(k);
      if (!s) seen.set(k, (s = new Set()));
      s.add(e.itemId);
    }
    for (const t of ['impression', 'view', 'click', 'add_to_cart', 'purchase', 'rating', 'dwell']) assert.ok(types.has(t), `no ${t} events`);
    // Every purchase carries the item's price; every request shows distinct items.
    for (const e of events) if (e.type === 'purchase') assert.equal(e.value, world.itemPrice[Number(e.itemId.slice(1))]);
    for (const [k, s] of seen) if (k.startsWith('impression|')) assert.ok(s.size >= 1);
  });

  it('CTR decreases with position and matches the known click model', () => {
    const K = world.opts.impressionsPerRequest;
    const imp = new Float64Array(K);
    const clk = new Float64Array(K);
    const expected = new Float64Array(K);
    const userVec = new Map<string, Float32Array>();
    const vec = (u: string) => {
      let v = userVec.get(u);
      if (!v) userVec.set(u, (v = synthUserVector(world, Number(u.slice(1)))));
      return v;
    };
    for (const e of events) {
      const p = e.context?.position ?? -1;
      if (e.type === 'impression') {
        imp[p]++;
        expected[p] += clickProbability(world, vec(e.userId), Number(e.itemId.slice(1)), p);
      } else if (e.type === 'click') clk[p]++;
    }
    const ctr = Array.from(clk, (c, p) => c / imp[p]);
    assert.ok(ctr[0] > ctr[3] && ctr[3] > ctr[K - 1], `CTR by position: ${ctr.map((x) => x.toFixed(3)).join(' ')}`);
    for (let p = 1; p < K; p++) assert.ok(ctr[p] < ctr[p - 1] * 1.15, `CTR rises at ${p}: ${ctr.map((x) => x.toFixed(3)).join(' ')}`);
    // Clicks per position agree with Σ P(click) from the ground truth (a few standard deviations;
    // clicks near the end of the span may be cut, so allow a little below).
    for (let p = 0; p < K; p++) {
      const sd = Math.sqrt(expected[p]);
      assert.ok(Math.abs(clk[p] - expected[p]) < 4 * sd + 0.01 * expected[p], `position ${p}: ${clk[p]} clicks, model says ${expected[p].toFixed(1)}`);
    }
    assert.ok(examination(world.opts.click, 0) === 1 && examination(world.opts.click, 1) < 1);
  });

  it('truth is small and JSON-able', () => {
    const t = synthTruth(world);
    const s = JSON.stringify(t);
    assert.ok(s.length < 200_000);
    assert.equal(t.categories.length, world.opts.categories);
    assert.equal(t.examination.length, world.opts.impressionsPerRequest);
    assert.deepEqual(JSON.parse(s).clickModel, world.opts.click);
    const sizes = t.categories.map((c) => c.size).sort((a, b) => b - a);
    assert.ok(sizes[0] > 3 * sizes[sizes.length - 1], 'category sizes are skewed');
    assert.ok(sizes.every((n) => n > 0));
  });

  it('items have prices, availability around 95%, categories and tags', () => {
    let avail = 0;
    for (const it of synthItems(world)) {
      assert.ok(it.price! > 0 && Number.isFinite(it.price));
      assert.ok(it.categories!.length >= 1 && it.tags!.length >= 1);
      if (it.available) avail++;
    }
    assert.ok(avail / world.opts.items > 0.9 && avail / world.opts.items < 0.99);
  });
});

describe('synth: files', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'funnel-synth-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('csvField quotes what needs quoting', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
  });

  it('writes parseable CSV with the documented columns, and the ground truth', async () => {
    const opts = { users: 150, items: 400, events: 5000, seed: 9 };
    const r = await writeSynth(join(dir, 'csv'), opts, { format: 'csv' });
    assert.equal(r.users, 150);
    assert.equal(r.items, 400);
    assert.equal(Object.values(r.eventsByType).reduce((a, b) => a + b, 0), r.events);
    const read = (f: string) => parse(readFileSync(join(dir, 'csv', f), 'utf8'), { columns: false, relax_column_count: false }) as string[][];
    const users = read('users.csv');
    assert.deepEqual(users[0], [...USERS_CSV_COLUMNS]);
    assert.equal(users.length, 151);
    const items = read('items.csv');
    assert.deepEqual(items[0], [...ITEMS_CSV_COLUMNS]);
    assert.equal(items.length, 401);
    // Fields with commas, quotes and line breaks survive the round trip.
    const expected = [...synthItems(opts)];
    let tricky = 0;
    for (let i = 0; i < expected.length; i++) {
      const row = items[i + 1];
      assert.equal(row[0], expected[i].id);
      assert.equal(row[1], expected[i].title);
      assert.equal(row[2], expected[i].categories!.join('|'));
      assert.equal(Number(row[4]), expected[i].price);
      assert.equal(row[5], expected[i].available ? 'true' : 'false');
      assert.equal(Number(row[6]), expected[i].createdAt);
      assert.equal(row[7], expected[i].text);
      if (/[",\n]/.test(row[1] + row[7])) tricky++;
    }
    assert.ok(tricky > 0);
    assert.ok(expected.some((it) => it.text!.includes('\n')), 'some text holds a line break');
    const ev = read('events.csv');
    assert.deepEqual(ev[0], [...EVENTS_CSV_COLUMNS]);
    assert.equal(ev.length - 1, r.events);
    const objs = [...synthEvents(opts)];
    for (let k = 0; k < objs.length; k++) {
      const row = ev[k + 1];
      const e = objs[k];
      assert.equal(row[0], e.id);
      assert.equal(row[1], e.userId);
      assert.equal(row[2], e.itemId);
      assert.equal(row[3], e.type);
      assert.equal(row[4], e.value === undefined ? '' : String(e.value));
      assert.equal(Number(row[5]), e.timestamp);
      assert.equal(row[6], e.context?.scene ?? '');
      assert.equal(row[7], e.context?.position === undefined ? '' : String(e.context.position));
      assert.equal(row[8], e.context?.requestId ?? '');
      assert.equal(row[9], e.context?.device);
    }
    const truth = JSON.parse(readFileSync(join(dir, 'csv', 'truth.json'), 'utf8'));
    assert.equal(truth.counts.events, r.events);
    const f = readFileSync(join(dir, 'csv', 'item_factors.f32'));
    assert.equal(f.length, 400 * truth.options.latentDim * 4);
    const w = buildSynthWorld(opts);
    assert.deepEqual(new Float32Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.length)), w.itemVectors);
  });

  it('writes JSON Lines with the same keys', async () => {
    const opts = { users: 50, items: 80, events: 2000, seed: 5 };
    const r = await writeSynth(join(dir, 'jsonl'), opts, { format: 'jsonl', truth: false });
    const lines = (f: string) => readFileSync(join(dir, 'jsonl', f), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    const users = lines('users.jsonl');
    assert.equal(users.length, 50);
    assert.deepEqual(Object.keys(users[0]), [...USERS_CSV_COLUMNS]);
    const items = lines('items.jsonl');
    assert.equal(items.length, 80);
    assert.ok(Array.isArray(items[0].categories) && typeof items[0].available === 'boolean');
    const ev = lines('events.jsonl');
    assert.equal(ev.length, r.events);
    const objs = [...synthEvents(opts)];
    assert.deepEqual(ev[10], {
      event_id: objs[10].id,
      user_id: objs[10].userId,
      item_id: objs[10].itemId,
      type: objs[10].type,
      ...(objs[10].value !== undefined ? { value: objs[10].value } : {}),
      timestamp: objs[10].timestamp,
      ...(objs[10].context?.scene ? { scene: objs[10].context.scene } : {}),
      ...(objs[10].context?.position !== undefined ? { position: objs[10].context.position } : {}),
      ...(objs[10].context?.requestId ? { request_id: objs[10].context.requestId } : {}),
      device: objs[10].context?.device,
    });
    for (const e of ev) for (const k of Object.keys(e)) assert.ok((EVENTS_CSV_COLUMNS as readonly string[]).includes(k), k);
  });
});
