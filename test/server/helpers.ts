/** Shared helpers of the server tests: temporary stores, configurations, the app, requests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, type AppOptions } from '../../src/server/app.js';
import { parseConfig, type ServerConfig } from '../../src/server/config.js';

export const KEYS = {
  aIngest: 'a-ingest-key-0000000001',
  aRead: 'a-read-key-00000000001',
  aAdmin: 'a-admin-key-0000000001',
  bAll: 'b-admin-key-0000000001',
  global: 'global-admin-key-00001',
  globalRead: 'global-read-key-000001',
} as const;

export function tempDir(prefix = 'funnel-srv-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Two apps (a, b) with keys of every kind, plus top-level keys spanning both. */
export function twoAppConfig(dir: string, server: Record<string, unknown> = {}): ServerConfig {
  return parseConfig(
    {
      server,
      apps: {
        a: {
          db: 'a.db',
          keys: [
            { key: KEYS.aIngest, scopes: ['ingest'], name: 'a-ingest' },
            { key: KEYS.aRead, scopes: ['read'] },
            { key: KEYS.aAdmin, scopes: ['admin'] },
          ],
        },
        b: { db: 'b.db', keys: [{ key: KEYS.bAll, scopes: ['ingest', 'read', 'admin'] }] },
      },
      keys: [
        { key: KEYS.global, scopes: ['admin'] },
        { key: KEYS.globalRead, scopes: ['read'] },
      ],
    },
    { baseDir: dir, source: 'test' },
  );
}

/** One app 'default' without keys (authentication off). */
export function openConfig(dir: string, server: Record<string, unknown> = {}): ServerConfig {
  return parseConfig({ server, apps: { default: { db: 'default.db' } } }, { baseDir: dir, source: 'test' });
}

export function makeApp(config: ServerConfig, extra: Partial<AppOptions> = {}): Promise<FastifyInstance> {
  return buildApp({ config, processMetrics: false, ...extra });
}

export function bearer(key: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${key}`, ...extra };
}

/** The error object of an error response, checked to have the one shape. */
export function errorOf(res: LightMyRequestResponse): { code: string; message: string; details?: Record<string, unknown>[] } {
  const body = res.json() as { error?: { code: string; message: string; details?: Record<string, unknown>[] } };
  if (!body.error || typeof body.error.code !== 'string' || typeof body.error.message !== 'string') {
    throw new Error(`not an error body: ${res.body}`);
  }
  return body.error;
}

export async function call(app: FastifyInstance, opts: InjectOptions): Promise<LightMyRequestResponse> {
  return app.inject(opts);
}

export const ev = (userId: string, itemId: string, type = 'view', timestamp = 1_700_000_000_000, extra: Record<string, unknown> = {}) => ({
  userId,
  itemId,
  type,
  timestamp,
  ...extra,
});
