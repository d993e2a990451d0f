/**
 * Versioned model artifacts: the only thing the offline trainer and the serving processes share
 * (besides the store). An artifact is a folder `ROOT/<version>/` holding `manifest.json` and one
 * sub-folder per component (retrieval model, ANN index, ranker...). It is built under a
 * temporary name and renamed into place, so a reader never sees a half-written artifact.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export const MANIFEST = 'manifest.json';
export const ARTIFACT_FORMAT = 1;

export interface ComponentEntry {
  /** What loads it, e.g. 'retrieval:led', 'index:hnsw', 'ranker:lr'. */
  kind: string;
  /** Folder relative to the artifact root. */
  path: string;
  [key: string]: unknown;
}

export interface ArtifactManifest {
  format: number;
  version: string;
  createdAt: string;
  /** What data the artifact was trained on. */
  dataSnapshot: { store?: string; events?: number; users?: number; items?: number; lastSeq?: number; [k: string]: unknown };
  /** Offline metrics measured at training time. */
  metrics: Record<string, unknown>;
  /** Scene configuration the artifact was trained for (optional). */
  config?: unknown;
  components: Record<string, ComponentEntry>;
}

/** Versions sort lexicographically in creation order: v<yyyymmdd-hhmmss-mmm>-<random>. */
export function newVersion(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}-${p(now.getUTCMilliseconds(), 3)}`;
  return `v${stamp}-${randomBytes(3).toString('hex')}`;
}

const VERSION_RE = /^v\d{8}-\d{6}-\d{3}-[0-9a-f]{6}$/;

export interface BuildArtifactOptions {
  dataSnapshot?: ArtifactManifest['dataSnapshot'];
  metrics?: Record<string, unknown>;
  config?: unknown;
  version?: string;
}

/**
 * Builds an artifact: `build(dir)` writes components into `dir` and returns their entries;
 * the folder is renamed into place only after the manifest is written.
 */
export async function writeArtifact(
  root: string,
  build: (dir: string) => Promise<Record<string, ComponentEntry>>,
  opts: BuildArtifactOptions = {},
): Promise<{ dir: string; manifest: ArtifactManifest }> {
  mkdirSync(root, { recursive: true });
  const version = opts.version ?? newVersion();
  if (!VERSION_RE.test(version)) throw new Error(`invalid artifact version '${version}'`);
  const tmp = join(root, `.tmp-${version}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const components = await build(tmp);
    for (const [name, c] of Object.entries(components)) {
      if (!existsSync(join(tmp, c.path))) throw new Error(`component '${name}': ${c.path} was not written`);
    }
    const manifest: ArtifactManifest = {
      format: ARTIFACT_FORMAT,
      version,
      createdAt: new Date().toISOString(),
      dataSnapshot: opts.dataSnapshot ?? {},
      metrics: opts.metrics ?? {},
      components,
    };
    if (opts.config !== undefined) manifest.config = opts.config;
    writeFileSync(join(tmp, MANIFEST), JSON.stringify(manifest, null, 2));
    const dir = join(root, version);
    renameSync(tmp, dir);
    return { dir, manifest };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

export function readManifest(dir: string): ArtifactManifest {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) throw new Error(`${dir}: not an artifact (no ${MANIFEST})`);
  const m = JSON.parse(readFileSync(path, 'utf8')) as ArtifactManifest;
  if (m.format !== ARTIFACT_FORMAT) throw new Error(`${dir}: artifact format ${m.format} is not supported (expected ${ARTIFACT_FORMAT})`);
  return m;
}

/** Complete artifacts under root, oldest first. */
export function listArtifacts(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => VERSION_RE.test(n) && existsSync(join(root, n, MANIFEST)))
    .sort();
}

export function latestArtifact(root: string): string | undefined {
  const all = listArtifacts(root);
  return all.length ? join(root, all[all.length - 1]) : undefined;
}

/** Removes all but the newest `keep` artifacts (never the one in use). */
export function pruneArtifacts(root: string, keep: number, inUse?: string): string[] {
  const all = listArtifacts(root);
  const removed: string[] = [];
  for (const v of all.slice(0, Math.max(0, all.length - keep))) {
    const dir = join(root, v);
    if (inUse && dir === inUse) continue;
    rmSync(dir, { recursive: true, force: true });
    removed.push(v);
  }
  return removed;
}

/**
 * Calls `onNew(dir)` when a newer artifact appears under root (fs.watch, with a polling
 * fallback every `pollMs` because fs.watch is not reliable on every file system).
 */
export function watchArtifacts(root: string, current: () => string | undefined, onNew: (dir: string) => void, pollMs = 2000): () => void {
  mkdirSync(root, { recursive: true });
  let stopped = false;
  const check = () => {
    if (stopped) return;
    const latest = latestArtifact(root);
    const cur = current();
    if (latest && latest !== cur && (!cur || latest > cur)) onNew(latest);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(root, () => setTimeout(check, 50).unref());
    watcher.unref();
  } catch {
    watcher = undefined;
  }
  const timer = setInterval(check, pollMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
    watcher?.close();
  };
}
