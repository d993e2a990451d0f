import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { RateLimiter } from '../../src/server/ratelimit.js';
import { KEYS, bearer, errorOf, ev, makeApp, openConfig, tempDir, twoAppConfig } from './helpers.js';

describe('API keys and scopes', () => {
  const tmp = tempDir();
  let app: FastifyInstance;
  before(async () => {
    app = await makeApp(twoAppConfig(tmp.dir));
  });
  after(async () => {
    await app.close();
    tmp.cleanup();
  });

  it('no key is 401 UNAUTHORIZED on every protected route', async () => {
    for (const [method, url] of [
      ['POST', '/users'],
      ['POST', '/items'],
      ['POST', '/events'],
      ['GET', '/users/u1'],
      ['DELETE', '/users/u1'],
      ['GET', '/items/i1'],
      ['DELETE', '/items/i1'],
      ['GET', '/users/u1/timeline'],
      ['GET', '/metrics'],
    ] as const) {
      const res = await app.inject({ method, url, payload: method === 'POST' ? [] : undefined });
      assert.equal(res.statusCode, 401, `${method} ${url}`);
      assert.equal(errorOf(res).code, 'UNAUTHORIZED');
    }
  });

  it('an unknown key is 401 INVALID_API_KEY; a non-Bearer Authorization is 401', async () => {
    let res = await app.inject({ url: '/users/u1', headers: bearer('not-a-known-key-at-all') });
    assert.equal(res.statusCode, 401);
    assert.equal(errorOf(res).code, 'INVALID_API_KEY');
    res = await app.inject({ url: '/users/u1', headers: { 'x-api-key': 'not-a-known-key-at-all' } });
    assert.equal(errorOf(res).code, 'INVALID_API_KEY');
    res = await app.inject({ url: '/users/u1', headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
    assert.equal(res.statusCode, 401);
    assert.equal(errorOf(res).code, 'UNAUTHORIZED');
  });

  it('a key without the needed scope is 403 FORBIDDEN', async () => {
    let res = await app.inject({ method: 'POST', url: '/events', headers: bearer(KEYS.aRead), payload: [ev('u', 'i')] });
    assert.equal(res.statusCode, 403);
    assert.equal(errorOf(res).code, 'FORBIDDEN');
    res = await app.inject({ url: '/users/u', headers: bearer(KEYS.aIngest) });
    assert.equal(res.statusCode, 403);
    res = await app.inject({ method: 'DELETE', url: '/users/u', headers: bearer(KEYS.aRead) });
    assert.equal(res.statusCode, 403);
    res = await app.inject({ url: '/metrics', headers: bearer(KEYS.aRead) });
    assert.equal(res.statusCode, 403);
  });

  it('the ingest scope writes, the read scope reads (Bearer or X-API-Key), admin does both', async () => {
    let res = await app.inject({ method: 'POST', url: '/events', headers: bearer(KEYS.aIngest), payload: [ev('ua', 'ia', 'view', 10)] });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().accepted, 1);
    res = await app.inject({ url: '/users/ua/timeline', headers: { 'x-api-key': KEYS.aRead } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().count, 1);
    res = await app.inject({ url: '/users/ua', headers: bearer(KEYS.aAdmin) });
    assert.equal(res.statusCode, 200);
    res = await app.inject({ method: 'POST', url: '/items', headers: bearer(KEYS.aAdmin), payload: [{ id: 'ia', title: 't' }] });
    assert.equal(res.statusCode, 200);
    res = await app.inject({ url: '/metrics', headers: bearer(KEYS.aAdmin) });
    assert.equal(res.statusCode, 200);
  });

  it('public routes need no key', async () => {
    for (const url of ['/health', '/health/ready', '/openapi.json']) {
      assert.equal((await app.inject({ url })).statusCode, 200, url);
    }
    const missing = await app.inject({ url: '/no/such/route' });
    assert.equal(missing.statusCode, 404);
    assert.equal(errorOf(missing).code, 'ROUTE_NOT_FOUND');
  });

  it("apps are isolated: a key of app A never sees app B's data", async () => {
    await app.inject({ method: 'POST', url: '/users', headers: bearer(KEYS.bAll), payload: [{ id: 'only-in-b' }] });
    await app.inject({ method: 'POST', url: '/events', headers: bearer(KEYS.bAll), payload: [ev('only-in-b', 'ib', 'click', 5)] });
    assert.equal((await app.inject({ url: '/users/only-in-b', headers: bearer(KEYS.bAll) })).statusCode, 200);
    let res = await app.inject({ url: '/users/only-in-b', headers: bearer(KEYS.aAdmin) });
    assert.equal(res.statusCode, 404);
    assert.equal(errorOf(res).code, 'USER_NOT_FOUND');
    assert.equal((await app.inject({ url: '/users/only-in-b/timeline', headers: bearer(KEYS.aRead) })).statusCode, 404);
    assert.equal((await app.inject({ url: '/items/ib', headers: bearer(KEYS.aRead) })).statusCode, 404);
    assert.equal((await app.inject({ method: 'DELETE', url: '/users/only-in-b', headers: bearer(KEYS.aAdmin) })).statusCode, 404);
    // Nor the other way round.
    assert.equal((await app.inject({ url: '/users/ua', headers: bearer(KEYS.bAll) })).statusCode, 404);
    // Naming the other app does not help.
    res = await app.inject({ url: '/users/only-in-b', headers: bearer(KEYS.aAdmin, { 'x-funnel-app': 'b' }) });
    assert.equal(res.statusCode, 403);
    assert.equal(errorOf(res).code, 'APP_FORBIDDEN');
    // Naming its own app is fine.
    res = await app.inject({ url: '/users/ua', headers: bearer(KEYS.aRead, { 'x-funnel-app': 'a' }) });
    assert.equal(res.statusCode, 200);
    // b's user still exists after a's delete attempt.
    assert.equal((await app.inject({ url: '/users/only-in-b', headers: bearer(KEYS.bAll) })).statusCode, 200);
  });

  it('a key spanning apps names its app with X-Funnel-App', async () => {
    let res = await app.inject({ url: '/users/only-in-b', headers: bearer(KEYS.global, { 'x-funnel-app': 'b' }) });
    assert.equal(res.statusCode, 200);
    res = await app.inject({ url: '/users/ua', headers: bearer(KEYS.globalRead, { 'x-funnel-app': 'a' }) });
    assert.equal(res.statusCode, 200);
    res = await app.inject({ url: '/users/ua', headers: bearer(KEYS.global) });
    assert.equal(res.statusCode, 400);
    assert.equal(errorOf(res).code, 'APP_REQUIRED');
    res = await app.inject({ url: '/users/ua', headers: bearer(KEYS.global, { 'x-funnel-app': 'zzz' }) });
    assert.equal(res.statusCode, 404);
    assert.equal(errorOf(res).code, 'APP_NOT_FOUND');
    res = await app.inject({ method: 'POST', url: '/users', headers: bearer(KEYS.globalRead, { 'x-funnel-app': 'a' }), payload: [] });
    assert.equal(res.statusCode, 403);
    // /metrics is server-wide: no app needed.
    assert.equal((await app.inject({ url: '/metrics', headers: bearer(KEYS.global) })).statusCode, 200);
  });
});

describe('rate limit', () => {
  const tmp = tempDir();
  let app: FastifyInstance;
  let clock = 0;
  before(async () => {
    const config = twoAppConfig(tmp.dir, { rateLimit: { rps: 2, burst: 3 } });
    // b's key has its own, larger limit.
    config.apps.b.keys[0].rateLimit = { rps: 100, burst: 100 };
    app = await makeApp(config, { now: () => clock });
  });
  after(async () => {
    await app.close();
    tmp.cleanup();
  });

  it('answers 429 RATE_LIMITED with Retry-After past the burst, per key, and refills over time', async () => {
    const get = (key: string) => app.inject({ url: '/users/x', headers: bearer(key) });
    for (let i = 0; i < 3; i++) assert.equal((await get(KEYS.aRead)).statusCode, 404);
    const limited = await get(KEYS.aRead);
    assert.equal(limited.statusCode, 429);
    assert.equal(errorOf(limited).code, 'RATE_LIMITED');
    assert.equal(limited.headers['retry-after'], '1');
    assert.equal(limited.headers['x-ratelimit-remaining'], '0');
    // Another key of the same app has its own bucket.
    assert.equal((await get(KEYS.aAdmin)).statusCode, 404);
    // A per-key override.
    for (let i = 0; i < 10; i++) assert.equal((await get(KEYS.bAll)).statusCode, 404);
    // Health checks are never limited.
    for (let i = 0; i < 5; i++) assert.equal((await app.inject({ url: '/health' })).statusCode, 200);
    clock += 500; // 2 rps: one token back
    assert.equal((await get(KEYS.aRead)).statusCode, 404);
    assert.equal((await get(KEYS.aRead)).statusCode, 429);
    assert.match((await app.inject({ url: '/metrics', headers: bearer(KEYS.global) })).body, /funnel_http_requests_total\{method="GET",route="\/users\/:id",status="429"\} 2/);
  });

  it('limits by client address when authentication is off', async () => {
    const t2 = tempDir();
    let now = 0;
    const open = await makeApp(openConfig(t2.dir, { rateLimit: { rps: 1, burst: 1 } }), { now: () => now });
    try {
      assert.equal((await open.inject({ url: '/users/x', remoteAddress: '10.0.0.1' })).statusCode, 404);
      const r = await open.inject({ url: '/users/x', remoteAddress: '10.0.0.1' });
      assert.equal(r.statusCode, 429);
      assert.equal((await open.inject({ url: '/users/x', remoteAddress: '10.0.0.2' })).statusCode, 404);
      now += 1000;
      assert.equal((await open.inject({ url: '/users/x', remoteAddress: '10.0.0.1' })).statusCode, 404);
    } finally {
      await open.close();
      t2.cleanup();
    }
  });
});

describe('RateLimiter', () => {
  it('is a token bucket: burst at once, then rps per second; Retry-After rounds up', () => {
    let t = 0;
    const rl = new RateLimiter(() => t);
    const lim = { rps: 4, burst: 2 };
    assert.equal(rl.take('k', lim).ok, true);
    assert.equal(rl.take('k', lim).ok, true);
    const no = rl.take('k', lim);
    assert.equal(no.ok, false);
    assert.equal(no.retryAfterMs, 250);
    t += 250;
    assert.equal(rl.take('k', lim).ok, true);
    assert.equal(rl.take('k', lim).ok, false);
    t += 10_000;
    assert.equal(rl.take('k', lim).remaining, 1);
  });

  it('forgets buckets that refilled when swept', () => {
    let t = 0;
    const rl = new RateLimiter(() => t);
    for (let i = 0; i < 100; i++) rl.take(`k${i}`, { rps: 1, burst: 5 });
    assert.equal(rl.size, 100);
    t += 500;
    rl.sweep();
    assert.equal(rl.size, 100);
    t += 1000;
    rl.sweep();
    assert.equal(rl.size, 0);
  });
});
