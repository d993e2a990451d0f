/**
 * A served app for the serving tests: a SQLite store in a temp folder, filled by `fill`, a
 * model trained into it with `config`, and the real Fastify app with the recommendation routes
 * and one API key holding every scope.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { parseConfig } from '../../src/server/config.js';
import { artifactHolders, recommendationRoutes } from '../../src/serving/routes.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { FunnelConfig } from '../../src/train/config.js';
import { train, type TrainResult } from '../../src/train/train.js';

export interface ServedApp {
  app: FastifyInstance;
  store: SqliteStore;
  dir: string;
  trained: TrainResult;
  /** Authorization header of the all-scopes key. */
  auth: { authorization: string };
  close(): Promise<void>;
}

export async function startServedApp(opts: {
  name: string;
  config: FunnelConfig;
  fill: (store: SqliteStore) => Promise<void>;
  seed?: number;
  /** Extra fields of the app's configuration (e.g. `impressions: false`). */
  app?: Record<string, unknown>;
  /** The API key (default derived from the name). */
  key?: string;
}): Promise<ServedApp> {
  const key = opts.key ?? `${opts.name}-test-key-0000000001`;
  const dir = mkdtempSync(join(tmpdir(), `funnel-${opts.name}-`));
  const store = await SqliteStore.open(join(dir, 'app.db'));
  await opts.fill(store);
  const trained = await train(store, { modelsDir: join(dir, 'models'), config: opts.config, seed: opts.seed ?? 3 });
  const config = parseConfig({ apps: { shop: { db: 'app.db', models: 'models', keys: [{ key, scopes: ['read', 'ingest', 'admin'] }], ...opts.app } } }, { baseDir: dir, source: 'test' });
  const models = await artifactHolders(config.apps.shop);
  const app = await buildApp({ config, tenants: [{ name: 'shop', store, models, config: config.apps.shop }], plugins: [recommendationRoutes], processMetrics: false });
  await app.ready();
  return {
    app, store, dir, trained, auth: { authorization: `Bearer ${key}` },
    async close() {
      await app.close();
      await models.close?.();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
