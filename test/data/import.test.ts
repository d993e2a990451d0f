import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite.js';
import { formatImportReport, importCheckpointKey, importFile, type ImportOptions } from '../../src/data/import.js';
import { DataFileError } from '../../src/data/parse.js';
import { MappingError } from '../../src/data/mapping.js';

const root = join(import.meta.dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures', 'data');
const dir = mkdtempSync(join(tmpdir(), 'funnel-import-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function file(content: string | Buffer, ext = '.csv'): string {
  const p = join(dir, `f${n++}${ext}`);
  writeFileSync(p, content);
  return p;
}

async function freshStore(): Promise<SqliteStore> {
  return SqliteStore.open(join(dir, `s${n++}.db`));
}

async function withStore<T>(fn: (s: SqliteStore) => Promise<T>): Promise<T> {
  const s = await freshStore();
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

// Each importFile test runs twice: events read on the calling thread, and on a worker thread
// (import-worker.ts, columns into SqliteStore.ingestEventColumns), which must behave the same.
let threads = false;

function importEvents(store: SqliteStore, path: string, opts: Partial<ImportOptions> = {}) {
  return importFile(store, { path, kind: 'events', threads, ...opts });
}

for (const onWorker of [false, true]) describe(`importFile (events read ${onWorker ? 'on a worker thread' : 'on the calling thread'})`, () => {
  before(() => {
    threads = onWorker;
  });

  it('imports good rows, reports bad ones with line, field and reason, and writes them all to a rejects file', async () => {
    const p = file(
      [
        'event_id,user_id,item_id,type,value,timestamp',
        'e1,u1,i1,view,,1700000000000',
        'e2,u1,i2,click,abc,1700000001000', // wrong type
        'e3,,i2,view,,1700000002000', // missing user
        'e4,u2,i1,purchase,9.5,1700000003000',
        'e5,u2,i1,view', // column count
        'e6,u3,"i,3",like,,1700000004000',
      ].join('\n') + '\n',
    );
    const rejects = join(dir, 'rejects.jsonl');
    await withStore(async (store) => {
      const r = await importEvents(store, p, { rejectsPath: rejects });
      assert.equal(r.rows, 6);
      assert.equal(r.accepted, 3);
      assert.equal(r.rejected, 3);
      assert.deepEqual(r.errorsByCode, { INVALID_TYPE: 1, MISSING_FIELD: 1, COLUMN_COUNT: 1 });
      assert.deepEqual(
        r.firstErrors.map((e) => [e.line, e.field, e.code]),
        [
          [3, 'value', 'INVALID_TYPE'],
          [4, 'userId', 'MISSING_FIELD'],
          [6, undefined, 'COLUMN_COUNT'],
        ],
      );
      const lines = readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(lines.length, 3);
      assert.deepEqual(lines[0].errors, [{ field: 'value', code: 'INVALID_TYPE', message: "value: expected a number, got 'abc'" }]);
      assert.equal(lines[0].line, 3);
      assert.equal(lines[0].record, 'e2,u1,i2,click,abc,1700000001000');
      assert.equal(lines[2].record, 'e5,u2,i1,view');
      const c = await store.counts();
      assert.equal(c.events, 3);
      assert.deepEqual((await store.timeline('u3')).map((e) => e.itemId), ['i,3']);
      const text = formatImportReport(r);
      assert.match(text, /6 rows, 3 accepted, 3 rejected, 0 duplicates/);
      assert.match(text, /line 3, value: INVALID_TYPE: value: expected a number, got 'abc'/);
      assert.match(text, /rejected rows written to/);
    });
  });

  it('counts duplicate rows (same event id) once', async () => {
    const p = file('event_id,user_id,item_id,type,timestamp\ne1,u1,i1,view,1700000000000\ne1,u1,i1,view,1700000000000\ne2,u1,i1,view,1700000000000\n');
    await withStore(async (store) => {
      const r = await importEvents(store, p);
      assert.equal(r.accepted, 2);
      assert.equal(r.duplicates, 1);
      assert.equal((await store.counts()).events, 2);
    });
  });

  it('imports quoted CSV with embedded newlines into item fields', async () => {
    const p = file('item_id,title,text,categories\ni1,"Shoes, red","Line one\nline ""two""",a|b\ni2,Hat,,\n');
    await withStore(async (store) => {
      const r = await importFile(store, { path: p, kind: 'items' });
      assert.equal(r.accepted, 2);
      const it = await store.getItem('i1');
      assert.equal(it?.title, 'Shoes, red');
      assert.equal(it?.text, 'Line one\nline "two"');
      assert.deepEqual(it?.categories, ['a', 'b']);
    });
  });

  it('rejects rows with non-UTF-8 bytes and imports the others', async () => {
    const p = file(Buffer.concat([Buffer.from('user_id,country\nu1,FR\nu2,'), Buffer.from([0xc9, 0x74]), Buffer.from('at\nu3,DE\n')]));
    await withStore(async (store) => {
      const r = await importFile(store, { path: p, kind: 'users' });
      assert.equal(r.accepted, 2);
      assert.deepEqual(r.firstErrors.map((e) => [e.line, e.code]), [[3, 'INVALID_UTF8']]);
      assert.ok(await store.getUser('u3'));
      assert.equal(await store.getUser('u2'), undefined);
    });
  });

  it('accepts unknown event types as custom, rejects them with strictTypes', async () => {
    const p = file('user_id,item_id,type,timestamp\nu1,i1,view,1700000000000\nu1,i1,wishlist,1700000000000\n');
    await withStore(async (store) => {
      const r = await importEvents(store, p);
      assert.equal(r.accepted, 2);
      assert.deepEqual((await store.counts()).eventsByType, { view: 1, wishlist: 1 });
    });
    await withStore(async (store) => {
      const r = await importEvents(store, p, { strictTypes: true });
      assert.equal(r.accepted, 1);
      assert.deepEqual(r.errorsByCode, { UNKNOWN_EVENT_TYPE: 1 });
    });
  });

  it('fails as a whole on files it cannot read, naming the file', async () => {
    await withStore(async (store) => {
      await assert.rejects(importEvents(store, file('')), (e: Error) => e instanceof DataFileError && e.code === 'EMPTY_FILE' && /f\d+\.csv: the file is empty/.test(e.message));
      await assert.rejects(importEvents(store, file(Buffer.from([0x50, 0x4b, 3, 4, 0, 0]))), /zip archive/);
      await assert.rejects(importEvents(store, file('name;age\nbob;3\n')), (e: Error) => e instanceof MappingError && /no column for event field userId/.test(e.message));
      const notCsv = file('Hello, this is\na plain, text, file\nthat someone, gave, us\nby, mistake, really, truly\n');
      await assert.rejects(importFile(store, { path: notCsv, kind: 'users', mapping: { fields: { id: 'Hello' } } }), /does not look like CSV/);
      assert.equal((await store.counts()).events, 0);
    });
  });

  it('warns about a file with a header and no rows, and marks it done', async () => {
    const p = file('user_id,item_id,type,timestamp\n');
    await withStore(async (store) => {
      const r = await importEvents(store, p);
      assert.equal(r.rows, 0);
      assert.match(r.warnings.join(), /no data rows/);
      assert.equal((await importEvents(store, p)).alreadyImported, true);
    });
  });

  it('does nothing the second time, re-imports with force, and takes only new rows of an appended file', async () => {
    const p = file('user_id,item_id,type,timestamp\nu1,i1,view,1700000000000\nu1,i2,view,1700000000001\n');
    await withStore(async (store) => {
      const first = await importEvents(store, p);
      assert.equal(first.accepted, 2);
      const again = await importEvents(store, p);
      assert.equal(again.alreadyImported, true);
      assert.equal(again.rows, 2);
      assert.match(formatImportReport(again), /already imported \(2 rows/);
      assert.equal((await store.counts()).events, 2);
      appendFileSync(p, 'u2,i3,view,1700000000002\n');
      const more = await importEvents(store, p);
      assert.deepEqual(more.resumedFrom, { line: 4, offset: Buffer.byteLength('user_id,item_id,type,timestamp\nu1,i1,view,1700000000000\nu1,i2,view,1700000000001\n') });
      assert.equal(more.rows, 3);
      assert.equal((await store.counts()).events, 3);
      const forced = await importEvents(store, p, { force: true });
      assert.equal(forced.rows, 3);
      assert.equal((await store.counts()).events, 6); // no event ids: forced rows are stored again
    });
  });

  it('refuses to resume a file that changed under its checkpoint', async () => {
    const p = file('user_id,item_id,type,timestamp\nu1,i1,view,1700000000000\n');
    await withStore(async (store) => {
      await importEvents(store, p);
      writeFileSync(p, 'user_id,item_id,type,timestamp\nu9,i1,view,1700000000000\nu1,i2,view,1700000000000\n');
      await assert.rejects(importEvents(store, p), (e: Error) => e instanceof DataFileError && e.code === 'CHANGED' && /changed since it was imported up to line 3; use --force/.test(e.message));
      const r = await importEvents(store, p, { force: true });
      assert.equal(r.accepted, 2);
    });
  });

  it('continues an interrupted import exactly where it stopped (rows and rejects once each)', async () => {
    const lines = ['user_id,item_id,type,timestamp'];
    for (let i = 0; i < 1000; i++) lines.push(i % 100 === 7 ? `u${i},i${i},view,never` : `u${i % 37},i${i},view,${1700000000000 + i}`);
    const p = file(lines.join('\n') + '\n');
    const rejects = join(dir, 'interrupted-rejects.jsonl');
    await withStore(async (store) => {
      const ac = new AbortController();
      let batches = 0;
      const first = await importEvents(store, p, {
        batchSize: 100,
        rejectsPath: rejects,
        signal: ac.signal,
        onProgress: () => {
          if (++batches === 3) ac.abort();
        },
      });
      assert.equal(first.interrupted, true);
      assert.ok(first.rows < 1000);
      // a crash after the last commit may have left extra rejects behind: the resume cuts them
      appendFileSync(rejects, '{"partial": true}\n');
      const second = await importEvents(store, p, { batchSize: 100, rejectsPath: rejects });
      assert.ok(second.resumedFrom);
      assert.equal(second.rows, 1000);
      assert.equal(second.accepted, 990);
      assert.equal(second.rejected, 10);
      assert.equal((await store.counts()).events, 990);
      const rj = readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(rj.map((r) => r.line), [9, 109, 209, 309, 409, 509, 609, 709, 809, 909]);
      const cp = JSON.parse((await store.getCheckpoint(importCheckpointKey(p, 'events')))!);
      assert.equal(cp.done, true);
      assert.equal(cp.offset, readFileSync(p).length);
    });
  });

  it('stops at a line too long to be a record, naming file and line, with the rows before it stored', async () => {
    const good = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ userId: `u${i % 7}`, itemId: `i${i}`, type: 'view', timestamp: 1700000000000 + i }));
    const p = file(good.join('\n') + '\n' + '{"userId": "' + 'x'.repeat(9 * 2 ** 20) + '"}\n' + good[0] + '\n', '.jsonl');
    await withStore(async (store) => {
      await assert.rejects(importEvents(store, p, { batchSize: 100 }), (e: Error) => e instanceof DataFileError && e.code === 'RECORD_TOO_LARGE' && e.line === 1001 && e.message.startsWith(`${p}:1001: a line longer than`));
      assert.equal((await store.counts()).events, 1000);
      const cp = JSON.parse((await store.getCheckpoint(importCheckpointKey(p, 'events')))!);
      assert.equal(cp.line, 1001);
      assert.equal(cp.done, false);
    });
  });

  if (onWorker) it('reads on the calling thread when the worker cannot start (unless threads were asked for)', async () => {
    const lines = ['user_id,item_id,type,timestamp'];
    for (let i = 0; i < 240_000; i++) lines.push(`user-${i % 1000},item-${i},view,${1700000000000 + i}`);
    const p = file(lines.join('\n') + '\n');
    assert.ok(readFileSync(p).length > 8 << 20, 'over the worker threshold');
    process.env.FUNNEL_IMPORT_WORKER_URL = 'file:///nonexistent/import-worker.js';
    try {
      await withStore(async (store) => {
        await assert.rejects(importFile(store, { path: p, kind: 'events', threads: true }), /import worker failed to start/);
        const r = await importFile(store, { path: p, kind: 'events', threads: 'auto' });
        assert.equal(r.accepted, 240_000);
        assert.match(r.warnings.join(), /events read on the main thread: import worker failed to start/);
        assert.equal((await store.counts()).events, 240_000);
      });
    } finally {
      delete process.env.FUNNEL_IMPORT_WORKER_URL;
    }
  });

  it('imports JSON Lines, users and items with presets', async () => {
    await withStore(async (store) => {
      const d = join(fixtures, 'ml-100k');
      for (const [kind, f] of [['users', 'u.user'], ['items', 'u.item'], ['events', 'u.data']] as const) {
        const r = await importFile(store, { path: join(d, f), kind, preset: 'movielens-100k', threads });
        assert.equal(r.rejected, 0, `${f}: ${JSON.stringify(r.firstErrors)}`);
      }
      const c = await store.counts();
      assert.deepEqual([c.users, c.items, c.events, c.undeclaredItems], [2, 2, 3, 0]);
      assert.equal((await store.getItem('10'))?.title, 'Café Story (1995)');
      const j = await importFile(store, { path: join(fixtures, 'funnel', 'events.jsonl'), kind: 'events', preset: 'funnel', threads });
      assert.equal(j.accepted, 3);
      const tl = await store.timeline('u1');
      assert.equal(tl[0].type, 'purchase');
      assert.deepEqual(tl[2].context, { requestId: 'r1', scene: 'home', position: 0, device: 'ios' });
    });
  });
});

describe('funnel import (CLI)', () => {
  const bin = join(root, 'bin', 'funnel.js');
  const env = { ...process.env, FUNNEL_FROM_SOURCE: '1', FUNNEL_QUIET: '1' };
  const run = (args: string[]) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, ...args], { env, cwd: root });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('exit', (code, signal) => resolve({ code, signal, out, err }));
    });

  for (const threads of ['--no-threads', '--threads']) it(`ends with every row exactly once after kill -9 and a rerun (${threads})`, async () => {
    const rows = 200_000;
    const parts = ['user_id,item_id,type,timestamp\n'];
    for (let i = 0; i < rows; i++) parts.push(`u${i % 1000},i${i},view,${1700000000000 + i}\n`);
    const p = file(parts.join(''));
    const db = join(dir, `killed${threads}.db`);
    const args = ['import', '--db', db, '--events', p, '--batch-size', '2000', '--no-bulk', threads];
    const child = spawn(process.execPath, [bin, ...args], { env, cwd: root, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
    // Kill as soon as a first batch is committed (its checkpoint is visible).
    let killedAt: number | undefined;
    let done = false;
    void exited.then(() => (done = true));
    while (!done && killedAt === undefined) {
      await new Promise((r) => setTimeout(r, 15));
      if (!existsSync(db)) continue;
      try {
        const rdb = new Database(db, { readonly: true, fileMustExist: true });
        try {
          const row = rdb.prepare("SELECT value FROM checkpoints WHERE key LIKE 'import:%'").get() as { value: string } | undefined;
          if (row) {
            killedAt = JSON.parse(row.value).offset as number;
            child.kill('SIGKILL');
          }
        } finally {
          rdb.close();
        }
      } catch {
        // the schema may not exist yet
      }
    }
    assert.equal(await exited, 'SIGKILL', 'the import should have been killed mid-way');
    const partial = new Database(db, { readonly: true });
    const before = (partial.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    partial.close();
    assert.ok(before < rows, `killed import stored ${before} of ${rows}`);

    const rerun = await run(args);
    assert.equal(rerun.code, 0, rerun.err);
    assert.match(rerun.out, /resumed at line/);
    const check = new Database(db, { readonly: true });
    const stats = check.prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT item_idx) AS items FROM events').get() as { n: number; items: number };
    check.close();
    assert.deepEqual(stats, { n: rows, items: rows });
    const third = await run(args);
    assert.match(third.out, /already imported/);
  });

  it('imports a preset folder, reports per file and exits 1 when a file fails', async () => {
    const db = join(dir, 'cli.db');
    const ok = await run(['import', '--db', db, '--preset', 'movielens-100k', '--dir', join(fixtures, 'ml-100k'), '--json']);
    assert.equal(ok.code, 0, ok.err);
    const out = JSON.parse(ok.out);
    assert.deepEqual(out.reports.map((r: { kind: string; accepted: number }) => [r.kind, r.accepted]), [['users', 2], ['items', 2], ['events', 3]]);
    const empty = file('');
    const bad = await run(['import', '--db', db, '--events', empty, '--users', join(fixtures, 'funnel', 'users.csv'), '--map', 'users.id=user_id']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /f\d+\.csv: the file is empty/);
    assert.match(bad.out, /users .*users\.csv: 1 rows, 1 accepted/);
    const usage = await run(['import', '--db', db, '--events', 'x.csv', '--map', 'colour=red']);
    assert.equal(usage.code, 1);
    assert.match(usage.err, /--map: 'colour' is not a field of users, items or events/);
    const missing = await run(['import', '--db', db, '--events', join(dir, 'missing.csv')]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /missing\.csv: no such file \(given for --events\)/);
  });
});
