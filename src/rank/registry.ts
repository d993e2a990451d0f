/**
 * Ranker folders and the load-by-kind registry. A saved ranker is a folder with `ranker.json`
 * and one raw little-endian `.bin` file per parameter array:
 *
 * ```json
 * { "format": "funnel-ranker", "formatVersion": 1, "kind": "fm", "name": "fm(k=8, adam)",
 *   "dim": 262144, "heads": ["click", "conversion"], "config": { ... },
 *   "arrays": { "w0": { "file": "w0.bin", "dtype": "float32", "length": 262145 } }, "fit": { ... } }
 * ```
 *
 * `loadRanker(dir)` hands the manifest and arrays to the loader of its kind. A new ranker
 * (DeepFM, DCN-V2, DIN, MMoE) adds one line to `builtin` or calls `registerRanker`.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import type { Ranker, RankerFitReport } from './types.js';

export const RANKER_FILE = 'ranker.json';
export const RANKER_FORMAT = 'funnel-ranker';
export const RANKER_FORMAT_VERSION = 1;

type DType = 'float32' | 'float64' | 'int32';
type Arr = Float32Array | Float64Array | Int32Array;
const CTORS = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

export interface RankerManifest {
  format: typeof RANKER_FORMAT;
  formatVersion: number;
  kind: string;
  name: string;
  dim: number;
  heads: string[];
  created: string;
  /** Hyper-parameters and whatever scalars the loader needs. */
  config: Record<string, unknown>;
  arrays: Record<string, { file: string; dtype: DType; length: number }>;
  fit?: RankerFitReport;
}

const littleEndian = endianness() === 'LE';

function bytesOf(a: Arr): Uint8Array {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (littleEndian) return b;
  const out = new Uint8Array(b);
  for (let p = 0; p < out.length; p += a.BYTES_PER_ELEMENT) out.subarray(p, p + a.BYTES_PER_ELEMENT).reverse();
  return out;
}

/** Writes the arrays, then `ranker.json` (through a temporary file), so a folder with a manifest is complete. */
export async function writeRankerFiles(dir: string, manifest: Omit<RankerManifest, 'format' | 'formatVersion' | 'arrays' | 'created'>, arrays: Record<string, Arr>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const specs: RankerManifest['arrays'] = {};
  for (const [name, a] of Object.entries(arrays)) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new RangeError(`ranker array name '${name}' is not a plain file name`);
    const file = `${name}.bin`;
    await writeFile(join(dir, file), bytesOf(a));
    specs[name] = { file, dtype: a instanceof Float32Array ? 'float32' : a instanceof Float64Array ? 'float64' : 'int32', length: a.length };
  }
  const full: RankerManifest = { format: RANKER_FORMAT, formatVersion: RANKER_FORMAT_VERSION, created: new Date().toISOString(), ...manifest, arrays: specs };
  const tmp = join(dir, `${RANKER_FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(full, null, 2) + '\n');
  await rename(tmp, join(dir, RANKER_FILE));
}

/** Reads `ranker.json` and its arrays (sizes checked). */
export async function readRankerFiles(dir: string): Promise<{ manifest: RankerManifest; arrays: Record<string, Arr> }> {
  let text: string;
  try {
    text = await readFile(join(dir, RANKER_FILE), 'utf8');
  } catch (e) {
    throw new Error(`no ranker in ${dir}: cannot read ${RANKER_FILE} (${(e as Error).message})`);
  }
  const manifest = JSON.parse(text) as RankerManifest;
  if (manifest.format !== RANKER_FORMAT) throw new Error(`${join(dir, RANKER_FILE)}: format '${manifest.format}' is not '${RANKER_FORMAT}'`);
  if (manifest.formatVersion > RANKER_FORMAT_VERSION) throw new Error(`${join(dir, RANKER_FILE)}: format version ${manifest.formatVersion} is newer than this build reads`);
  const arrays: Record<string, Arr> = {};
  for (const [name, spec] of Object.entries(manifest.arrays)) {
    const Ctor = CTORS[spec.dtype];
    if (!Ctor) throw new Error(`${dir}: array ${name} has unknown dtype ${spec.dtype}`);
    const buf = await readFile(join(dir, spec.file));
    if (buf.byteLength !== spec.length * Ctor.BYTES_PER_ELEMENT) throw new Error(`${join(dir, spec.file)}: ${buf.byteLength} bytes, expected ${spec.length} × ${Ctor.BYTES_PER_ELEMENT}`);
    const out = new Ctor(spec.length);
    const bytes = new Uint8Array(out.buffer);
    bytes.set(buf);
    if (!littleEndian) for (let p = 0; p < bytes.length; p += Ctor.BYTES_PER_ELEMENT) bytes.subarray(p, p + Ctor.BYTES_PER_ELEMENT).reverse();
    arrays[name] = out;
  }
  return { manifest, arrays };
}

/** Typed access to a loaded array with a clear error. */
export function rankerArray<T extends Arr>(arrays: Record<string, Arr>, name: string, ctor: { new (n: number): T; name: string }, length?: number): T {
  const a = arrays[name];
  if (!a) throw new Error(`ranker: saved parameters lack array '${name}'`);
  if (!(a instanceof ctor)) throw new Error(`ranker: array '${name}' is not a ${ctor.name}`);
  if (length !== undefined && a.length !== length) throw new Error(`ranker: array '${name}' has ${a.length} entries, expected ${length}`);
  return a as T;
}

export type RankerLoader = (manifest: RankerManifest, arrays: Record<string, Arr>) => Ranker;

const builtin: Record<string, () => Promise<RankerLoader>> = {
  lr: async () => (await import('./lr.js')).LogisticRegression.fromArtifact,
  fm: async () => (await import('./fm.js')).FactorizationMachine.fromArtifact,
};
const registered = new Map<string, RankerLoader>();

/** Adds (or replaces) the loader of a ranker kind. */
export function registerRanker(kind: string, loader: RankerLoader): void {
  registered.set(kind, loader);
}

export function rankerKinds(): string[] {
  return [...new Set([...Object.keys(builtin), ...registered.keys()])].sort();
}

/** Loads the ranker saved in `dir` (any registered kind). */
export async function loadRanker(dir: string): Promise<Ranker> {
  const { manifest, arrays } = await readRankerFiles(dir);
  let loader = registered.get(manifest.kind);
  if (!loader && Object.hasOwn(builtin, manifest.kind)) loader = await builtin[manifest.kind]();
  if (!loader) throw new Error(`${dir}: unknown ranker kind '${manifest.kind}' (known: ${rankerKinds().join(', ')})`);
  return loader(manifest, arrays);
}
