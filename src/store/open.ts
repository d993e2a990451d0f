/**
 * Opening the configured store. The embedded default is a SQLite file: `--db PATH`, else the
 * FUNNEL_DB environment variable, else ./funnel.db. Other backends (PostgreSQL) are selected by
 * a URL scheme once they exist.
 */
import { resolve } from 'node:path';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
import type { Store } from './types.js';

export const DEFAULT_DB = 'funnel.db';

export function resolveDbPath(db?: string): string {
  return resolve(db ?? process.env.FUNNEL_DB ?? DEFAULT_DB);
}

export async function openStore(db?: string, opts: SqliteStoreOptions = {}): Promise<Store> {
  const target = db ?? process.env.FUNNEL_DB ?? DEFAULT_DB;
  if (/^postgres(ql)?:\/\//.test(target)) {
    throw new Error(`${target}: the PostgreSQL store is not available yet; use a SQLite file path`);
  }
  return SqliteStore.open(resolveDbPath(target), opts);
}
