import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Event } from '../../src/data/model.js';
import { encodeProvenance } from '../../src/data/provenance.js';
import { ImpressionLog, type Served } from '../../src/serving/service.js';
import type { BatchResult, ServedImpressions, Store } from '../../src/store/types.js';

const ok = (n: number): BatchResult => ({ accepted: n, duplicates: 0, errors: [] });

function response(r: number, n: number): Served {
  return {
    userId: `u${r}`, items: Int32Array.from({ length: n }, (_, p) => 100 * r + p), timestamp: 1000 + r, requestId: `req${r}`, scene: 'home',
    provenance: encodeProvenance(Array.from({ length: n }, (_, p) => (p % 2 ? [] : [{ generator: 'led', rank: p, score: 0.5 }]))), itemIds: Array.from({ length: n }, (_, p) => `i${100 * r + p}`),
  };
}

describe('ImpressionLog (server-side impressions)', () => {
  it('writes whole responses through appendServed, about 400 impressions per transaction', async () => {
    const calls: ServedImpressions[][] = [];
    const store = { appendServed: async (s: ServedImpressions[]) => (calls.push(s), ok(s.length)), appendEvents: async () => assert.fail('not used') } as unknown as Store;
    const log = new ImpressionLog(store, 10_000);
    for (let r = 0; r < 45; r++) log.push(response(r, 20));
    await log.flush();
    assert.deepEqual(calls.map((c) => c.length), [20, 20, 5], 'responses are never split');
    assert.deepEqual(calls.flat().map((s) => s.requestId), Array.from({ length: 45 }, (_, r) => `req${r}`));
    // A response larger than a chunk goes alone.
    calls.length = 0;
    log.push(response(1, 450));
    log.push(response(2, 20));
    await log.flush();
    assert.deepEqual(calls.map((c) => c.map((s) => s.items.length)), [[450], [20]]);
  });

  it('gives a store without appendServed the equivalent impression events', async () => {
    const got: Event[] = [];
    const store = { appendEvents: async (e: Event[]) => (got.push(...e), ok(e.length)) } as unknown as Store;
    const log = new ImpressionLog(store, 10_000);
    log.push(response(3, 3));
    await log.flush();
    assert.deepEqual(got, [
      { userId: 'u3', itemId: 'i300', type: 'impression', timestamp: 1003, context: { requestId: 'req3', position: 0, scene: 'home', sources: 'led:0:0.5' } },
      { userId: 'u3', itemId: 'i301', type: 'impression', timestamp: 1003, context: { requestId: 'req3', position: 1, scene: 'home' } },
      { userId: 'u3', itemId: 'i302', type: 'impression', timestamp: 1003, context: { requestId: 'req3', position: 2, scene: 'home', sources: 'led:2:0.5' } },
    ]);
  });

  it('flushes on its own after flushMs, and at once when maxBuffer impressions wait', async () => {
    let stored = 0;
    const store = { appendServed: async (s: ServedImpressions[]) => { for (const x of s) stored += x.items.length; return ok(s.length); } } as unknown as Store;
    const timed = new ImpressionLog(store, 30);
    timed.push(response(1, 5));
    assert.equal(stored, 0);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(stored, 5);
    const full = new ImpressionLog(store, 60_000, 40);
    full.push(response(2, 20));
    full.push(response(3, 20));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(stored, 45, 'maxBuffer reached: written without waiting for the timer');
  });
});
