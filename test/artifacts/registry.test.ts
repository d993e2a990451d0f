import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { latestArtifact, listArtifacts, newVersion, pruneArtifacts, readManifest, watchArtifacts, writeArtifact } from '../../src/artifacts/registry.js';

const root = mkdtempSync(join(tmpdir(), 'funnel-art-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('artifact registry', () => {
  it('versions sort in creation order', () => {
    const a = newVersion(new Date(Date.UTC(2026, 0, 1, 10, 0, 0, 5)));
    const b = newVersion(new Date(Date.UTC(2026, 0, 1, 10, 0, 0, 40)));
    assert.ok(a < b);
    assert.match(a, /^v20260101-100000-005-[0-9a-f]{6}$/);
  });

  it('writes an artifact atomically with its manifest and lists the newest', async () => {
    const { dir, manifest } = await writeArtifact(root, async (tmp) => {
      mkdirSync(join(tmp, 'led'));
      writeFileSync(join(tmp, 'led', 'x.bin'), 'x');
      return { retrieval: { kind: 'retrieval:led', path: 'led' } };
    }, { version: 'v20260101-100000-000-aaaaaa', metrics: { recall_at_20: 0.3 }, dataSnapshot: { events: 10 } });
    assert.equal(readManifest(dir).version, manifest.version);
    assert.deepEqual(readManifest(dir).metrics, { recall_at_20: 0.3 });
    await writeArtifact(root, async () => ({}), { version: 'v20260102-100000-000-bbbbbb' });
    assert.deepEqual(listArtifacts(root), ['v20260101-100000-000-aaaaaa', 'v20260102-100000-000-bbbbbb']);
    assert.equal(latestArtifact(root), join(root, 'v20260102-100000-000-bbbbbb'));
  });

  it('leaves nothing behind when a build fails or a component is missing', async () => {
    await assert.rejects(writeArtifact(root, async () => { throw new Error('boom'); }), /boom/);
    await assert.rejects(writeArtifact(root, async () => ({ m: { kind: 'x', path: 'missing' } })), /missing was not written/);
    assert.ok(readdirSync(root).every((n) => !n.startsWith('.tmp-')));
    assert.equal(listArtifacts(root).length, 2);
  });

  it('refuses folders that are not artifacts', () => {
    assert.throws(() => readManifest(join(root, 'nope')), /not an artifact/);
  });

  it('prunes old artifacts but never the one in use', async () => {
    const r2 = mkdtempSync(join(tmpdir(), 'funnel-art2-'));
    for (const v of ['v20260101-000000-000-000001', 'v20260102-000000-000-000002', 'v20260103-000000-000-000003']) await writeArtifact(r2, async () => ({}), { version: v });
    const removed = pruneArtifacts(r2, 1, join(r2, 'v20260101-000000-000-000001'));
    assert.deepEqual(removed, ['v20260102-000000-000-000002']);
    assert.ok(existsSync(join(r2, 'v20260101-000000-000-000001')));
    rmSync(r2, { recursive: true, force: true });
  });

  it('notices a newer artifact', async () => {
    const r3 = mkdtempSync(join(tmpdir(), 'funnel-art3-'));
    let current: string | undefined;
    const seen: string[] = [];
    const stop = watchArtifacts(r3, () => current, (d) => { seen.push(d); current = d; }, 50);
    const { dir } = await writeArtifact(r3, async () => ({}));
    for (let i = 0; i < 40 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    stop();
    assert.deepEqual(seen, [dir]);
    rmSync(r3, { recursive: true, force: true });
  });
});
