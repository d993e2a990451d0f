import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../../src/server/errors.js';
import { openTenants } from '../../src/server/tenants.js';
import type { ModelHolder } from '../../src/server/types.js';
import { KEYS, bearer, errorOf, makeApp, openConfig, tempDir, twoAppConfig } from './helpers.js';

describe('GET /health and /health/ready', () => {
  it('live and ready while the stores answer', async () => {
    const tmp = tempDir();
    const app = await makeApp(twoAppConfig(tmp.dir));
    try {
      const live = await app.inject({ url: '/health' });
      assert.equal(live.statusCode, 200);
      assert.equal(live.json().status, 'ok');
      const ready = await app.inject({ url: '/health/ready' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json(), { status: 'ready', apps: 2 });
    } finally {
      await app.close();
      tmp.cleanup();
    }
  });

  it('503 NOT_READY when a store is unreachable or a readiness check fails', async () => {
    const tmp = tempDir();
    const config = openConfig(tmp.dir);
    const tenants = await openTenants(config);
    const app = await makeApp(config, { tenants });
    try {
      app.funnel.addReadinessCheck('models', () => 'no model loaded yet');
      let res = await app.inject({ url: '/health/ready' });
      assert.equal(res.statusCode, 503);
      let err = errorOf(res);
      assert.equal(err.code, 'NOT_READY');
      assert.deepEqual(err.details!.map((d) => d.field), ['models']);
      app.funnel.addReadinessCheck('models', () => undefined);
      assert.equal((await app.inject({ url: '/health/ready' })).statusCode, 200);
      await tenants[0].store.close();
      res = await app.inject({ url: '/health/ready' });
      assert.equal(res.statusCode, 503);
      err = errorOf(res);
      assert.match(err.message, /app default store: store unreachable/);
      // Liveness does not depend on the store.
      assert.equal((await app.inject({ url: '/health' })).statusCode, 200);
    } finally {
      await app.close();
      tmp.cleanup();
    }
  });

  it('during shutdown: readiness is 503 SHUTTING_DOWN at once, in-flight requests finish, stores close', async () => {
    const tmp = tempDir();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const slow: FastifyPluginAsync = async (app) => {
      app.get('/slow', { config: { scope: 'read' } }, async (req) => {
        entered();
        await gate;
        const u = await req.tenant.store.getUser('u1');
        return { user: u?.id ?? null };
      });
    };
    const app = await makeApp(openConfig(tmp.dir, { drainDelayMs: 100 }), { plugins: [slow] });
    await app.inject({ method: 'POST', url: '/users', payload: [{ id: 'u1' }] });
    const inflight = app.inject({ url: '/slow' });
    await inside;
    const stopped = app.funnel.shutdown();
    assert.equal(app.funnel.shuttingDown, true);
    const ready = await app.inject({ url: '/health/ready' });
    assert.equal(ready.statusCode, 503);
    assert.equal(errorOf(ready).code, 'SHUTTING_DOWN');
    // Still serving during the drain delay.
    assert.equal((await app.inject({ url: '/users/u1' })).statusCode, 200);
    release();
    const res = await inflight;
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { user: 'u1' });
    await stopped;
    assert.equal(app.funnel.shutdown(), stopped, 'shutdown is idempotent');
    await assert.rejects(app.funnel.tenants.get('default')!.store.getUser('u1'), /closed/);
    tmp.cleanup();
  });
});

describe('GET /metrics', () => {
  it('exposes request counters and latency histograms per route and status, and metrics other modules register', async () => {
    const tmp = tempDir();
    const app = await makeApp(twoAppConfig(tmp.dir), { processMetrics: true });
    try {
      const m = app.funnel.metrics;
      const share = m.counter({ name: 'funnel_generator_items_total', help: 'items per generator', labelNames: ['app', 'generator'] });
      assert.equal(m.counter({ name: 'funnel_generator_items_total', help: 'again', labelNames: ['app', 'generator'] }), share, 'get-or-create');
      share.inc({ app: 'a', generator: 'led' }, 7);
      m.gauge({ name: 'funnel_model_info', help: 'loaded model', labelNames: ['app', 'version'] }).set({ app: 'a', version: 'v1' }, 1);
      assert.throws(() => m.gauge({ name: 'funnel_generator_items_total', help: 'x' }), /another type/);
      await app.inject({ url: '/users/nobody', headers: bearer(KEYS.aRead) });
      const res = await app.inject({ url: '/metrics', headers: bearer(KEYS.aAdmin) });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      const text = res.body;
      assert.match(text, /funnel_http_requests_total\{method="GET",route="\/users\/:id",status="404"\} 1/);
      assert.match(text, /funnel_http_request_duration_seconds_count\{method="GET",route="\/users\/:id",status="404"\} 1/);
      assert.match(text, /funnel_generator_items_total\{app="a",generator="led"\} 7/);
      assert.match(text, /funnel_model_info\{app="a",version="v1"\} 1/);
      assert.match(text, /funnel_process_cpu_user_seconds_total/);
    } finally {
      await app.close();
      tmp.cleanup();
    }
  });

  it('publicMetrics serves it without a key', async () => {
    const tmp = tempDir();
    const app = await makeApp(twoAppConfig(tmp.dir, { publicMetrics: true }));
    try {
      assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
    } finally {
      await app.close();
      tmp.cleanup();
    }
  });
});

describe('route plugins and the model holder', () => {
  it('a plugin gets the tenant store and model holder, needs its declared scope, and appears in the OpenAPI document', async () => {
    const tmp = tempDir();
    let loaded: string | undefined;
    const holders = new Map<string, ModelHolder<{ top: string }>>();
    const models = (app: { name: string }) => {
      const h: ModelHolder<{ top: string }> = {
        current: () => (loaded ? { top: `${app.name}:${loaded}` } : undefined),
        version: () => loaded,
        reload: async () => loaded,
      };
      holders.set(app.name, h);
      return h;
    };
    const recs: FastifyPluginAsync = async (app) => {
      app.get<{ Params: { id: string } }>(
        '/users/:id/recommendations',
        {
          config: { scope: 'read' },
          schema: {
            tags: ['recommendations'],
            params: { type: 'object', properties: { id: { type: 'string' } } },
            response: { 200: { type: 'object', properties: { user: { type: 'string' }, model: { type: 'string' } } } },
          },
        },
        async (req) => {
          const m = req.tenant.models.current() as { top: string } | undefined;
          if (!m) throw new ApiError('MODEL_NOT_LOADED', `app ${req.tenant.name} has no model yet`);
          return { user: req.params.id, model: m.top };
        },
      );
      app.get('/admin-only', async () => ({ ok: true }));
    };
    const app = await makeApp(twoAppConfig(tmp.dir), { models, plugins: [recs] });
    try {
      let res = await app.inject({ url: '/users/u1/recommendations', headers: bearer(KEYS.aRead) });
      assert.equal(res.statusCode, 503);
      assert.equal(errorOf(res).code, 'MODEL_NOT_LOADED');
      loaded = 'v7';
      assert.deepEqual(await app.funnel.reloadModels(), { a: 'v7', b: 'v7' });
      res = await app.inject({ url: '/users/u1/recommendations', headers: bearer(KEYS.bAll) });
      assert.deepEqual(res.json(), { user: 'u1', model: 'b:v7' });
      assert.equal((await app.inject({ url: '/users/u1/recommendations' })).statusCode, 401);
      // A route without config.scope needs admin.
      assert.equal((await app.inject({ url: '/admin-only', headers: bearer(KEYS.aRead) })).statusCode, 403);
      assert.equal((await app.inject({ url: '/admin-only', headers: bearer(KEYS.aAdmin) })).statusCode, 200);
      const doc = (await app.inject({ url: '/openapi.json' })).json();
      assert.ok(doc.paths['/users/{id}/recommendations'].get);
    } finally {
      await app.close();
      tmp.cleanup();
    }
  });
});

describe('GET /openapi.json', () => {
  it('documents every built-in route, the shared schemas, the error shape and the key schemes', async () => {
    const tmp = tempDir();
    const app = await makeApp(twoAppConfig(tmp.dir));
    try {
      const res = await app.inject({ url: '/openapi.json' });
      assert.equal(res.statusCode, 200);
      const doc = res.json();
      assert.match(doc.openapi, /^3\./);
      const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
        Object.keys(ops).filter((m) => m !== 'head').map((m) => `${m.toUpperCase()} ${p}`),
      );
      for (const r of [
        'POST /users',
        'POST /items',
        'POST /events',
        'GET /users/{id}',
        'DELETE /users/{id}',
        'GET /items/{id}',
        'DELETE /items/{id}',
        'GET /users/{id}/timeline',
        'GET /health',
        'GET /health/ready',
        'GET /metrics',
      ]) {
        assert.ok(routes.includes(r), `${r} documented`);
      }
      for (const s of ['Error', 'User', 'Item', 'Event', 'BatchResult', 'EntryError', 'UserRecord', 'ItemRecord', 'TimelineEvent']) {
        assert.ok(doc.components.schemas[s], `schema ${s}`);
      }
      assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['apiKey', 'bearer']);
      const post = doc.paths['/events'].post;
      assert.ok(post.requestBody.content['application/json'].schema);
      assert.ok(post.responses['413']);
      assert.deepEqual(doc.paths['/health'].get.security, []);
      assert.ok(!doc.paths['/openapi.json'], 'the document itself is hidden');
      // JSON parse of the db files' names is not leaked anywhere in the document.
      assert.ok(!res.body.includes(join(tmp.dir, 'a.db')));
    } finally {
      await app.close();
      tmp.cleanup();
    }
  });
});
