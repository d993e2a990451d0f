import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_ERRORS } from '../../src/server/errors.js';
import { ERROR_CODES } from '../../src/data/schema.js';
import type { FastifyInstance } from 'fastify';
import { errorOf, makeApp, openConfig, tempDir } from './helpers.js';

/** Codes used only inside `details` (besides the store's entry codes). */
const DETAIL_CODES = ['UNKNOWN_FIELD', 'CHECK_FAILED'];

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
const doc = readFileSync(join(root, 'docs', 'api.md'), 'utf8');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('error catalogue', () => {
  it('every code the server code uses is in the catalogue (or a documented detail code)', () => {
    const thrown = new Set<string>();
    const literals = new Set<string>();
    for (const f of sources(join(root, 'src', 'server'))) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/new ApiError\(\s*'([A-Z_]+)'/g)) thrown.add(m[1]);
      for (const m of text.matchAll(/'([A-Z][A-Z0-9]*_[A-Z0-9_]+)'/g)) if (!/^(FST|SQLITE)_/.test(m[1])) literals.add(m[1]); // fastify's and SQLite's own codes
    }
    assert.ok(thrown.size >= 10, `found ${thrown.size} thrown codes`);
    for (const code of thrown) assert.ok(code in API_ERRORS, `${code} is thrown but not in API_ERRORS`);
    for (const code of literals) {
      const known = code in API_ERRORS || code in ERROR_CODES || DETAIL_CODES.includes(code);
      assert.ok(known, `${code} appears in src/server but is neither in API_ERRORS, ERROR_CODES nor the detail codes`);
    }
    for (const code of DETAIL_CODES) assert.ok(doc.includes(`\`${code}\``), `docs/api.md lacks the detail code ${code}`);
  });

  it('every catalogue code is documented in docs/api.md with its status', () => {
    for (const [code, spec] of Object.entries(API_ERRORS)) {
      const row = new RegExp(`\\|\\s*${spec.status}\\s*\\|\\s*\`${code}\`\\s*\\|`);
      assert.match(doc, row, `docs/api.md lacks the row "| ${spec.status} | \`${code}\` |"`);
    }
  });

  it('every entry-level code of the store is documented too', () => {
    for (const code of Object.keys(ERROR_CODES)) assert.ok(doc.includes(`\`${code}\``), `docs/api.md lacks ${code}`);
  });

  it('statuses are HTTP error statuses and descriptions are written', () => {
    for (const [code, spec] of Object.entries(API_ERRORS)) {
      assert.ok(spec.status >= 400 && spec.status < 600, code);
      assert.ok(spec.description.length > 10, code);
      assert.match(code, /^[A-Z][A-Z_]+$/);
    }
  });
});

describe('error handling through the app', () => {
  it('unexpected failures are 500 INTERNAL_ERROR quoting the request id, without internals', async () => {
    const tmp = tempDir();
    const plugin = async (app: FastifyInstance) => {
      app.get('/boom', { config: { scope: 'read' } }, async () => {
        throw new Error('secret internal detail');
      });
      app.get('/busy', { config: { scope: 'read' } }, async () => {
        throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      });
      app.get('/hang', { config: { scope: 'read' } }, () => new Promise(() => undefined));
    };
    const app = await makeApp(openConfig(tmp.dir, { handlerTimeoutMs: 50 }), { plugins: [plugin] });
    try {
      let res = await app.inject({ url: '/boom', headers: { 'x-request-id': 'req-77' } });
      assert.equal(res.statusCode, 500);
      let err = errorOf(res);
      assert.equal(err.code, 'INTERNAL_ERROR');
      assert.match(err.message, /req-77/);
      assert.ok(!res.body.includes('secret'));
      res = await app.inject({ url: '/busy' });
      assert.equal(res.statusCode, 503);
      assert.equal(errorOf(res).code, 'STORE_BUSY');
      assert.equal(res.headers['retry-after'], '1');
      res = await app.inject({ url: '/hang' });
      assert.equal(res.statusCode, 503);
      err = errorOf(res);
      assert.equal(err.code, 'REQUEST_TIMEOUT');
    } finally {
      await app.close();
      tmp.cleanup();
    }
  });
});
