import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSamples, joinLabels, loggedEventsFromEvents, loggedEventsFromStore } from '../../src/rank/samples.js';
import { encodeSources } from '../../src/rank/features.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { T0, freshExtractor, log, smallCatalog, space, type Ev } from './helpers.js';

const imp = (u: number, i: number, t: number, req: string | undefined, pos: number): Ev => ({ u, i, type: 'impression', t, pos, ...(req ? { req } : {}) });

describe('samples: labels', () => {
  it('joins clicks and conversions to their impression by request id', () => {
    const ev = log([
      imp(1, 3, T0, 'r1', 0),
      imp(1, 4, T0, 'r1', 1),
      imp(1, 3, T0 + 1000, 'r2', 0), // the same item again, in a later request
      { u: 1, i: 3, type: 'click', t: T0 + 5000, req: 'r1' }, // attributed to r1, not to the latest impression
      { u: 1, i: 3, type: 'purchase', t: T0 + 60_000, req: 'r1' },
    ]);
    const l = joinLabels(ev);
    assert.deepEqual(Array.from(l.click.subarray(0, 3)), [1, 0, 0]);
    assert.deepEqual(Array.from(l.conversion.subarray(0, 3)), [1, 0, 0]);
    assert.equal(l.byRequest, 2);
    assert.equal(l.impressions, 3);
  });

  it('falls back to user and item within the window, and never labels with an earlier event', () => {
    const ev = log([
      { u: 2, i: 5, type: 'click', t: T0 - 1000 }, // before any impression: unmatched
      imp(2, 5, T0, undefined, 0),
      imp(2, 6, T0, undefined, 1),
      imp(2, 7, T0, undefined, 2),
      { u: 2, i: 5, type: 'click', t: T0 + 10_000 }, // matched by user + item
      { u: 2, i: 6, type: 'click', t: T0 + 31 * 60_000 }, // outside the 30 min click window
      { u: 3, i: 7, type: 'click', t: T0 + 1000 }, // another user
    ]);
    const l = joinLabels(ev);
    assert.deepEqual(Array.from(l.click.subarray(1, 4)), [1, 0, 0]);
    assert.equal(l.unmatched, 3);
    const wide = joinLabels(ev, { clickWindowMs: 60 * 60_000 });
    assert.deepEqual(Array.from(wide.click.subarray(1, 4)), [1, 1, 0]);
    assert.throws(() => joinLabels(ev, { clickWindowMs: 0 }), RangeError);
  });
});

describe('samples: building and splitting', () => {
  it('groups impressions into requests and splits by time at request boundaries', async () => {
    const evs: Ev[] = [];
    for (let r = 0; r < 10; r++) for (let p = 0; p < 3; p++) evs.push(imp(r % 3, (r + p) % 12, T0 + r * 60_000, `r${r}`, p));
    evs.push({ u: 0, i: 0, type: 'click', t: T0 + 1000, req: 'r0' });
    const { samples, report } = await buildSamples(log(evs), freshExtractor(space(smallCatalog())));
    assert.equal(report.requests, 10);
    assert.equal(samples.size, 30);
    assert.equal(samples.groups, 10);
    assert.deepEqual(Array.from(samples.position.subarray(0, 3)), [0, 1, 2]);
    assert.equal(samples.click[0], 1);
    const [a, b, c] = samples.splitByTime([0.7, 0.2, 0.1]);
    assert.equal(a.length + b.length + c.length, 30);
    assert.equal(a.length % 3, 0, 'no request is cut in two');
    assert.equal(b.length % 3, 0);
    assert.ok(samples.groupTime[samples.group[a[a.length - 1]]] < samples.groupTime[samples.group[b[0]]]);
  });

  it('restricts samples to [from, until) while every event still feeds the profiles', async () => {
    const evs: Ev[] = [imp(1, 1, T0, 'a', 0), imp(1, 2, T0 + HOUR, 'b', 0), imp(1, 3, T0 + 2 * HOUR, 'c', 0)];
    const { samples } = await buildSamples(log(evs), freshExtractor(space(smallCatalog())), { from: T0 + HOUR, until: T0 + 2 * HOUR });
    assert.equal(samples.size, 1);
    assert.equal(samples.item[0], 2);
  });

  it('reads logged events with their context (and provenance) from a store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-rank-'));
    const store = await SqliteStore.open(join(dir, 's.db'));
    try {
      await store.upsertItems([{ id: 'x', categories: ['c'] }, { id: 'y' }]);
      await store.appendEvents([
        { userId: 'u', itemId: 'x', type: 'impression', timestamp: T0, context: { requestId: 'q1', position: 0, scene: 'home', device: 'mobile', sources: encodeSources([{ generator: 'led', rank: 2, score: 0.5 }]) } },
        { userId: 'u', itemId: 'y', type: 'impression', timestamp: T0, context: { requestId: 'q1', position: 1, scene: 'home' } },
        { userId: 'u', itemId: 'x', type: 'click', timestamp: T0 + 2000, context: { requestId: 'q1' } },
      ]);
      const ev = await loggedEventsFromStore(store);
      assert.equal(ev.length, 3);
      const l = joinLabels(ev);
      assert.equal(l.clicks, 1);
      assert.equal(l.byRequest, 1);
      const j = Array.from({ length: 3 }, (_, k) => k).find((k) => ev.typeNames[ev.type[k]] === 'impression' && ev.position[k] === 0)!;
      assert.deepEqual(ev.sources?.[j], [{ generator: 'led', rank: 2, score: 0.5 }]);
      assert.equal(ev.sceneNames[ev.scene[j]], 'home');
      assert.equal(ev.deviceNames[ev.device[j]], 'mobile');
      const same = loggedEventsFromEvents(await store.timeline('u', { limit: 10 }));
      assert.equal(same.length, 3);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const HOUR = 3_600_000;
