/**
 * Shared types of the HTTP server: apps (tenants), principals, the model holder, and the
 * fastify augmentations route plugins rely on.
 *
 * A route plugin (e.g. the recommendation routes) is an ordinary fastify plugin registered
 * through `buildApp({ plugins: [...] })` (or `app.register(...)` before `ready()`). Each route
 * declares the scope it needs in `config.scope`; the request then carries `request.tenant`
 * (the app's store and model holder) and `request.principal`:
 *
 *   const routes: FastifyPluginAsync = async (app) => {
 *     app.get('/users/:id/recommendations', { config: { scope: 'read' }, schema: {...} }, async (req) => {
 *       const { store, models } = req.tenant;
 *       const model = models.current();
 *       if (!model) throw new ApiError('MODEL_NOT_LOADED', `app ${req.tenant.name} has no model yet`);
 *       ...
 *     });
 *   };
 *
 * A route without `config.scope` needs the admin scope (fail closed).
 */
import type { Store } from '../store/types.js';
import type { FunnelMetrics } from './metrics.js';
import type { ServerConfig, AppConfig } from './config.js';

export const SCOPES = ['ingest', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
/** What a route needs: a scope, or nothing at all (`public`: health, OpenAPI document). */
export type RouteAccess = Scope | 'public';

/**
 * Holds a tenant's loaded model artifact and swaps it atomically. Serving code calls `current()`
 * per request (never caches it across requests), so a reload takes effect at the next request.
 */
export interface ModelHolder<A = unknown> {
  /** The loaded artifact, or undefined when none is loaded (cold start). */
  current(): A | undefined;
  /** Version of the loaded artifact (manifest version), or undefined. */
  version(): string | undefined;
  /**
   * Loads the newest artifact when it differs from the current one and swaps it in; resolves
   * to the version loaded afterwards. Must not throw away the current model on failure.
   */
  reload(): Promise<string | undefined>;
  /** Releases resources (watchers, native indexes). */
  close?(): Promise<void>;
}

/** The default holder: no model, ever. Routes needing one answer 503 MODEL_NOT_LOADED. */
export const NO_MODEL: ModelHolder<never> = Object.freeze({
  current: () => undefined,
  version: () => undefined,
  reload: async () => undefined,
});

/** Builds a tenant's model holder from its app configuration (`models` folder etc.). */
export type ModelHolderFactory = (app: AppConfig) => ModelHolder | Promise<ModelHolder>;

/** One app served by the server: its own store, models and keys. */
export interface Tenant {
  readonly name: string;
  readonly store: Store;
  readonly models: ModelHolder;
  readonly config: AppConfig;
}

/** Who sent the request, after authentication. */
export interface Principal {
  /** Label for logs: the key's `name`, or a short fingerprint of it; 'anonymous' when auth is off. */
  readonly label: string;
  /** Rate-limit bucket id (key fingerprint, or client address when auth is off). */
  readonly bucket: string;
  readonly scopes: ReadonlySet<Scope>;
  /** The app the key belongs to; undefined for keys spanning every app (and when auth is off). */
  readonly app?: string;
  /** Per-key rate limit override. */
  readonly rateLimit?: { rps: number; burst: number } | null;
}

/** A readiness check: resolves to a problem description, or undefined when fine. */
export type ReadinessCheck = () => Promise<string | undefined> | string | undefined;

/** Server-wide state and hooks, available as `app.funnel`. */
export interface FunnelContext {
  readonly config: ServerConfig;
  readonly tenants: ReadonlyMap<string, Tenant>;
  readonly metrics: FunnelMetrics;
  /** True once shutdown began: /health/ready answers 503 SHUTTING_DOWN. */
  readonly shuttingDown: boolean;
  /** Adds a check that /health/ready runs (e.g. 'models loaded'). */
  addReadinessCheck(name: string, check: ReadinessCheck): void;
  /** Runs every readiness check; returns the problems (empty when ready). */
  readiness(): Promise<{ check: string; problem: string }[]>;
  /** Reloads every tenant's model; resolves to the version now loaded per app. */
  reloadModels(): Promise<Record<string, string | undefined>>;
  /**
   * Graceful stop: readiness flips to 503 at once, then after `drainDelayMs` (default: the
   * server setting) the server stops accepting connections, waits for in-flight requests
   * and closes the stores it opened.
   */
  shutdown(options?: { drainDelayMs?: number }): Promise<void>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route needs; default 'admin'. */
    scope?: RouteAccess;
    /** Whether the route runs against one app (default true): resolves `request.tenant`. */
    tenant?: boolean;
  }
  interface FastifyRequest {
    /** The app the request runs against (routes with `config.tenant !== false`). */
    tenant: Tenant;
    principal: Principal | undefined;
  }
  interface FastifyInstance {
    funnel: FunnelContext;
  }
}
