import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../../src/store/sqlite.js';
import { storeConformance } from './conformance.js';
import type { Store } from '../../src/store/types.js';

const dir = mkdtempSync(join(tmpdir(), 'funnel-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

storeConformance('sqlite', {
  create: (opts) => SqliteStore.open(join(dir, `s${n++}.db`), opts),
  reopen: async (store: Store) => {
    const path = (store as SqliteStore).path;
    await store.close();
    return SqliteStore.open(path);
  },
});

describe('SqliteStore specifics', () => {
  it('uses WAL journaling and refuses a newer schema', async () => {
    const path = join(dir, 'wal.db');
    const s = await SqliteStore.open(path);
    await s.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.prepare("UPDATE meta SET value = '999' WHERE key = 'schema_version'").run();
    db.close();
    await assert.rejects(SqliteStore.open(path), /schema version 999 is newer/);
  });

  it('answers calls after close with a clear error', async () => {
    const s = await SqliteStore.open(':memory:');
    await s.close();
    await assert.rejects(s.appendEvents([]), /store is closed/);
  });
});
