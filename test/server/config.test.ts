import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConfigError,
  DEFAULT_SERVER,
  authEnabled,
  defaultConfig,
  loadConfigFile,
  parseApiKeyFlag,
  parseConfig,
  parseSize,
} from '../../src/server/config.js';
import { serveConfig } from '../../src/cli/commands/serve.js';
import { makeApp, tempDir } from './helpers.js';

const K1 = 'k1-0123456789abcdef';
const K2 = 'k2-0123456789abcdef';

function problems(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(raw, { baseDir: '/srv', source: 'cfg.json', env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  it('parses apps, keys and server settings; relative paths resolve against the file folder', () => {
    const c = parseConfig(
      {
        server: { port: 9000, bodyLimit: '2mb', rateLimit: { rps: 5 } },
        apps: {
          shop: { db: 'data/shop.db', models: 'models/shop', keys: [{ key: K1, scopes: ['ingest', 'read', 'read'], name: 'backend' }], store: { unknownEntities: 'reject' } },
          blog: { db: '/abs/blog.db', keys: [{ keyEnv: 'BLOG_KEY', scopes: ['admin'], rateLimit: null }] },
        },
        keys: [{ key: K2, scopes: ['admin'] }],
      },
      { baseDir: '/srv', source: 'cfg.json', env: { BLOG_KEY: 'blog-key-from-env-000' } },
    );
    assert.equal(c.server.port, 9000);
    assert.equal(c.server.bodyLimit, 2 * 1024 * 1024);
    assert.deepEqual(c.server.rateLimit, { rps: 5, burst: 5 });
    assert.equal(c.server.host, DEFAULT_SERVER.host);
    assert.equal(c.apps.shop.db, '/srv/data/shop.db');
    assert.equal(c.apps.shop.models, '/srv/models/shop');
    assert.deepEqual(c.apps.shop.keys, [{ key: K1, scopes: ['ingest', 'read'], name: 'backend', app: 'shop' }]);
    assert.deepEqual(c.apps.shop.store, { unknownEntities: 'reject' });
    assert.equal(c.apps.blog.keys[0].key, 'blog-key-from-env-000');
    assert.equal(c.apps.blog.keys[0].rateLimit, null);
    assert.deepEqual(c.keys, [{ key: K2, scopes: ['admin'] }]);
    assert.equal(authEnabled(c), true);
  });

  it('reports every problem with its path at once', () => {
    const p = problems({
      server: { port: 70000, hots: 'x', bodyLimit: 'lots', rateLimit: { rps: 0 }, logLevel: 'loud' },
      apps: {
        shop: { db: 'a.db', keys: [{ key: 'short', scopes: ['write'] }, { scopes: [] }, 'k'], extra: 1 },
        'bad name!': { db: 'b.db' },
        twin: { db: 'a.db' },
        env: { db: 'e.db', keys: [{ keyEnv: 'MISSING_VAR', scopes: ['read'] }] },
      },
      keys: [{ key: K1, scopes: ['admin'] }, { key: K1, scopes: ['read'] }],
      other: true,
    });
    const expect = [
      /^other: unknown field/,
      /^server\.hots: unknown field/,
      /^server\.port: expected an integer in 0\.\.65535/,
      /^server\.bodyLimit: expected bytes/,
      /^server\.rateLimit\.rps: expected a number > 0/,
      /^server\.logLevel: expected one of/,
      /^apps\.shop\.extra: unknown field/,
      /^apps\.shop\.keys\[0\]\.key: a key must be at least 16 characters/,
      /^apps\.shop\.keys\[0\]\.scopes\[0\]: unknown scope "write"/,
      /^apps\.shop\.keys\[1\]\.key: expected a string/,
      /^apps\.shop\.keys\[1\]\.scopes: expected a non-empty array/,
      /^apps\.shop\.keys\[2\]: expected an object/,
      /^apps\.bad name!: an app name is/,
      /^apps\.env\.keys\[0\]\.keyEnv: the environment variable MISSING_VAR is not set/,
      /^keys: the key k1-0… is also listed in keys/,
      /^apps\.twin\.db: \/srv\/a\.db is also the store of app 'shop'/,
    ];
    for (const re of expect) assert.ok(p.some((x) => re.test(x)), `missing ${re} in\n${p.join('\n')}`);
    // Keys never appear in full in messages.
    assert.ok(!p.join('\n').includes(K1));
  });

  it('switches server-side impressions per app (on by default)', () => {
    const c = parseConfig({ apps: { a: { db: 'a.db' }, b: { db: 'b.db', impressions: false } } }, { baseDir: '/srv', source: 'cfg.json', env: {} });
    assert.equal(c.apps.a.impressions, undefined);
    assert.equal(c.apps.b.impressions, false);
    assert.match(problems({ apps: { a: { db: 'a.db', impressions: 'no' } } })[0], /apps\.a\.impressions: expected true or false/);
  });

  it('takes how much of the store file to map (store.mmapMb)', () => {
    assert.deepEqual(parseConfig({ apps: { a: { db: 'a.db', store: { mmapMb: 0 } } } }).apps.a.store, { mmapMb: 0 });
    assert.deepEqual(parseConfig({ apps: { a: { db: 'a.db', store: { mmapMb: 256 } } } }).apps.a.store, { mmapMb: 256 });
    for (const bad of [-1, 1.5, '256', 2 ** 21]) assert.match(problems({ apps: { a: { db: 'a.db', store: { mmapMb: bad } } } })[0], /apps\.a\.store\.mmapMb: expected an integer number of MiB/);
  });

  it('takes how often a worker looks for the other workers\' writes (store.followMs)', () => {
    assert.deepEqual(parseConfig({ apps: { a: { db: 'a.db', store: { followMs: 50 } } } }).apps.a.store, { followMs: 50 });
    for (const bad of [-1, 1.5, '200', 70_000]) assert.match(problems({ apps: { a: { db: 'a.db', store: { followMs: bad } } } })[0], /apps\.a\.store\.followMs: expected an integer number of milliseconds/);
  });

  it('needs at least one app', () => {
    assert.match(problems({ apps: {} })[0], /apps: expected an object with at least one app/);
    assert.throws(() => parseConfig([], { source: 'x.json' }), /x\.json: invalid configuration/);
  });

  it('loads a file: JSON syntax errors and unreadable files are clear', () => {
    const tmp = tempDir();
    try {
      const f = join(tmp.dir, 'funnel.config.json');
      writeFileSync(f, JSON.stringify({ apps: { a: { db: 'a.db' } } }));
      assert.equal(loadConfigFile(f).apps.a.db, join(tmp.dir, 'a.db'));
      writeFileSync(f, '{"apps": {');
      assert.throws(() => loadConfigFile(f), /funnel\.config\.json: invalid configuration:\n {2}- not valid JSON/);
      assert.throws(() => loadConfigFile(join(tmp.dir, 'nope.json')), /nope\.json: cannot read the configuration file \(ENOENT\)/);
    } finally {
      tmp.cleanup();
    }
  });

  it('the default configuration: one app, authentication off unless keys are given', () => {
    const c = defaultConfig({ db: 'x.db' });
    assert.deepEqual(Object.keys(c.apps), ['default']);
    assert.equal(authEnabled(c), false);
    const k = defaultConfig({ db: 'x.db', keys: [parseApiKeyFlag(`${K1}:ingest,read`)] });
    assert.deepEqual(k.apps.default.keys, [{ key: K1, scopes: ['ingest', 'read'], app: 'default' }]);
    assert.equal(authEnabled(k), true);
  });

  it('--api-key KEY:scopes', () => {
    assert.deepEqual(parseApiKeyFlag(`${K1}:admin`), { key: K1, scopes: ['admin'] });
    assert.throws(() => parseApiKeyFlag(K1), /expects KEY:scope/);
    assert.throws(() => parseApiKeyFlag(`${K1}:root`), /unknown scope 'root'/);
    assert.throws(() => parseApiKeyFlag('short:read'), /at least 16 characters/);
  });

  it('sizes', () => {
    assert.equal(parseSize(100), 100);
    assert.equal(parseSize('10mb'), 10 * 1024 * 1024);
    assert.equal(parseSize('512KB'), 512 * 1024);
    assert.equal(parseSize('1.5k'), 1536);
    assert.equal(parseSize('0'), undefined);
    assert.equal(parseSize('ten'), undefined);
    assert.equal(parseSize(-1), undefined);
  });

  it('funnel serve flags', () => {
    const tmp = tempDir();
    try {
      let c = serveConfig(['--db', join(tmp.dir, 's.db'), '--port', '0', '--workers', '3', '--api-key', `${K1}:read`, '--rate-limit', '10:20', '--body-limit', '1mb']);
      assert.equal(c.server.port, 0);
      assert.equal(c.server.workers, 3);
      assert.deepEqual(c.server.rateLimit, { rps: 10, burst: 20 });
      assert.equal(c.server.bodyLimit, 1024 * 1024);
      assert.equal(c.apps.default.db, join(tmp.dir, 's.db'));
      const f = join(tmp.dir, 'funnel.config.json');
      writeFileSync(f, JSON.stringify({ server: { port: 1234, host: '0.0.0.0' }, apps: { a: { db: 'a.db' } } }));
      c = serveConfig(['--config', f, '--host', '127.0.0.1']);
      assert.equal(c.server.port, 1234);
      assert.equal(c.server.host, '127.0.0.1');
      assert.throws(() => serveConfig(['--config', f, '--db', 'x.db']), /--db cannot be combined with --config/);
      assert.throws(() => serveConfig(['--port', '99999']), /--port expects 0\.\.65535/);
      assert.throws(() => serveConfig(['--workers', 'many']), /--workers expects a number/);
      assert.throws(() => serveConfig(['--rate-limit', 'fast']), /--rate-limit expects RPS/);
      assert.throws(() => serveConfig(['--bogus']), /Unknown option '--bogus'/);
    } finally {
      tmp.cleanup();
    }
  });

  it("db ':memory:' is a private in-memory store, not a file", async () => {
    const c = parseConfig({ apps: { mem: { db: ':memory:' } } }, { baseDir: process.cwd() });
    assert.equal(c.apps.mem.db, ':memory:');
    const app = await makeApp(c);
    try {
      assert.equal((await app.inject({ method: 'POST', url: '/users', payload: [{ id: 'm' }] })).json().accepted, 1);
      assert.equal((await app.inject({ url: '/users/m' })).statusCode, 200);
    } finally {
      await app.close();
    }
    assert.equal(existsSync(':memory:'), false);
  });
});
