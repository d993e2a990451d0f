/**
 * The HTTP server: `buildApp(options)` returns a fastify instance with every route registered
 * (not listening: `funnel serve` listens, tests use `app.inject()`).
 *
 * Request path: onRequest → authentication (401/403), rate limit (429), app resolution
 * (request.tenant) → body parsing (413/415/400 INVALID_JSON) → schema validation (400) →
 * handler → one error shape for every failure (src/server/errors.ts).
 *
 * Extension: `plugins` are registered after the built-in routes, inside the same protected
 * scope; their routes declare `config.scope` and use `request.tenant.store` and
 * `request.tenant.models` (see src/server/types.ts).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import { authEnabled, type ServerConfig } from './config.js';
import { KeyRing } from './auth.js';
import { RateLimiter } from './ratelimit.js';
import { FunnelMetrics } from './metrics.js';
import { closeTenants, openTenants, resolveTenant } from './tenants.js';
import { ApiError, errorSchema, sendError, toApiError } from './errors.js';
import type { FunnelContext, ModelHolderFactory, ReadinessCheck, Tenant } from './types.js';
import { entitySchemas, ingestRoutes } from './routes/ingest.js';
import { entityRoutes, recordSchemas } from './routes/entities.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type FunnelPlugin = FastifyPluginAsync<any> | { plugin: FastifyPluginAsync<any>; options?: Record<string, unknown> };

export interface AppOptions {
  /** Apps, keys and server settings (`parseConfig`, `loadConfigFile` or `defaultConfig`). */
  config: ServerConfig;
  /**
   * Already opened tenants (one per configured app); the app does not close them. Without it,
   * the app opens every configured app's store and closes them when it closes.
   */
  tenants?: Tenant[];
  /** Builds each app's model holder (default: no model). Ignored when `tenants` is given. */
  models?: ModelHolderFactory;
  /** Route plugins registered after the built-in routes (e.g. the recommendation routes). */
  plugins?: FunnelPlugin[];
  /** Metrics registry to use (default: a new one). */
  metrics?: FunnelMetrics;
  /** Collect process metrics in a new registry (default true). */
  processMetrics?: boolean;
  /** Produces the /metrics text (cluster workers ask the primary for the aggregate). */
  metricsText?: () => Promise<string>;
  /** fastify logger option (default: off). */
  logger?: FastifyServerOptions['logger'];
  /** Clock for the rate limiter in milliseconds (tests). */
  now?: () => number;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const s = config.server;
  const owned = options.tenants === undefined;
  const tenants = options.tenants ?? (await openTenants(config, options.models));
  try {
    return await assemble(options, tenants, owned);
  } catch (err) {
    if (owned) await closeTenants(tenants).catch(() => undefined);
    throw err;
  }

  async function assemble(options: AppOptions, list: Tenant[], ownsTenants: boolean): Promise<FastifyInstance> {
    const app = Fastify({
      logger: options.logger ?? false,
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: s.bodyLimit,
      requestTimeout: s.requestTimeoutMs,
      handlerTimeout: s.handlerTimeoutMs,
      connectionTimeout: s.connectionTimeoutMs,
      keepAliveTimeout: s.keepAliveTimeoutMs,
      trustProxy: s.trustProxy,
      return503OnClosing: false,
      requestIdHeader: false,
      genReqId: (req) => {
        const h = req.headers['x-request-id'];
        return typeof h === 'string' && REQUEST_ID.test(h) ? h : randomUUID();
      },
      routerOptions: { maxParamLength: 1024 },
      ajv: { customOptions: { allErrors: true, removeAdditional: false } },
    });

    // JSON only: any other content type is 415 (fastify parses text/plain by default).
    app.removeContentTypeParser('text/plain');

    const byName = new Map(list.map((t) => [t.name, t]));
    for (const name of Object.keys(config.apps)) {
      if (!byName.has(name)) throw new Error(`app '${name}' is configured but no tenant was given for it`);
    }
    const metrics = options.metrics ?? new FunnelMetrics({ processMetrics: options.processMetrics });
    const keyring = new KeyRing(config);
    const limiter = new RateLimiter(options.now);
    const checks = new Map<string, ReadinessCheck>();
    for (const t of list) {
      checks.set(`app ${t.name} store`, async () => {
        try {
          await t.store.getCheckpoint('__funnel_readiness_probe');
          return undefined;
        } catch (err) {
          return `store unreachable (${(err as Error).message})`;
        }
      });
    }
    let shuttingDown = false;
    let closing: Promise<void> | undefined;

    const funnel: FunnelContext = {
      config,
      tenants: byName,
      metrics,
      get shuttingDown() {
        return shuttingDown;
      },
      addReadinessCheck(name, check) {
        checks.set(name, check);
      },
      async readiness() {
        const out: { check: string; problem: string }[] = [];
        for (const [check, fn] of checks) {
          try {
            const problem = await fn();
            if (problem) out.push({ check, problem });
          } catch (err) {
            out.push({ check, problem: (err as Error).message });
          }
        }
        return out;
      },
      async reloadModels() {
        const out: Record<string, string | undefined> = {};
        for (const t of byName.values()) {
          try {
            out[t.name] = await t.models.reload();
          } catch (err) {
            app.log.error({ err, app: t.name }, 'model reload failed; the previous model stays in service');
            out[t.name] = t.models.version();
          }
        }
        return out;
      },
      shutdown(opts = {}) {
        if (closing) return closing;
        shuttingDown = true;
        const delay = opts.drainDelayMs ?? s.drainDelayMs;
        closing = (async () => {
          if (delay > 0) await sleep(delay);
          await app.close();
        })();
        return closing;
      },
    };
    app.decorate('funnel', funnel);
    app.decorateRequest('tenant', null as unknown as Tenant);
    app.decorateRequest('principal', undefined);

    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Funnel API',
          version: packageVersion(),
          description:
            'Self-hosted real-time recommendation engine. Errors have one shape: {"error": {"code", "message", "details"}}; ' +
            'codes are listed in docs/api.md. Authenticate with "Authorization: Bearer KEY" or "X-API-Key: KEY".',
        },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer' },
            apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          },
        },
        security: authEnabled(config) ? [{ bearer: [] }, { apiKey: [] }] : [],
        tags: [
          { name: 'ingestion', description: 'batch writes of users, items and events' },
          { name: 'entities', description: 'reading and deleting users and items; timelines' },
          { name: 'operations', description: 'health, readiness, metrics' },
        ],
      },
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
      },
    });
    app.addSchema(errorSchema);
    for (const sch of [...entitySchemas, ...recordSchemas]) app.addSchema(sch);

    // Callback-style hooks (not async): an async hook costs a promise and a microtask hop per
    // request on the hot path.
    app.addHook('onRequest', (request, reply, done) => {
      reply.header('x-request-id', request.id);
      if (request.is404) return done();
      try {
        const cfg = request.routeOptions.config;
        const access = cfg.scope ?? 'admin';
        const principal = keyring.authenticate(request.headers, request.ip, access);
        request.principal = principal;
        if (access === 'public' || !principal) return done();
        const limit = principal.rateLimit === undefined ? s.rateLimit : principal.rateLimit;
        if (limit) {
          const r = limiter.take(principal.bucket, limit);
          reply.header('x-ratelimit-limit', String(limit.burst));
          reply.header('x-ratelimit-remaining', String(r.remaining));
          if (!r.ok) {
            const secs = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
            throw new ApiError('RATE_LIMITED', `rate limit of ${limit.rps} requests/s (burst ${limit.burst}) exceeded; retry in ${secs} s`, undefined, {
              'retry-after': String(secs),
            });
          }
        }
        if (cfg.tenant !== false) request.tenant = resolveTenant(byName, principal, request.headers);
      } catch (err) {
        return done(err as Error);
      }
      done();
    });

    app.addHook('onResponse', (request, reply, done) => {
      const route = request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched');
      metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });

    app.setErrorHandler((err, request, reply) => {
      const api = toApiError(err as Error, request, s.bodyLimit);
      if (api.statusCode >= 500) request.log.error({ err, reqId: request.id }, 'request failed');
      return sendError(reply, api);
    });
    app.setNotFoundHandler((request, reply) => {
      const url = request.url.length > 200 ? `${request.url.slice(0, 200)}…` : request.url;
      return sendError(reply, new ApiError('ROUTE_NOT_FOUND', `no route ${request.method} ${url}`));
    });

    app.get('/openapi.json', { config: { scope: 'public', tenant: false }, schema: { hide: true } }, async () => app.swagger());
    await app.register(healthRoutes);
    await app.register(metricsRoutes, { public: s.publicMetrics, text: options.metricsText });
    await app.register(ingestRoutes, { maxBatch: s.maxBatch });
    await app.register(entityRoutes);
    for (const p of options.plugins ?? []) {
      if (typeof p === 'function') await app.register(p);
      else await app.register(p.plugin, p.options ?? {});
    }

    app.addHook('onClose', async () => {
      shuttingDown = true;
      if (ownsTenants) await closeTenants(byName.values());
    });
    return app;
  }
}
