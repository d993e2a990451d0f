/**
 * Retrieval model artifacts and the load-by-name registry.
 *
 * An artifact is a folder with a `model.json` manifest and one raw little-endian `.bin` file per
 * typed array:
 *
 * ```json
 * { "format": "funnel-retrieval-model", "formatVersion": 1, "kind": "ease", "name": "ease(λ=500)",
 *   "created": "2026-...", "numItems": 9742, "config": { ... },
 *   "arrays": { "B": { "file": "B.bin", "dtype": "float32", "length": 1000000, "shape": [1000, 1000] } },
 *   "fit": { ...FitReport } }
 * ```
 *
 * `loadModel(dir)` reads the manifest and hands it, with the arrays, to the loader registered for
 * its `kind`. Built-in kinds load lazily (dynamic import, no import cycle); a new model adds one
 * line to `builtinLoaders` or calls `registerModel` at start-up.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { hugePageCopies, nativeAddon, populateMappings } from '../../math/kernels/native.js';
import type { FitReport, RetrievalModel } from './types.js';

export const MANIFEST_FILE = 'model.json';
export const MANIFEST_FORMAT = 'funnel-retrieval-model';
export const MANIFEST_VERSION = 1;

export type ArrayDType = 'float32' | 'float64' | 'int32' | 'uint32' | 'uint16' | 'uint8';
export type StoredArray = Float32Array | Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;

export interface ArraySpec {
  file: string;
  dtype: ArrayDType;
  length: number;
  shape?: number[];
}

export interface ModelManifest {
  format: typeof MANIFEST_FORMAT;
  formatVersion: number;
  kind: string;
  name: string;
  /** ISO date of the save. */
  created: string;
  numItems: number;
  /** Model options and whatever scalars the loader needs. */
  config: Record<string, unknown>;
  arrays: Record<string, ArraySpec>;
  fit?: FitReport;
}

export interface ModelArtifact {
  manifest: ModelManifest;
  arrays: Record<string, StoredArray>;
}

function dtypeOf(a: StoredArray): ArrayDType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint32Array) return 'uint32';
  if (a instanceof Uint16Array) return 'uint16';
  return 'uint8';
}

const CTORS = {
  float32: Float32Array, float64: Float64Array, int32: Int32Array, uint32: Uint32Array, uint16: Uint16Array, uint8: Uint8Array,
} as const;

const littleEndian = endianness() === 'LE';

function toLittleEndianBytes(a: StoredArray): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (littleEndian || a.BYTES_PER_ELEMENT === 1) return bytes;
  const out = new Uint8Array(bytes); // byte-swap a copy
  const w = a.BYTES_PER_ELEMENT;
  for (let p = 0; p < out.length; p += w) out.subarray(p, p + w).reverse();
  return out;
}

/**
 * Writes an artifact: every array as `<name>.bin`, then `model.json` last (through a temporary
 * file and a rename), so a folder with a manifest is always complete.
 */
export async function writeModelArtifact(
  dir: string,
  manifest: Omit<ModelManifest, 'format' | 'formatVersion' | 'arrays' | 'created'> & { created?: string },
  arrays: Record<string, StoredArray | { data: StoredArray; shape: number[] }>,
): Promise<ModelManifest> {
  await mkdir(dir, { recursive: true });
  const specs: Record<string, ArraySpec> = {};
  for (const [name, entry] of Object.entries(arrays)) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`artifact array name '${name}' is not a plain file name`);
    const data = 'data' in entry ? entry.data : entry;
    const shape = 'data' in entry ? entry.shape : undefined;
    const file = `${name}.bin`;
    // Through a new file and a rename: a process that maps the old file (readModelArtifact)
    // keeps reading it intact, where rewriting it in place would pull the pages from under it.
    await writeFile(join(dir, `${file}.tmp`), toLittleEndianBytes(data));
    await rename(join(dir, `${file}.tmp`), join(dir, file));
    specs[name] = { file, dtype: dtypeOf(data), length: data.length, ...(shape ? { shape } : {}) };
  }
  const full: ModelManifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_VERSION,
    kind: manifest.kind,
    name: manifest.name,
    created: manifest.created ?? new Date().toISOString(),
    numItems: manifest.numItems,
    config: manifest.config,
    arrays: specs,
    ...(manifest.fit ? { fit: manifest.fit } : {}),
  };
  const tmp = join(dir, `${MANIFEST_FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(full, null, 2) + '\n');
  await rename(tmp, join(dir, MANIFEST_FILE));
  return full;
}

/** Reads `model.json` only. */
export async function readManifest(dir: string): Promise<ModelManifest> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch (e) {
    throw new Error(`no retrieval model in ${dir}: cannot read ${MANIFEST_FILE} (${(e as Error).message})`);
  }
  const m = JSON.parse(text) as ModelManifest;
  if (m.format !== MANIFEST_FORMAT) throw new Error(`${join(dir, MANIFEST_FILE)}: format '${m.format}' is not '${MANIFEST_FORMAT}'`);
  if (m.formatVersion > MANIFEST_VERSION) {
    throw new Error(`${join(dir, MANIFEST_FILE)}: format version ${m.formatVersion} is newer than this build reads (${MANIFEST_VERSION})`);
  }
  return m;
}

/** Arrays from this size up are mapped rather than read (readModelArtifact). */
const MAP_MIN_BYTES = 1 << 20;

/**
 * Reads the manifest and every array it lists (sizes checked). Large arrays are mapped
 * copy-on-write through the native addon where it can (`map`, default true; FUNNEL_NO_MMAP=1
 * turns it off): the processes of `funnel serve --workers N` then share one copy of the item
 * vectors and neighbour lists in the page cache instead of holding N; a process writing into
 * such an array gets private copies of the pages it writes, and the file is never changed.
 * Artifact files are written once, in a new folder per version, and must not be rewritten in
 * place while a server maps them (removing them is fine).
 */
export async function readModelArtifact(dir: string, opts: { map?: boolean } = {}): Promise<ModelArtifact> {
  const manifest = await readManifest(dir);
  const arrays: Record<string, StoredArray> = {};
  const mapper = (opts.map ?? process.env.FUNNEL_NO_MMAP !== '1') && littleEndian ? nativeAddon().addon : null;
  for (const [name, spec] of Object.entries(manifest.arrays)) {
    const Ctor = CTORS[spec.dtype];
    if (!Ctor) throw new Error(`${dir}: array ${name} has unknown dtype ${spec.dtype}`);
    const file = join(dir, spec.file);
    const want = spec.length * Ctor.BYTES_PER_ELEMENT;
    const sized = (got: number) => {
      if (got !== want) throw new Error(`${file}: ${got} bytes, expected ${spec.length} × ${Ctor.BYTES_PER_ELEMENT}`);
    };
    // Off the main thread: a copy onto huge pages (a serving process alone) of a few hundred MB
    // takes hundreds of ms, which a server reloading its models would otherwise stall for.
    const mapped = mapper && want >= MAP_MIN_BYTES ? await mapper.mapFileAsync(file, populateMappings(), hugePageCopies()) : undefined;
    if (mapped) {
      sized(mapped.byteLength);
      arrays[name] = new Ctor(mapped, 0, spec.length);
      continue;
    }
    const buf = await readFile(file);
    sized(buf.byteLength);
    const out = new Ctor(spec.length);
    const bytes = new Uint8Array(out.buffer);
    bytes.set(buf);
    if (!littleEndian && Ctor.BYTES_PER_ELEMENT > 1) {
      const w = Ctor.BYTES_PER_ELEMENT;
      for (let p = 0; p < bytes.length; p += w) bytes.subarray(p, p + w).reverse();
    }
    arrays[name] = out;
  }
  return { manifest, arrays };
}

/** Typed access to an artifact array, with a clear error when missing or of another type. */
export function artifactArray<T extends StoredArray>(
  art: ModelArtifact, name: string, ctor: { new (n: number): T; name: string },
): T {
  const a = art.arrays[name];
  if (!a) throw new Error(`artifact of kind ${art.manifest.kind} lacks array '${name}'`);
  if (!(a instanceof ctor)) throw new Error(`artifact array '${name}' is not a ${ctor.name}`);
  return a as T;
}

// ---------------------------------------------------------------------------------------------

export type ModelLoader = (artifact: ModelArtifact, dir: string) => RetrievalModel<never> | Promise<RetrievalModel<never>>;

const builtinLoaders: Record<string, () => Promise<ModelLoader>> = {
  popularity: async () => (await import('./popularity.js')).PopularityModel.fromArtifact,
  cbo: async () => (await import('./cbo.js')).CboModel.fromArtifact,
  itemknn: async () => (await import('./itemknn.js')).ItemKnnModel.fromArtifact,
  ease: async () => (await import('./ease.js')).EaseModel.fromArtifact,
  led: async () => (await import('./led.js')).LedModel.fromArtifact,
  rsvd: async () => (await import('./rsvd.js')).RsvdModel.fromArtifact,
};

const registered = new Map<string, ModelLoader>();

/** Adds (or replaces) the loader for a model kind. */
export function registerModel(kind: string, loader: ModelLoader): void {
  registered.set(kind, loader);
}

/** The kinds `loadModel` knows. */
export function modelKinds(): string[] {
  return [...new Set([...Object.keys(builtinLoaders), ...registered.keys()])].sort();
}

/** Loads the model saved in `dir` (any registered kind). */
export async function loadModel(dir: string): Promise<RetrievalModel<never>> {
  const art = await readModelArtifact(dir);
  const kind = art.manifest.kind;
  let loader = registered.get(kind);
  if (!loader && Object.hasOwn(builtinLoaders, kind)) loader = await builtinLoaders[kind]();
  if (!loader) throw new Error(`${dir}: unknown retrieval model kind '${kind}' (known: ${modelKinds().join(', ')})`);
  return loader(art, dir);
}
