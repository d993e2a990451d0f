/**
 * Recommendation routes: POST /recommendations, GET /users/:id/recommendations,
 * GET /items/:id/similar, GET /models, POST /models/reload.
 *
 * Each app's model holder (an ArtifactHolder) holds the loaded artifact; the service built on
 * it (funnels per scene, catalog, impression log) is cached per artifact, so a model swap is one
 * pointer change and a request keeps the service it started with.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { ApiError, errorResponses } from '../server/errors.js';
import type { AppConfig } from '../server/config.js';
import type { ModelHolder, ModelHolderFactory } from '../server/types.js';
import type { Store } from '../store/types.js';
import { resolveConfig } from '../train/config.js';
import { ArtifactHolder, type LoadedArtifact } from './artifact.js';
import { StoreCatalog } from './catalog.js';
import { openLiveProfiles, type LiveProfiles } from './profiles.js';
import { recommendationJson } from './response-json.js';
import { loadRankingComponent } from '../rank/model.js';
import { RecommendationService, UnknownItemError, UnknownSceneError, type RecommendRequest, type RecommendResponse, type ServiceOptions } from './service.js';

export interface RecommendationRoutesOptions {
  service?: Omit<ServiceOptions, 'now'>;
  /** Catalog refresh period (ms); default 30 s. */
  catalogRefreshMs?: number;
}

/** The model holder factory for `funnel serve`: one ArtifactHolder per app on its `models` folder, watched. */
export const artifactHolders: ModelHolderFactory = async (app: AppConfig) => {
  if (!app.models) return { current: () => undefined, version: () => undefined, reload: async () => undefined };
  const h = new ArtifactHolder(app.models);
  await h.reload();
  h.watch();
  return h;
};

const catalogs = new WeakMap<Store, Promise<StoreCatalog>>();
/** The same catalogs once open, for the per-request change check (no promise per request). */
const openCatalogs = new WeakMap<Store, StoreCatalog>();
const liveProfiles = new WeakMap<Store, Promise<LiveProfiles>>();
const services = new WeakMap<LoadedArtifact, WeakMap<Store, RecommendationService>>();

const filterProps = {
  categories: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 100 },
  minPrice: { type: 'number' },
  maxPrice: { type: 'number' },
  availableOnly: { type: 'boolean' },
} as const;

const recommendBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    userId: { type: 'string', minLength: 1, maxLength: 256 },
    history: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 256 }, maxItems: 1000, description: 'item ids, most recent first (instead of the stored history)' },
    k: { type: 'integer', minimum: 1, maximum: 1000 },
    scene: { type: 'string', minLength: 1, maxLength: 64 },
    filters: { type: 'object', additionalProperties: false, properties: filterProps },
    exclude: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 256 }, maxItems: 10000 },
    excludeSeen: { type: 'boolean' },
    session: { type: 'string', minLength: 1, maxLength: 128 },
    page: { type: 'integer', minimum: 1, maximum: 1000 },
    debug: { type: 'boolean' },
  },
} as const;

const recommendResponse = {
  type: 'object',
  required: ['requestId', 'scene', 'modelVersion', 'items'],
  properties: {
    requestId: { type: 'string' },
    scene: { type: 'string' },
    modelVersion: { type: 'string' },
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'score', 'sources'],
        properties: {
          id: { type: 'string' },
          score: { type: 'number' },
          sources: { type: 'array', items: { type: 'string' } },
          debug: { type: 'object', additionalProperties: true },
        },
      },
    },
    debug: { type: 'object', additionalProperties: true },
  },
} as const;

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    k: { type: 'integer', minimum: 1, maximum: 1000 },
    scene: { type: 'string', minLength: 1, maxLength: 64 },
    category: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 100 },
    minPrice: { type: 'number' },
    maxPrice: { type: 'number' },
    availableOnly: { type: 'boolean' },
    exclude: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 1000 },
    excludeSeen: { type: 'boolean' },
    session: { type: 'string', minLength: 1, maxLength: 128 },
    page: { type: 'integer', minimum: 1, maximum: 1000 },
    debug: { type: 'boolean' },
  },
} as const;

interface ListQuery {
  k?: number;
  scene?: string;
  category?: string[];
  minPrice?: number;
  maxPrice?: number;
  availableOnly?: boolean;
  exclude?: string[];
  excludeSeen?: boolean;
  session?: string;
  page?: number;
  debug?: boolean;
}

export const recommendationRoutes: FastifyPluginAsync<RecommendationRoutesOptions> = async (app, opts) => {
  const m = app.funnel.metrics;
  const served = m.counter({ name: 'funnel_recommended_items_total', help: 'Items returned, by generator that proposed them', labelNames: ['app', 'generator'] });
  const requests = m.counter({ name: 'funnel_recommendation_requests_total', help: 'Recommendation requests', labelNames: ['app', 'scene', 'cold'] });
  const version = m.gauge({ name: 'funnel_model_info', help: 'Loaded model version (value 1)', labelNames: ['app', 'version'] });
  const stage = m.histogram({ name: 'funnel_funnel_stage_seconds', help: 'Time per funnel stage', labelNames: ['stage'], buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05] });

  /** The live profiles of a store, rebuilt once (shared by every artifact served from it). */
  function profilesFor(store: Store): Promise<LiveProfiles> {
    let live = liveProfiles.get(store);
    if (!live) {
      live = openLiveProfiles(store);
      liveProfiles.set(store, live);
    }
    return live;
  }

  // Rebuild the live profiles at start (not on the first request) for apps whose model scores
  // with the ranker; /health/ready answers 503 until they are rebuilt.
  const profileStatus = new Map<string, string | undefined>(); // app → problem (undefined: ready)
  app.addHook('onReady', async () => {
    for (const t of app.funnel.tenants.values()) {
      const art = t.models?.current() as LoadedArtifact | undefined;
      if (!art?.manifest.components.ranker) continue;
      const config = resolveConfig(art.manifest.config ?? {}, `${art.dir}/manifest.json config`);
      if (!Object.values(config.scenes).some((sc) => sc.scorer === 'ranker')) continue;
      profileStatus.set(t.name, 'profiles rebuilding');
      profilesFor(t.store).then(
        () => profileStatus.set(t.name, undefined),
        (e: Error) => profileStatus.set(t.name, `profiles failed: ${e.message}`),
      );
    }
  });
  app.funnel.addReadinessCheck('profiles', () => {
    const problems = [...profileStatus].filter(([, p]) => p !== undefined).map(([name, p]) => `${name}: ${p}`);
    return problems.length ? problems.join('; ') : undefined;
  });

  async function serviceFor(store: Store, holder: ModelHolder, appName: string, impressions?: boolean): Promise<RecommendationService> {
    const art = holder.current() as LoadedArtifact | undefined;
    if (!art) throw new ApiError('MODEL_NOT_LOADED', `app '${appName}' has no trained model yet (run 'funnel train')`);
    let byStore = services.get(art);
    if (!byStore) {
      byStore = new WeakMap();
      services.set(art, byStore);
    }
    openCatalogs.get(store)?.refreshIfChanged(); // cheap: a counter compare
    let svc = byStore.get(store);
    if (!svc) {
      let cat = catalogs.get(store);
      if (!cat) {
        cat = StoreCatalog.open(store, opts.catalogRefreshMs ?? 30_000);
        void cat.then((c) => openCatalogs.set(store, c), () => undefined); // a failed open is reported by the await below
        catalogs.set(store, cat);
      }
      const config = resolveConfig(art.manifest.config ?? {}, `${art.dir}/manifest.json config`);
      const catalog = await cat;
      // The ranking stage: the artifact's ranker and the store's live profiles, when a scene scores with it.
      let ranking: Pick<ServiceOptions, 'ranker' | 'profiles'> = {};
      if (Object.values(config.scenes).some((sc) => sc.scorer === 'ranker') && art.manifest.components.ranker) {
        const ranker = await loadRankingComponent(art.dir, art.manifest.components, catalog.snapshot);
        ranking = { ranker, profiles: (await profilesFor(store)).profiles };
      }
      svc = byStore.get(store); // another request may have built it meanwhile
      if (svc) return svc;
      svc = new RecommendationService(store, art, catalog, config, { ...opts.service, ...(impressions === false ? { logImpressions: false } : {}), ...ranking });
      byStore.set(store, svc);
      version.set({ app: appName, version: art.version }, 1);
    }
    return svc;
  }

  /**
   * A recommendation response as JSON text: the service builds exactly the schema's fields, and
   * one flat string replaces the schema's serializer, which concatenated many (the serve
   * bench's heap profile: 15% of the bytes a request allocated); response-json.ts writes it.
   */
  function json(reply: FastifyReply, body: RecommendResponse): string {
    void reply.type('application/json; charset=utf-8');
    return recommendationJson(body);
  }

  async function run(svc: RecommendationService, appName: string, req: RecommendRequest): Promise<RecommendResponse> {
    try {
      const r = await svc.recommend(req);
      requests.inc({ app: appName, scene: r.scene, cold: r.items.length && !req.userId && !req.history?.length ? 'yes' : 'no' });
      // One increment per generator, not per (item, generator): a labelled inc hashes its labels.
      const perGenerator = new Map<string, number>();
      for (const it of r.items) for (const g of it.sources) perGenerator.set(g, (perGenerator.get(g) ?? 0) + 1);
      for (const [g, n] of perGenerator) served.inc({ app: appName, generator: g }, n);
      if (r.debug) for (const [k, v] of Object.entries(r.debug.timings)) stage.observe({ stage: k.replace(/_ms$/, '') }, v / 1000);
      return r;
    } catch (err) {
      if (err instanceof UnknownSceneError) throw new ApiError('VALIDATION_FAILED', err.message, [{ field: 'scene', code: 'UNKNOWN_SCENE', message: err.message }]);
      throw err;
    }
  }

  app.post<{ Body: RecommendRequest }>(
    '/recommendations',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['recommendations'],
        summary: 'Recommendations for a user id or an explicit history',
        body: recommendBody,
        response: { 200: recommendResponse, ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
      },
    },
    async (req, reply) => {
      const svc = await serviceFor(req.tenant.store, req.tenant.models, req.tenant.name, req.tenant.config.impressions);
      return json(reply, await run(svc, req.tenant.name, req.body));
    },
  );

  app.get<{ Params: { id: string }; Querystring: ListQuery }>(
    '/users/:id/recommendations',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['recommendations'],
        summary: "Recommendations for a user (history read from the store at request time)",
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 256 } } },
        querystring: listQuery,
        response: { 200: recommendResponse, ...errorResponses(400, 401, 403, 429, 503) },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const svc = await serviceFor(req.tenant.store, req.tenant.models, req.tenant.name, req.tenant.config.impressions);
      const body: RecommendRequest = {
        userId: req.params.id, k: q.k, scene: q.scene, exclude: q.exclude, excludeSeen: q.excludeSeen, session: q.session, page: q.page, debug: q.debug,
        filters: { categories: q.category, minPrice: q.minPrice, maxPrice: q.maxPrice, availableOnly: q.availableOnly },
      };
      return json(reply, await run(svc, req.tenant.name, body));
    },
  );

  app.get<{ Params: { id: string }; Querystring: { k?: number; category?: string[]; availableOnly?: boolean } }>(
    '/items/:id/similar',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['recommendations'],
        summary: 'Items similar to an item',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 256 } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { k: { type: 'integer', minimum: 1, maximum: 1000 }, category: { type: 'array', items: { type: 'string' } }, availableOnly: { type: 'boolean' } },
        },
        response: {
          200: {
            type: 'object',
            required: ['item', 'modelVersion', 'items'],
            properties: {
              item: { type: 'string' },
              modelVersion: { type: 'string' },
              items: { type: 'array', items: { type: 'object', required: ['id', 'score'], properties: { id: { type: 'string' }, score: { type: 'number' } } } },
            },
          },
          ...errorResponses(400, 401, 403, 404, 429, 503),
        },
      },
    },
    async (req) => {
      const svc = await serviceFor(req.tenant.store, req.tenant.models, req.tenant.name, req.tenant.config.impressions);
      try {
        const r = svc.similar(req.params.id, req.query.k ?? 20, { categories: req.query.category, availableOnly: req.query.availableOnly });
        return { item: req.params.id, modelVersion: svc.version, items: r.items };
      } catch (err) {
        if (err instanceof UnknownItemError) throw new ApiError('ITEM_NOT_FOUND', `no item '${req.params.id}'`);
        throw err;
      }
    },
  );

  app.get(
    '/models',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['models'],
        summary: 'The loaded model: version, creation time, data snapshot and offline metrics',
        response: {
          200: {
            type: 'object',
            required: ['loaded'],
            properties: {
              loaded: { type: 'boolean' },
              version: { type: 'string' },
              createdAt: { type: 'string' },
              dataSnapshot: { type: 'object', additionalProperties: true },
              metrics: { type: 'object', additionalProperties: true },
            },
          },
          ...errorResponses(401, 403, 429),
        },
      },
    },
    async (req) => {
      const art = req.tenant.models.current() as LoadedArtifact | undefined;
      if (!art) return { loaded: false };
      const mf = art.manifest;
      return { loaded: true, version: mf.version, createdAt: mf.createdAt, dataSnapshot: mf.dataSnapshot, metrics: mf.metrics };
    },
  );

  app.post(
    '/models/reload',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['models'],
        summary: 'Load the newest artifact now (it is also picked up automatically)',
        response: {
          200: { type: 'object', required: ['loaded'], properties: { loaded: { type: 'boolean' }, version: { type: 'string' }, error: { type: 'string' } } },
          ...errorResponses(401, 403, 429),
        },
      },
    },
    async (req) => {
      const v = await req.tenant.models.reload();
      const err = (req.tenant.models as Partial<ArtifactHolder>).lastError;
      return { loaded: v !== undefined, ...(v ? { version: v } : {}), ...(err ? { error: err.message } : {}) };
    },
  );
};
