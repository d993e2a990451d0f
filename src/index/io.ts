/**
 * Files of a saved index: `index.json` (kind, dimension, parameters) beside raw little-endian
 * typed arrays. Index files are native-endian (hnswlib writes its graph that way); loading on a
 * machine of the other byte order is refused rather than misread.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';

export const INDEX_META = 'index.json';

export interface IndexMeta {
  kind: string;
  /** File format version of this kind. */
  format: number;
  endianness: 'LE' | 'BE';
  [key: string]: unknown;
}

export function writeMeta(dir: string, meta: Omit<IndexMeta, 'endianness'>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, INDEX_META), JSON.stringify({ ...meta, endianness: endianness() }, null, 2));
}

/** Reads `dir/index.json`; throws a clear error when it is missing, malformed or of another kind. */
export function readMeta(dir: string, kind?: string): IndexMeta {
  const path = join(dir, INDEX_META);
  if (!existsSync(path)) throw new Error(`${dir}: no ${INDEX_META} (not a saved index)`);
  let meta: IndexMeta;
  try {
    meta = JSON.parse(readFileSync(path, 'utf8')) as IndexMeta;
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  if (typeof meta !== 'object' || meta === null || typeof meta.kind !== 'string') throw new Error(`${path}: not an index description (no "kind")`);
  if (kind !== undefined && meta.kind !== kind) throw new Error(`${path}: a '${meta.kind}' index, expected '${kind}'`);
  if (meta.endianness !== undefined && meta.endianness !== endianness()) throw new Error(`${path}: written on a ${meta.endianness} machine, this one is ${endianness()}`);
  return meta;
}

export function writeArray(dir: string, name: string, a: Float32Array | Uint8Array | Int32Array): void {
  writeFileSync(join(dir, name), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

function readBytes(dir: string, name: string, bytesPer: number, length: number): ArrayBuffer {
  const path = join(dir, name);
  if (!existsSync(path)) throw new Error(`${path}: missing`);
  const buf = readFileSync(path);
  if (buf.byteLength !== length * bytesPer) throw new Error(`${path}: ${buf.byteLength} bytes, expected ${length * bytesPer}`);
  // Copy into an aligned buffer of its own (a Buffer may sit at any offset of a shared pool).
  const out = new ArrayBuffer(buf.byteLength);
  new Uint8Array(out).set(buf);
  return out;
}

export function readFloat32(dir: string, name: string, length: number): Float32Array {
  return new Float32Array(readBytes(dir, name, 4, length));
}

export function readUint8(dir: string, name: string, length: number): Uint8Array {
  return new Uint8Array(readBytes(dir, name, 1, length));
}

export function readInt32(dir: string, name: string, length: number): Int32Array {
  return new Int32Array(readBytes(dir, name, 4, length));
}
