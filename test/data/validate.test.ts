import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../../src/store/sqlite.js';
import { importFile } from '../../src/data/import.js';
import { KeyCounter, Validator, formatValidationReport, validateFiles, validateStore, type ValidationReport } from '../../src/data/validate.js';
import { command } from '../../src/cli/commands/validate.js';

const dir = mkdtempSync(join(tmpdir(), 'funnel-validate-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fixtures = join(import.meta.dirname, '..', 'fixtures', 'data');
let n = 0;
function file(content: string, ext = '.csv'): string {
  const p = join(dir, `f${n++}${ext}`);
  writeFileSync(p, content);
  return p;
}

const NOW = Date.UTC(2024, 0, 1);
const T = Date.UTC(2023, 5, 1);

/** A small dataset with known problems. */
function dataset() {
  const users = file('user_id,country\nu1,FR\nu2,\nu3,DE\nu3,DE\n');
  const items = file('item_id,title,categories\ni1,One,a|b\ni2,Two,\ni3,,c\ni4,Four,\ni5,Five,d\n');
  const ev = ['event_id,user_id,item_id,type,timestamp,request_id'];
  // request r1: 2 impressions, 1 click that joins; request r2: a click without its impression
  ev.push(`e1,u1,i1,impression,${T},r1`, `e2,u1,i2,impression,${T},r1`, `e3,u1,i1,click,${T + 5000},r1`);
  ev.push(`e4,u2,i3,click,${T + 9000},r2`);
  ev.push(`e5,u1,i1,purchase,${T + 60000},`);
  ev.push(`e5,u1,i1,purchase,${T + 60000},`); // repeated id (and identical)
  ev.push(`e7,u9,i1,view,${T},`); // unknown user
  ev.push(`e8,u1,i99,view,${T},`); // unknown item
  ev.push(`e9,u1,i1,view,${NOW + 30 * 86_400_000},`); // future
  ev.push(`e10,u1,i1,view,${Date.UTC(1990, 0, 1)},`); // implausibly old
  ev.push(`e11,u1,i1,view,yesterday,`); // schema error
  ev.push(`e12,,i1,view,${T},`); // missing user
  ev.push(`e13,u1,i1,bookmark,${T},`); // custom type
  const events = file(ev.join('\n') + '\n');
  return { users, items, events };
}

describe('validateFiles', () => {
  it('reports schema errors, empties, duplicates, references, times, types, joins and distributions', async () => {
    const r = await validateFiles({ ...dataset(), now: NOW });
    // rows
    assert.deepEqual([r.users!.rows, r.users!.valid, r.users!.duplicateIds], [4, 4, 1]);
    assert.deepEqual([r.items!.rows, r.items!.valid], [5, 5]);
    const e = r.events!;
    assert.deepEqual([e.rows, e.valid, e.invalid], [13, 11, 2]);
    // schema errors and empty rates per field
    const f = (kind: 'users' | 'items' | 'events', name: string) => r[kind]!.fields.find((x) => x.field === name)!;
    assert.deepEqual(f('events', 'timestamp').errorsByCode, { INVALID_TYPE: 1 });
    assert.equal(f('events', 'timestamp').errors, 1);
    assert.deepEqual(f('events', 'userId').errorsByCode, { MISSING_FIELD: 1 });
    assert.equal(f('events', 'userId').errors, 0);
    assert.equal(f('users', 'attributes.country').empty, 1);
    assert.equal(f('users', 'attributes.country').emptyRate, 0.25);
    assert.equal(f('items', 'title').empty, 1);
    assert.equal(f('items', 'categories').empty, 2);
    assert.deepEqual(e.firstErrors.map((x) => [x.line, x.field, x.code]), [[12, 'timestamp', 'INVALID_TYPE'], [13, 'userId', 'MISSING_FIELD']]);
    // duplicates
    assert.equal(e.duplicateIds, 1);
    assert.equal(e.duplicateEvents, 1);
    // references
    assert.equal(e.unknownUsers, 1);
    assert.equal(e.unknownItems, 1);
    // time
    assert.equal(e.time.future, 1);
    assert.equal(e.time.tooOld, 1);
    // types
    assert.deepEqual(e.byType, { view: 4, impression: 2, click: 2, purchase: 2, bookmark: 1 });
    // join: the r1 click joins, the r2 click does not
    assert.deepEqual([e.join.impressions, e.join.clicks, e.join.joinedClicks, e.join.joinRate, e.join.method], [2, 2, 1, 0.5, 'requestId']);
    assert.equal(e.join.ctr, 1);
    // distributions
    assert.equal(e.perUser.count, 3); // u1, u2, u9
    assert.equal(e.perUser.max, 9);
    assert.equal(e.perItem.count, 4);
    // coverage
    assert.equal(r.coverage.itemsWithoutCategory, 2);
    assert.equal(r.coverage.itemsWithoutCategoryRate, 0.4);
    assert.equal(r.coverage.itemsWithoutEvents, 2); // i4, i5
    assert.equal(r.coverage.usersWithoutEvents, 1); // u3
    // warnings with advice
    const codes = r.warnings.map((w) => w.code);
    for (const c of ['SCHEMA_ERRORS', 'DUPLICATE_IDS', 'DUPLICATE_EVENT_IDS', 'LOW_JOIN_RATE', 'UNKNOWN_USERS', 'UNKNOWN_ITEMS', 'FUTURE_TIMESTAMPS', 'OLD_TIMESTAMPS', 'ITEMS_WITHOUT_CATEGORY', 'FEW_EVENTS']) {
      assert.ok(codes.includes(c), `missing ${c} in ${codes.join(', ')}`);
    }
    const cat = r.warnings.find((w) => w.code === 'ITEMS_WITHOUT_CATEGORY')!;
    assert.equal(cat.message, '40% of items have no category');
    assert.match(cat.advice, /send categories/);
    assert.equal(r.warnings.find((w) => w.code === 'LOW_JOIN_RATE')!.message, 'only 50% of clicks match an impression (by request id)');
    // errors first
    assert.equal(r.warnings[0].level, 'error');
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(r)));
  });

  it('formats a readable table', async () => {
    const r = await validateFiles({ ...dataset(), now: NOW });
    const text = formatValidationReport(r);
    for (const re of [
      /^Data validation report — users .*, items .*, events .*/,
      /Fields of events/,
      /timestamp\s+\d+\s+\d+\s+\S+%\s+1\s+INVALID_TYPE 1/,
      /Event types\n\s+type\s+events\s+share\n\s+view\s+4\s+36%/,
      /impression → click\s+1 of 2 clicks joined \(50%, by request id\); CTR 100%/,
      /per user\s+3\s+1\s+/,
      /WARNING 40% of items have no category\n\s+→ send categories/,
      /line 12, timestamp: INVALID_TYPE/,
    ]) {
      assert.match(text, re);
    }
  });

  it("warns 'no impressions: ranking cannot be trained' and joins by user, item and time without request ids", async () => {
    const ml = await validateFiles({ events: join(fixtures, 'ml-100k', 'u.data'), preset: 'movielens-100k', now: NOW });
    const w = ml.warnings.find((x) => x.code === 'NO_IMPRESSIONS')!;
    assert.equal(w.message, 'no impressions: ranking cannot be trained');
    assert.equal(ml.events!.unknownItems, null);
    assert.ok(ml.warnings.some((x) => x.code === 'NO_ITEMS'));
    const ev = file(
      [
        'user_id,item_id,type,timestamp',
        `u1,i1,impression,${T}`,
        `u1,i1,click,${T + 60_000}`, // joins (1 minute later)
        `u1,i2,click,${T}`, // no impression of i2
        `u2,i1,click,${T + 3 * 3_600_000}`, // other user
        `u1,i1,click,${T + 5 * 3_600_000}`, // hours later: outside the window
      ].join('\n') + '\n',
    );
    const r = await validateFiles({ events: ev, now: NOW });
    assert.deepEqual([r.events!.join.clicks, r.events!.join.joinedClicks, r.events!.join.method], [4, 1, 'window']);
    assert.ok(r.warnings.some((x) => x.code === 'NO_REQUEST_IDS'));
  });

  it('counts unreadable rows (bad CSV) and treats an empty file as no data', async () => {
    const bad = file('user_id,item_id,type,timestamp\nu1,i1,view,1700000000000\nu1,"i2,view,1700000000000\nu1,i1,view\n' + 'u2,i2,view,1700000000000\n'.repeat(5));
    const empty = file('');
    const r = await validateFiles({ events: bad, items: empty, now: NOW });
    assert.equal(r.events!.unreadable, 2);
    assert.deepEqual(r.events!.firstErrors.map((e) => e.code), ['UNTERMINATED_QUOTE', 'COLUMN_COUNT']);
    assert.equal(r.items!.rows, 0);
    assert.ok(r.warnings.some((w) => w.code === 'NO_ITEMS'));
  });

  it('reports no events as an error', async () => {
    const r = await validateFiles({ users: file('user_id\nu1\n') });
    assert.equal(r.events, null);
    assert.deepEqual(r.warnings.filter((w) => w.level === 'error').map((w) => w.code), ['NO_EVENTS']);
  });
});

describe('validateStore', () => {
  it('checks what a store holds', async () => {
    const store = await SqliteStore.open(join(dir, 'v.db'));
    try {
      const d = dataset();
      for (const kind of ['users', 'items', 'events'] as const) await importFile(store, { path: d[kind], kind });
      const r = await validateStore(store, { now: NOW, db: 'v.db' });
      assert.equal(r.source.kind, 'store');
      assert.equal(r.users!.valid, 3); // u3 twice is one user; u9 only in events is undeclared
      assert.equal(r.items!.valid, 5);
      const e = r.events!;
      assert.equal(e.total, 10); // 13 rows - 2 invalid - 1 repeated id
      assert.equal(e.unknownUsers, 1);
      assert.equal(e.unknownItems, 1);
      assert.equal(e.time.future, 1);
      assert.equal(e.time.tooOld, 1);
      assert.deepEqual([e.join.clicks, e.join.joinedClicks, e.join.method], [2, 1, 'window']);
      assert.equal(r.coverage.itemsWithoutCategory, 2);
      assert.equal(r.coverage.itemsWithoutEvents, 2);
      assert.equal(r.coverage.usersWithoutEvents, 1);
      assert.match(formatValidationReport(r), /^Data validation report — store v\.db/);
    } finally {
      await store.close();
    }
  });
});

describe('funnel validate (CLI)', () => {
  async function capture(args: string[]): Promise<{ code: number; out: string }> {
    const log = console.log;
    let out = '';
    console.log = (...a: unknown[]) => {
      out += a.join(' ') + '\n';
    };
    try {
      const code = await command.run(args);
      return { code, out };
    } finally {
      console.log = log;
    }
  }

  it('prints JSON for files, and fails with --strict when the report has errors', async () => {
    const d = dataset();
    const { code, out } = await capture(['--users', d.users, '--items', d.items, '--events', d.events, '--json', '--now', '2024-01-01']);
    assert.equal(code, 0);
    const r = JSON.parse(out) as ValidationReport;
    assert.equal(r.events!.rows, 13);
    const strict = await capture(['--events', d.events, '--strict', '--now', '2024-01-01']);
    assert.equal(strict.code, 1);
    assert.match(strict.out, /Warnings/);
    await assert.rejects(command.run(['--events', d.events, '--db', 'x.db']), /either --db .* or files/);
    await assert.rejects(command.run(['--db', join(dir, 'none.db')]), /no store here/);
  });
});

describe('KeyCounter', () => {
  it('counts keys through growth', () => {
    const c = new KeyCounter(4);
    for (let i = 1; i <= 10_000; i++) c.add(i * 7919 + 2 ** 40, i % 3 === 0 ? 2 : 1);
    assert.equal(c.size, 10_000);
    assert.equal(c.get(3 * 7919 + 2 ** 40), 2);
    assert.equal(c.get(12345), 0);
    assert.equal(c.add(7919 + 2 ** 40), 1);
  });

  it('the Validator works without files (library use)', () => {
    const v = new Validator({ now: NOW });
    v.begin('events', 'api', ['userId', 'itemId', 'type', 'timestamp']);
    v.row('events', { userId: 'a', itemId: 'b', type: 'view', timestamp: T }, []);
    const r = v.finish();
    assert.equal(r.events!.total, 1);
  });
});
