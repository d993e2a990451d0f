import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MappingError,
  canonicalTarget,
  compileMapping,
  parseDateText,
  parseMapOption,
  parseNumberRange,
  scaleEpoch,
  type MappedFieldError,
} from '../../src/data/mapping.js';
import { openSource, type SourceOptions } from '../../src/data/import.js';
import { PRESETS, presetFile } from '../../src/data/presets.js';
import type { EntityKind } from '../../src/data/model.js';
import { decodeEvents, EventColumnsBuilder } from '../../src/data/event-columns.js';

const dir = mkdtempSync(join(tmpdir(), 'funnel-mapping-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fixtures = join(import.meta.dirname, '..', 'fixtures', 'data');
let n = 0;

function file(content: string | Buffer, ext = '.csv'): string {
  const p = join(dir, `f${n++}${ext}`);
  writeFileSync(p, content);
  return p;
}

interface Mapped {
  entities: Record<string, unknown>[];
  errors: { line: number; errors: MappedFieldError[] }[];
  mapping: string[];
}

async function mapFile(path: string, kind: EntityKind, opts: Partial<SourceOptions> = {}): Promise<Mapped> {
  const { reader, mapper, mapping } = await openSource({ path, kind, ...opts });
  const out: Mapped = { entities: [], errors: [], mapping };
  try {
    for await (const b of reader.batches()) {
      for (let i = 0; i < b.length; i++) {
        const perr = b.errors.get(i);
        if (perr) {
          out.errors.push({ line: b.line[i], errors: [{ field: '', code: perr.code, message: perr.message }] });
          continue;
        }
        const errs: MappedFieldError[] = [];
        const e = b.values ? mapper.fromObject(b.values[i], errs) : mapper.fromBatch(b, i, errs);
        if (e) out.entities.push(e as unknown as Record<string, unknown>);
        else out.errors.push({ line: b.line[i], errors: errs });
      }
    }
  } finally {
    await reader.close();
  }
  return out;
}

const codes = (m: Mapped) => m.errors.map((e) => [e.line, ...e.errors.map((x) => `${x.field}:${x.code}`)]);

describe('conversions', () => {
  it('parses plain decimal numbers exactly, and nothing else', () => {
    const p = (s: string) => parseNumberRange(s, 0, s.length);
    assert.equal(p('4.1'), 4.1);
    assert.equal(p(' -0.25 '), -0.25);
    assert.equal(p('1700000000123'), 1700000000123);
    assert.equal(p('12345678901234567890'), 12345678901234567890);
    assert.equal(p('1e3'), 1000);
    assert.equal(p('.5'), 0.5);
    for (const bad of ['', ' ', 'abc', '0x10', 'Infinity', '1,5', '1.2.3', '--1', '4 stars']) assert.ok(Number.isNaN(p(bad)), bad);
  });

  it('scales epoch numbers by unit, or by magnitude', () => {
    assert.equal(scaleEpoch(881250949, 'auto'), 881250949000);
    assert.equal(scaleEpoch(1700000000123, 'auto'), 1700000000123);
    assert.equal(scaleEpoch(1700000000123456, 'auto'), 1700000000123);
    assert.equal(scaleEpoch(5, 's'), 5000);
    assert.equal(scaleEpoch(5, 'ms'), 5);
  });

  it('reads dates; times without a zone are UTC', () => {
    assert.equal(parseDateText('2020-01-02T03:04:05Z'), Date.UTC(2020, 0, 2, 3, 4, 5));
    assert.equal(parseDateText('2020-01-02 03:04:05'), Date.UTC(2020, 0, 2, 3, 4, 5));
    assert.equal(parseDateText('2020-01-02T03:04:05+02:00'), Date.UTC(2020, 0, 2, 1, 4, 5));
    assert.equal(parseDateText('2020-01-02'), Date.UTC(2020, 0, 2));
    assert.equal(parseDateText('01-Jan-1995'), Date.UTC(1995, 0, 1));
    assert.ok(Number.isNaN(parseDateText('yesterday')));
    assert.ok(Number.isNaN(parseDateText('12')));
  });
});

describe('mapping CSV rows', () => {
  it('maps usual column names automatically; other columns become context / attributes', async () => {
    const m = await mapFile(
      file('event_id,user_id,item_id,type,value,timestamp,scene,position,request_id,page\ne1,u1,i1,click,2.5,1700000000000,home,3,r1,p9\n'),
      'events',
    );
    assert.deepEqual(m.errors, []);
    assert.deepEqual(m.entities, [
      {
        id: 'e1',
        userId: 'u1',
        itemId: 'i1',
        type: 'click',
        value: 2.5,
        timestamp: 1700000000000,
        context: { scene: 'home', position: 3, requestId: 'r1', page: 'p9' },
      },
    ]);
    assert.ok(m.mapping.includes('userId ← column user_id'));
  });

  it('reports wrong types per field, with what was expected', async () => {
    const m = await mapFile(
      file('user,item,type,value,ts,position\nu1,i1,view,abc,1700000000,1\nu1,i1,view,1,soon,1\nu1,i1,view,1,1700000000,1.5\nu1,i1,view,1,1700000000,-2\n'),
      'events',
    );
    assert.deepEqual(codes(m), [
      [2, 'value:INVALID_TYPE'],
      [3, 'timestamp:INVALID_TYPE'],
      [4, 'context.position:INVALID_TYPE'],
      [5, 'context.position:INVALID_VALUE'],
    ]);
    const e = m.errors[0].errors[0];
    assert.equal(e.expected, 'a number');
    assert.match(e.message, /value: expected a number, got 'abc'/);
    assert.match(m.errors[1].errors[0].message, /epoch seconds\/milliseconds or an ISO-8601 date, got 'soon'/);
  });

  it('reports missing required fields (empty cells) and names the column', async () => {
    const m = await mapFile(file('user_id,item_id,type,timestamp\n,i1,view,1700000000\nu1,i1,,\n'), 'events');
    assert.deepEqual(codes(m), [
      [2, 'userId:MISSING_FIELD'],
      [3, 'type:MISSING_FIELD', 'timestamp:MISSING_FIELD'],
    ]);
    assert.match(m.errors[0].errors[0].message, /userId is required but column user_id is empty/);
  });

  it('accepts unknown event types as custom ones, unless strict', async () => {
    const p = file('user_id,item_id,type,timestamp\nu1,i1,view,1700000000\nu1,i1,bookmark,1700000000\nu1,i1,share_link,1700000000\n');
    const loose = await mapFile(p, 'events');
    assert.deepEqual(loose.entities.map((e) => e.type), ['view', 'bookmark', 'share_link']);
    const strict = await mapFile(p, 'events', { strictTypes: true, customEventTypes: ['bookmark'] });
    assert.deepEqual(strict.entities.map((e) => e.type), ['view', 'bookmark']);
    assert.deepEqual(codes(strict), [[4, 'type:UNKNOWN_EVENT_TYPE']]);
    assert.match(strict.errors[0].errors[0].message, /unknown event type 'share_link' \(strict types\); expected one of impression, view/);
  });

  it('checks what the store checks: id length, time range, price sign', async () => {
    const long = 'x'.repeat(257);
    const m = await mapFile(file(`user_id,item_id,type,timestamp\n${long},i1,view,1700000000\nu1,i1,view,9000000000000000\n`), 'events');
    assert.deepEqual(codes(m), [[2, 'userId:ID_TOO_LONG'], [3, 'timestamp:INVALID_VALUE']]);
    assert.match(m.errors[1].errors[0].message, /outside 1970\.\.2200; check the unit/);
    const items = await mapFile(file('item_id,price\ni1,-3\ni2,4\n'), 'items');
    assert.deepEqual(codes(items), [[2, 'price:INVALID_VALUE']]);
  });

  it('reads timestamps in s, ms and ISO, with a configured unit', async () => {
    const p = file('user_id,item_id,type,timestamp\nu,i,view,1700000000\nu,i,view,1700000000000\nu,i,view,2023-11-14T22:13:20Z\nu,i,view,2023-11-14 22:13:20\n');
    const m = await mapFile(p, 'events');
    assert.deepEqual(m.entities.map((e) => e.timestamp), [1.7e12, 1.7e12, 1.7e12, 1.7e12]);
    const asMs = await mapFile(p, 'events', { mapping: { fields: { timestamp: { column: 'timestamp', unit: 'ms' } } } });
    assert.equal(asMs.entities[0].timestamp, 1700000000);
  });

  it('uses constants, lists with separators and ignored values, booleans and attributes', async () => {
    const m = await mapFile(
      file('id,name,genres,in_stock,year\n1,Toy Story,Animation|Comedy,yes,1995\n2,Heat,(no genres listed),0,1995\n3,X,,maybe,\n'),
      'items',
      {
        mapping: {
          fields: {
            title: 'name',
            categories: { column: 'genres', split: '|', ignore: ['(no genres listed)'] },
            available: 'in_stock',
            'attributes.year': { column: 'year', as: 'integer' },
            'attributes.source': { value: 'test' },
          },
        },
      },
    );
    assert.deepEqual(m.entities, [
      { id: '1', title: 'Toy Story', categories: ['Animation', 'Comedy'], available: true, attributes: { year: 1995, source: 'test' } },
      { id: '2', title: 'Heat', available: false, attributes: { year: 1995, source: 'test' } },
    ]);
    assert.deepEqual(codes(m), [[4, 'available:INVALID_TYPE']]);
  });

  it('fails early when a named column is missing or a required field has no source', async () => {
    await assert.rejects(openSource({ path: file('a,b\n1,2\n'), kind: 'events' }), (err: Error) => {
      assert.ok(err instanceof MappingError);
      assert.match(err.message, /no column for event field userId \(looked for userid, user, uid.* in the header \(a, b\)\); pass --map userId=COLUMN/);
      return true;
    });
    await assert.rejects(
      openSource({ path: file('u,i\n1,2\n'), kind: 'events', mapping: { fields: { userId: 'u', itemId: 'i', timestamp: 'when' } } }),
      /column 'when' \(for timestamp\) is not in the header \(u, i\)/,
    );
    await assert.rejects(
      openSource({ path: file('u,i,t\n1,2,3\n'), kind: 'events', mapping: { fields: { userId: 'u', itemId: 'i', timestamp: 't' } } }),
      /no column for event field type .*--map type==view/,
    );
    await assert.rejects(openSource({ path: file('1,2\n'), kind: 'users', header: false, mapping: { fields: { id: 'user' } } }), /no header, so id cannot come from column 'user'; name columns by position/);
    await assert.rejects(openSource({ path: file('a\n1\n'), kind: 'users', mapping: { fields: { colour: 'a' } } }), /unknown user field 'colour'/);
  });

  it('maps headerless files by position', async () => {
    const m = await mapFile(file('7\t42\t4\t881250949\n'), 'events', {
      header: false,
      mapping: { fields: { userId: 0, itemId: '#2', value: 2, type: { value: 'rating' }, timestamp: { column: 3, unit: 's' } } },
    });
    assert.deepEqual(m.entities, [{ userId: '7', itemId: '42', type: 'rating', value: 4, timestamp: 881250949000 }]);
  });
});

describe('mapping JSON Lines', () => {
  it('accepts the native shape and snake_case names, nested context and attributes', async () => {
    const m = await mapFile(
      file(
        [
          '{"userId":"u1","itemId":"i1","type":"view","timestamp":1700000000000,"context":{"scene":"home","page":2}}',
          '{"user_id":"u2","item_id":"i2","type":"click","timestamp":"2023-11-14T22:13:20Z","request_id":"r1","value":"3"}',
          '["not", "an", "object"]',
          '{"user_id":"u3","item_id":"i3","type":"view","timestamp":true}',
        ].join('\n'),
        '.jsonl',
      ),
      'events',
    );
    assert.deepEqual(m.entities, [
      { userId: 'u1', itemId: 'i1', type: 'view', timestamp: 1.7e12, context: { scene: 'home', page: 2 } },
      { userId: 'u2', itemId: 'i2', type: 'click', timestamp: 1.7e12, value: 3, context: { requestId: 'r1' } },
    ]);
    assert.deepEqual(codes(m), [[3, ':NOT_AN_OBJECT'], [4, 'timestamp:INVALID_TYPE']]);
  });

  it('maps items with arrays or joined lists', async () => {
    const m = await mapFile(
      file('{"id":"a","categories":["x","y"],"price":"2.5","attributes":{"brand":"b"}}\n{"item_id":"b","categories":"x|z","color":"red"}\n', '.jsonl'),
      'items',
    );
    assert.deepEqual(m.entities, [
      { id: 'a', categories: ['x', 'y'], price: 2.5, attributes: { brand: 'b' } },
      { id: 'b', categories: ['x', 'z'], attributes: { color: 'red' } },
    ]);
  });
});

describe('--map option', () => {
  it('parses columns, positions, constants, units, separators and removals', () => {
    assert.deepEqual(parseMapOption('events', 'user_id=uid, itemId=#2,type==view,timestamp=ts:s,value=,context.page=pg:integer'), {
      userId: { column: 'uid' },
      itemId: { column: 1 },
      type: { value: 'view' },
      timestamp: { column: 'ts', unit: 's' },
      value: null,
      'context.page': { column: 'pg', as: 'integer' },
    });
    assert.deepEqual(parseMapOption('items', 'categories=genres:;,item_id=movieId'), { categories: { column: 'genres', split: ';' }, id: { column: 'movieId' } });
    assert.throws(() => parseMapOption('events', 'colour=x'), /unknown event field 'colour'/);
    assert.throws(() => parseMapOption('events', 'userId'), /should be TARGET=COLUMN/);
    assert.equal(canonicalTarget('events', 'request_id'), 'context.requestId');
    assert.equal(canonicalTarget('users', 'user_id'), 'id');
  });

  it('compiles a mapping directly (library use)', () => {
    const m = compileMapping('users', { fields: { id: 'uid' } }, { format: 'delimited', header: ['uid', 'country'] });
    assert.deepEqual(m.targets, ['id', 'attributes.country']);
  });
});

describe('presets', () => {
  it('movielens-100k: u.data, u.item (Latin-1, genre flags), u.user', async () => {
    const d = join(fixtures, 'ml-100k');
    const ev = await mapFile(join(d, 'u.data'), 'events', { preset: 'movielens-100k' });
    assert.deepEqual(ev.errors, []);
    assert.deepEqual(ev.entities[0], { userId: '1', itemId: '10', type: 'rating', value: 4, timestamp: 880000000000 });
    const items = await mapFile(join(d, 'u.item'), 'items', { preset: 'movielens-100k' });
    assert.deepEqual(items.errors, []);
    assert.deepEqual(items.entities[0], {
      id: '10',
      title: 'Café Story (1995)',
      createdAt: Date.UTC(1995, 0, 1),
      categories: ['Animation', "Children's", 'Comedy'],
      attributes: { imdbUrl: 'http://example.org/cafe' },
    });
    assert.equal(items.entities[1].createdAt, Date.UTC(1939, 0, 1));
    const users = await mapFile(join(d, 'u.user'), 'users', { preset: 'movielens-100k' });
    assert.deepEqual(users.entities[0], { id: '1', attributes: { age: 24, gender: 'M', occupation: 'technician', zip: '01234' } });
  });

  it('movielens: ratings.csv and movies.csv (CRLF, quoted titles)', async () => {
    const d = join(fixtures, 'movielens');
    const ev = await mapFile(join(d, 'ratings.csv'), 'events', { preset: 'movielens' });
    assert.deepEqual(ev.entities[0], { userId: '1', itemId: '10', type: 'rating', value: 4.5, timestamp: 964982703000 });
    const items = await mapFile(join(d, 'movies.csv'), 'items', { preset: 'movielens' });
    assert.deepEqual(items.entities.map((i) => [i.id, i.title, i.categories]), [
      ['10', 'Story, The (1995)', ['Adventure', 'Comedy']],
      ['11', 'Quiet Film (2001)', undefined],
    ]);
  });

  it('frappe: usage counts as view events with context; unknown means empty', async () => {
    const d = join(fixtures, 'frappe');
    const ev = await mapFile(join(d, 'frappe.csv'), 'events', { preset: 'frappe' });
    assert.deepEqual(ev.errors, []);
    assert.deepEqual(ev.entities[0], {
      userId: '0',
      itemId: '5',
      type: 'view',
      value: 3,
      timestamp: Date.UTC(2015, 0, 1),
      context: { daytime: 'morning', weekday: 'sunday', isweekend: 'weekend', cost: 'free', weather: 'sunny', country: 'Spain', city: '0' },
    });
    const items = await mapFile(join(d, 'meta.csv'), 'items', { preset: 'frappe' });
    assert.equal(items.entities[0].title, 'Notes');
    assert.deepEqual(items.entities[0].categories, ['Productivity']);
    assert.equal(items.entities[1].title, undefined);
  });

  it('funnel: the native CSV columns, and the same names in JSON Lines', async () => {
    const d = join(fixtures, 'funnel');
    const csv = await mapFile(join(d, 'events.csv'), 'events', { preset: 'funnel' });
    const jsonl = await mapFile(join(d, 'events.jsonl'), 'events', { preset: 'funnel' });
    assert.deepEqual(csv.errors, []);
    assert.deepEqual(jsonl.errors, []);
    assert.deepEqual(csv.entities, jsonl.entities);
    assert.deepEqual(csv.entities[0], {
      id: 'e1',
      userId: 'u1',
      itemId: 'i1',
      type: 'impression',
      timestamp: 1700000000000,
      context: { scene: 'home', position: 0, requestId: 'r1', device: 'ios' },
    });
    const items = await mapFile(join(d, 'items.csv'), 'items', { preset: 'funnel' });
    assert.deepEqual(items.entities[0], {
      id: 'i1',
      title: 'Red shoes',
      categories: ['shoes', 'women'],
      tags: ['red'],
      price: 59.9,
      available: true,
      createdAt: 1690000000000,
      text: 'Comfortable, "red"\nshoes',
      imageUrl: 'https://example.org/i1.jpg',
    });
    const users = await mapFile(join(d, 'users.csv'), 'users', { preset: 'funnel' });
    assert.deepEqual(users.entities[0], { id: 'u1', attributes: { country: 'FR', device: 'ios', age_bucket: '25-34' } });
  });

  it('names its files and refuses unknown presets or kinds', () => {
    assert.equal(presetFile('movielens-100k', 'events').file, 'u.data');
    assert.throws(() => presetFile('nope', 'events'), /unknown preset 'nope'; expected one of movielens-100k, movielens, frappe, funnel/);
    assert.throws(() => presetFile('movielens', 'users'), /preset 'movielens' has no users file/);
    assert.ok(Object.keys(PRESETS).length >= 4);
  });
});

describe('Mapper.eventInto (events straight into columns)', () => {
  /** Every record through fromBatch and through eventInto: the same events, the same refusals. */
  async function both(path: string, opts: Partial<SourceOptions> = {}) {
    const { reader, mapper } = await openSource({ path, kind: 'events', ...opts });
    assert.ok(mapper.eventInto, 'delimited event files have the column path');
    const objects: unknown[] = [];
    const refusedA: string[] = [];
    const refusedB: string[] = [];
    const cols = new EventColumnsBuilder(10_000);
    try {
      for await (const b of reader.batches()) {
        for (let i = 0; i < b.length; i++) {
          if (b.errors.get(i)) continue;
          const ea: MappedFieldError[] = [];
          const e = mapper.fromBatch(b, i, ea);
          if (e) objects.push(e);
          else refusedA.push(`${b.line[i]} ${ea.map((x) => `${x.field}:${x.code}:${x.message}`).join('|')}`);
          const eb: MappedFieldError[] = [];
          if (!mapper.eventInto!(b, i, eb, cols)) refusedB.push(`${b.line[i]} ${eb.map((x) => `${x.field}:${x.code}:${x.message}`).join('|')}`);
        }
      }
    } finally {
      await reader.close();
    }
    const built = cols.build();
    assert.deepEqual(refusedB, refusedA);
    assert.deepEqual(decodeEvents(built), objects);
    return { objects, refused: refusedA, whole: built.whole.length };
  }

  it('gives the events and refusals of fromBatch, odd rows included', async () => {
    const p = file(
      [
        'event_id,user_id,item_id,type,value,timestamp,scene,position,request_id,device,campaign',
        'e1,u1,i1,view,,1700000000000,home,0,r1,ios,spring',
        'e2,u1,i2,click,2.5,1700000000001,,,,,',
        ',u2,i3,purchase,19.99,2024-01-02T03:04:05Z,detail,3,r2,web,',
        'e4,,i4,view,,1700000000003,,,,,', // no user: refused
        'e5,u3,i5,view,abc,1700000000004,,,,,', // value not a number: refused
        'e6,u3,i6,view,,1700000000005,home,-1,,,', // position below 0: refused
        'e7,u3,i7,my_type,,1700000000006,home,1.5,,,x', // position not an integer: refused
        'e8,u4,i8,view,,99999999999999999,,,,,', // out of range
        `e9,u5,${'i'.repeat(300)},view,,1700000000008,,,,,`, // id too long
        'e10,u6,i10,view,,1700000000009,home,2,r9,ios,',
      ].join('\n') + '\n',
    );
    const r = await both(p, { mapping: { fields: { 'context.campaign': 'campaign' } } });
    assert.equal(r.objects.length, 5);
    assert.ok(r.refused.length >= 4);
    const r2 = await both(p, { strictTypes: true, mapping: { fields: { 'context.campaign': 'campaign' } } });
    assert.ok(r2.refused.some((x) => x.includes('UNKNOWN_EVENT_TYPE')));
  });

  it('matches fromBatch on the funnel preset and on a file without context columns', async () => {
    await both(join(fixtures, 'funnel', 'events.csv'), { preset: 'funnel' });
    await both(file('user,item,kind,time\nu1,i1,view,1700000000\nu2,i2,click,1700000001\n'), {
      mapping: { fields: { userId: 'user', itemId: 'item', type: 'kind', timestamp: 'time' } },
    });
  });
});
