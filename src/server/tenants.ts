/**
 * Apps (tenants): opening each app's store and model holder, and choosing the app a request
 * runs against.
 *
 * The app of a request is the app its key belongs to. A key listed in the configuration's
 * top-level `keys` spans every app and names one with the `X-Funnel-App` header (optional when
 * the server has a single app). An app-bound key may send the header only with its own app's
 * name. With authentication off, the header picks the app (required when there are several).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { openStore } from '../store/open.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/types.js';
import { ApiError } from './errors.js';
import type { AppConfig, ServerConfig } from './config.js';
import { NO_MODEL, type ModelHolderFactory, type Principal, type Tenant } from './types.js';

export const APP_HEADER = 'x-funnel-app';

/** Opens an app's store with its options (':memory:' gives a private in-memory store). */
export function openAppStore(app: AppConfig): Promise<Store> {
  if (app.db === ':memory:') return SqliteStore.open(':memory:', { ...app.store });
  // A server checkpoints the WAL off its event loop (src/store/checkpointer.ts).
  return openStore(app.db, { backgroundCheckpoint: true, ...app.store });
}

/**
 * Opens every app of a configuration. On failure, whatever was opened is closed again and the
 * error names the app.
 */
export async function openTenants(config: ServerConfig, models?: ModelHolderFactory): Promise<Tenant[]> {
  const out: Tenant[] = [];
  try {
    for (const app of Object.values(config.apps)) {
      let store: Store;
      try {
        store = await openAppStore(app);
      } catch (err) {
        throw new Error(`app '${app.name}': cannot open its store ${app.db}: ${(err as Error).message}`);
      }
      let holder = NO_MODEL as Tenant['models'];
      try {
        if (models) holder = await models(app);
      } catch (err) {
        await store.close();
        throw new Error(`app '${app.name}': cannot set up its models: ${(err as Error).message}`);
      }
      out.push({ name: app.name, store, models: holder, config: app });
    }
  } catch (err) {
    await closeTenants(out);
    throw err;
  }
  return out;
}

/** Closes every tenant's model holder and store (errors are collected, the first rethrown). */
export async function closeTenants(tenants: Iterable<Tenant>): Promise<void> {
  let first: unknown;
  for (const t of tenants) {
    try {
      await t.models.close?.();
    } catch (err) {
      first ??= err;
    }
    try {
      await t.store.close();
    } catch (err) {
      first ??= err;
    }
  }
  if (first) throw first;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === 'string' && s.trim() !== '' ? s.trim() : undefined;
}

/** The tenant a request runs against, or a 400/403/404 ApiError. */
export function resolveTenant(tenants: ReadonlyMap<string, Tenant>, principal: Principal | undefined, headers: IncomingHttpHeaders): Tenant {
  const asked = headerValue(headers, APP_HEADER);
  const bound = principal?.app;
  if (bound !== undefined) {
    if (asked !== undefined && asked !== bound) throw new ApiError('APP_FORBIDDEN', `this key belongs to another app than '${asked}'`);
    const t = tenants.get(bound);
    if (!t) throw new ApiError('APP_NOT_FOUND', `app '${bound}' is not served here`);
    return t;
  }
  if (asked !== undefined) {
    const t = tenants.get(asked);
    if (!t) throw new ApiError('APP_NOT_FOUND', `no app named '${asked}' (apps: ${[...tenants.keys()].join(', ')})`);
    return t;
  }
  if (tenants.size === 1) return tenants.values().next().value as Tenant;
  throw new ApiError('APP_REQUIRED', `this server has several apps (${[...tenants.keys()].join(', ')}); name one with the X-Funnel-App header`);
}
