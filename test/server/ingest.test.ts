import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SqliteStore } from '../../src/store/sqlite.js';
import { errorOf, ev, makeApp, openConfig, tempDir } from './helpers.js';

describe('POST /users, /items, /events', () => {
  const tmp = tempDir();
  let app: FastifyInstance;
  before(async () => {
    app = await makeApp(openConfig(tmp.dir, { bodyLimit: 4096, maxBatch: 5 }));
  });
  after(async () => {
    await app.close();
    tmp.cleanup();
  });

  it('accepts an array of users and reports refused entries with index, field, code and message', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/users',
      payload: [{ id: 'u1', attributes: { age: 30 } }, { id: 'u2' }, { attributes: 'x' }, 42],
    });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.accepted, 2);
    assert.equal(body.duplicates, 0);
    assert.equal(body.rejected, 2);
    assert.deepEqual(
      body.errors.map((e: { index: number; field?: string; code: string }) => [e.index, e.field, e.code]),
      [
        [2, 'id', 'MISSING_FIELD'],
        [2, 'attributes', 'INVALID_TYPE'],
        [3, undefined, 'NOT_AN_OBJECT'],
      ],
    );
    for (const e of body.errors) assert.equal(typeof e.message, 'string');
  });

  it('accepts the {"items": [...]} form too', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/items',
      payload: { items: [{ id: 'i1', title: 'One', categories: ['c'], price: 9.5, createdAt: '2024-01-02T00:00:00Z' }, { id: 'i2' }, { id: 'i3' }] },
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { accepted: 3, duplicates: 0, rejected: 0, errors: [] });
    const it1 = (await app.inject({ url: '/items/i1' })).json();
    assert.equal(it1.title, 'One');
    assert.equal(it1.createdAt, Date.UTC(2024, 0, 2));
  });

  it('appends events, deduplicates by id and flags bad entries', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/events',
      payload: [
        ev('u1', 'i1', 'view', 1000, { id: 'e1', context: { scene: 'home', position: 2 } }),
        ev('u1', 'i2', 'click', 2000),
        ev('u1', 'i1', 'view', 1000, { id: 'e1' }),
        { userId: 'u1', itemId: 'i1', type: 'view', timestamp: 'yesterday' },
      ],
    });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.accepted, 2);
    assert.equal(body.duplicates, 1);
    assert.equal(body.rejected, 1);
    assert.deepEqual(body.errors.map((e: { index: number; field: string; code: string }) => [e.index, e.field, e.code]), [[3, 'timestamp', 'INVALID_TYPE']]);
  });

  it('answers 400 BATCH_REJECTED with every entry error when nothing was accepted', async () => {
    const res = await app.inject({ method: 'POST', url: '/events', payload: [{ userId: 'u1' }, { itemId: 3, type: 7, timestamp: -5 }] });
    assert.equal(res.statusCode, 400);
    const err = errorOf(res);
    assert.equal(err.code, 'BATCH_REJECTED');
    const fields = err.details!.map((d) => `${d.index}:${d.field}:${d.code}`);
    assert.ok(fields.includes('0:itemId:MISSING_FIELD'));
    assert.ok(fields.includes('0:type:MISSING_FIELD'));
    assert.ok(fields.includes('0:timestamp:MISSING_FIELD'));
    assert.ok(fields.includes('1:userId:MISSING_FIELD'));
    assert.ok(fields.includes('1:type:INVALID_TYPE'));
    assert.ok(fields.includes('1:timestamp:INVALID_VALUE'));
  });

  it('an empty batch is fine', async () => {
    const res = await app.inject({ method: 'POST', url: '/users', payload: [] });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { accepted: 0, duplicates: 0, rejected: 0, errors: [] });
  });

  it('refuses bodies of the wrong shape with 400 VALIDATION_FAILED listing the fields', async () => {
    let res = await app.inject({ method: 'POST', url: '/users', payload: { id: 'u1' } });
    assert.equal(res.statusCode, 400);
    let err = errorOf(res);
    assert.equal(err.code, 'VALIDATION_FAILED');
    assert.deepEqual(err.details!.map((d) => [d.field, d.code]), [
      ['body.id', 'UNKNOWN_FIELD'],
      ['body.users', 'MISSING_FIELD'],
    ]);
    res = await app.inject({ method: 'POST', url: '/events', payload: { events: 'nope' } });
    assert.equal(errorOf(res).code, 'VALIDATION_FAILED');
    assert.deepEqual(errorOf(res).details!.map((d) => [d.field, d.code]), [['body.events', 'INVALID_TYPE']]);
    res = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload: '"text"' });
    assert.equal(res.statusCode, 400);
    assert.equal(errorOf(res).code, 'VALIDATION_FAILED');
    res = await app.inject({ method: 'POST', url: '/items' });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(errorOf(res).details!.map((d) => [d.field, d.code]), [['body', 'MISSING_FIELD']]);
  });

  it('malformed or empty JSON is 400 INVALID_JSON', async () => {
    let res = await app.inject({ method: 'POST', url: '/events', headers: { 'content-type': 'application/json' }, payload: '[{"userId": "u1",' });
    assert.equal(res.statusCode, 400);
    assert.equal(errorOf(res).code, 'INVALID_JSON');
    res = await app.inject({ method: 'POST', url: '/events', headers: { 'content-type': 'application/json' }, payload: '' });
    assert.equal(res.statusCode, 400);
    assert.equal(errorOf(res).code, 'INVALID_JSON');
    res = await app.inject({ method: 'POST', url: '/users', headers: { 'content-type': 'application/json' }, payload: '{"__proto__": {"x": 1}}' });
    assert.equal(res.statusCode, 400);
    assert.equal(errorOf(res).code, 'INVALID_JSON');
  });

  it('a content type other than JSON is 415', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await app.inject({ method: 'POST', url: '/events', headers: { 'content-type': ct }, payload: 'a=1' });
      assert.equal(res.statusCode, 415, ct);
      assert.equal(errorOf(res).code, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('an oversized body is 413 PAYLOAD_TOO_LARGE and nothing of it is written', async () => {
    const big = [{ id: 'huge', attributes: { blob: 'x'.repeat(5000) } }];
    const res = await app.inject({ method: 'POST', url: '/users', payload: big });
    assert.equal(res.statusCode, 413);
    assert.equal(errorOf(res).code, 'PAYLOAD_TOO_LARGE');
    assert.equal((await app.inject({ url: '/users/huge' })).statusCode, 404);
  });

  it('a batch with more entries than maxBatch is 413 BATCH_TOO_LARGE', async () => {
    const res = await app.inject({ method: 'POST', url: '/users', payload: Array.from({ length: 6 }, (_, i) => ({ id: `m${i}` })) });
    assert.equal(res.statusCode, 413);
    assert.equal(errorOf(res).code, 'BATCH_TOO_LARGE');
    assert.equal((await app.inject({ url: '/users/m0' })).statusCode, 404);
  });

  it('counts ingested entities per kind and outcome in /metrics', async () => {
    const text = (await app.inject({ url: '/metrics' })).body;
    assert.match(text, /funnel_ingested_entities_total\{app="default",kind="users",outcome="accepted"\} 2/);
    assert.match(text, /funnel_ingested_entities_total\{app="default",kind="events",outcome="duplicate"\} 1/);
    assert.match(text, /funnel_ingested_entities_total\{app="default",kind="events",outcome="rejected"\} 3/);
    assert.match(text, /funnel_http_requests_total\{method="POST",route="\/users",status="413"\} 2/);
    assert.match(text, /funnel_http_request_duration_seconds_bucket\{le="[0-9.]+",method="POST",route="\/events",status="200"\}/);
  });

  it('accepted entries are in the store file once the response is sent', async () => {
    const res = await app.inject({ method: 'POST', url: '/events', payload: [ev('durable', 'i9', 'purchase', 5000, { value: 3 })] });
    assert.equal(res.json().accepted, 1);
    // A second connection to the file (another process would see the same) reads it at once.
    const other = await SqliteStore.open(join(tmp.dir, 'default.db'), { readonly: true });
    try {
      const tl = await other.timeline('durable');
      assert.equal(tl.length, 1);
      assert.equal(tl[0].type, 'purchase');
      assert.equal(tl[0].value, 3);
    } finally {
      await other.close();
    }
  });
});
