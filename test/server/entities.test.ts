import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { errorOf, ev, makeApp, openConfig, tempDir } from './helpers.js';

describe('GET/DELETE /users/:id, /items/:id and GET /users/:id/timeline', () => {
  const tmp = tempDir();
  let app: FastifyInstance;
  const odd = 'user/with spaces?&#é';
  before(async () => {
    app = await makeApp(openConfig(tmp.dir));
    await app.inject({ method: 'POST', url: '/users', payload: [{ id: 'u1', attributes: { tier: 'gold', n: [1, 2] } }, { id: odd }] });
    await app.inject({ method: 'POST', url: '/items', payload: [{ id: 'i1', title: 'First', tags: ['a'], available: false, attributes: { color: 'red' } }, { id: 'i2' }] });
    const r = await app.inject({
      method: 'POST',
      url: '/events',
      payload: [
        ev('u1', 'i1', 'view', 1000, { context: { scene: 'home', position: 0, requestId: 'r1', custom: 'x' } }),
        ev('u1', 'i2', 'click', 2000),
        ev('u1', 'i1', 'purchase', 3000, { value: 19.9, id: 'p1' }),
        ev('u1', 'i3', 'view', 4000),
        ev('u2', 'i1', 'view', 5000),
        ev(odd, 'i2', 'like', 6000),
      ],
    });
    assert.equal(r.json().accepted, 6);
  });
  after(async () => {
    await app.close();
    tmp.cleanup();
  });

  it('GET /users/:id returns the user; implicit users are marked undeclared', async () => {
    let res = await app.inject({ url: '/users/u1' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { id: 'u1', attributes: { tier: 'gold', n: [1, 2] }, declared: true });
    res = await app.inject({ url: '/users/u2' });
    assert.deepEqual(res.json(), { id: 'u2', declared: false });
    res = await app.inject({ url: `/users/${encodeURIComponent(odd)}` });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().id, odd);
  });

  it('GET /users/:id of an unknown id is 404 USER_NOT_FOUND', async () => {
    const res = await app.inject({ url: '/users/nobody' });
    assert.equal(res.statusCode, 404);
    assert.equal(errorOf(res).code, 'USER_NOT_FOUND');
  });

  it('an id longer than 256 characters is 400 with the field named', async () => {
    const res = await app.inject({ url: `/users/${'x'.repeat(300)}` });
    assert.equal(res.statusCode, 400);
    const err = errorOf(res);
    assert.equal(err.code, 'VALIDATION_FAILED');
    assert.equal(err.details![0].field, 'params.id');
  });

  it('GET /items/:id returns the item without internal fields', async () => {
    const res = await app.inject({ url: '/items/i1' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { id: 'i1', title: 'First', tags: ['a'], available: false, attributes: { color: 'red' }, declared: true });
    assert.equal((await app.inject({ url: '/items/i3' })).json().declared, false);
    const missing = await app.inject({ url: '/items/none' });
    assert.equal(missing.statusCode, 404);
    assert.equal(errorOf(missing).code, 'ITEM_NOT_FOUND');
  });

  it('GET /users/:id/timeline lists events most recent first, filtered by types and limited', async () => {
    let res = await app.inject({ url: '/users/u1/timeline' });
    assert.equal(res.statusCode, 200);
    let body = res.json();
    assert.equal(body.userId, 'u1');
    assert.equal(body.count, 4);
    assert.deepEqual(body.events.map((e: { itemId: string; type: string }) => `${e.type}:${e.itemId}`), ['view:i3', 'purchase:i1', 'click:i2', 'view:i1']);
    const first = body.events[3];
    assert.deepEqual(first.context, { scene: 'home', position: 0, requestId: 'r1', custom: 'x' });
    assert.equal(body.events[1].value, 19.9);
    assert.equal(body.events[1].id, 'p1');

    res = await app.inject({ url: '/users/u1/timeline?types=view,purchase&limit=2' });
    body = res.json();
    assert.deepEqual(body.events.map((e: { type: string }) => e.type), ['view', 'purchase']);
    res = await app.inject({ url: '/users/u1/timeline?types=click&types=purchase' });
    assert.deepEqual(res.json().events.map((e: { type: string }) => e.type), ['purchase', 'click']);
    res = await app.inject({ url: '/users/u1/timeline?after=2000&before=4000' });
    assert.deepEqual(res.json().events.map((e: { timestamp: number }) => e.timestamp), [3000, 2000]);
    res = await app.inject({ url: '/users/u1/timeline?types=never_seen' });
    assert.equal(res.json().count, 0);
  });

  it('GET /users/:id/timeline refuses bad parameters, listing each', async () => {
    const res = await app.inject({ url: '/users/u1/timeline?limit=0&before=abc&colour=red' });
    assert.equal(res.statusCode, 400);
    const err = errorOf(res);
    assert.equal(err.code, 'VALIDATION_FAILED');
    const fields = err.details!.map((d) => `${d.field}:${d.code}`).sort();
    assert.deepEqual(fields, ['querystring.before:INVALID_TYPE', 'querystring.colour:UNKNOWN_FIELD', 'querystring.limit:INVALID_VALUE']);
    const big = await app.inject({ url: '/users/u1/timeline?limit=5000' });
    assert.equal(big.statusCode, 400);
    const unknown = await app.inject({ url: '/users/ghost/timeline' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(errorOf(unknown).code, 'USER_NOT_FOUND');
  });

  it('DELETE /items/:id hides the item (and its events from timelines); 404 the second time', async () => {
    let res = await app.inject({ method: 'DELETE', url: '/items/i2' });
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    assert.equal((await app.inject({ url: '/items/i2' })).statusCode, 404);
    const tl = (await app.inject({ url: '/users/u1/timeline' })).json();
    assert.ok(tl.events.every((e: { itemId: string }) => e.itemId !== 'i2'));
    res = await app.inject({ method: 'DELETE', url: '/items/i2' });
    assert.equal(res.statusCode, 404);
    assert.equal(errorOf(res).code, 'ITEM_NOT_FOUND');
    // Sending it again restores it.
    await app.inject({ method: 'POST', url: '/items', payload: [{ id: 'i2', title: 'back' }] });
    assert.equal((await app.inject({ url: '/items/i2' })).json().title, 'back');
  });

  it('DELETE /users/:id removes the user and their events; 404 the second time', async () => {
    let res = await app.inject({ method: 'DELETE', url: '/users/u1' });
    assert.equal(res.statusCode, 204);
    assert.equal((await app.inject({ url: '/users/u1' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/users/u1/timeline' })).statusCode, 404);
    res = await app.inject({ method: 'DELETE', url: '/users/u1' });
    assert.equal(res.statusCode, 404);
    assert.equal(errorOf(res).code, 'USER_NOT_FOUND');
    // Other users keep theirs.
    assert.equal((await app.inject({ url: '/users/u2/timeline' })).json().count, 1);
  });

  it('unknown routes are 404 ROUTE_NOT_FOUND in the same error shape, with a request id', async () => {
    const res = await app.inject({ method: 'PATCH', url: '/users/u2' });
    assert.equal(res.statusCode, 404);
    assert.equal(errorOf(res).code, 'ROUTE_NOT_FOUND');
    assert.ok(res.headers['x-request-id']);
    const echoed = await app.inject({ url: '/users/u2', headers: { 'x-request-id': 'abc-123' } });
    assert.equal(echoed.headers['x-request-id'], 'abc-123');
  });
});
