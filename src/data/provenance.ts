/**
 * Generator provenance of served items, as logged with server-side impressions.
 *
 * Two forms of the same content:
 * - a string per impression (`context.sources`): `name:rank:score|name:rank:score`, which training
 *   reads back into generator features (`decodeSources`);
 * - a response's provenance as one compact binary block (`encodeProvenance`), which the server
 *   builds at request time and the SQLite store keeps with the response's packed impressions: no
 *   number formatting on the request path (the strings cost ~10 µs per 20-item response), and a
 *   few hundred bytes of buffer instead of ~2 KB of strings and arrays per response waiting for
 *   the next write (they outlived the young generation and filled the old one: major GCs).
 *   `provenanceSources` turns it back into the strings, identical to `encodeSources`.
 *
 * Binary layout (little-endian): u8 G, then G generator names (u8 byte length, UTF-8); then per
 * position: u8 count, then count × (u8 generator, u32 rank, f64 score).
 */

/** One generator's proposal of an item: which generator, at which rank (0-based), with which score. */
export interface SourceEntry {
  generator: string;
  rank: number;
  score: number;
}

/** The provenance string of one impression (see the module comment). */
export function encodeSources(sources: readonly SourceEntry[]): string {
  let s = '';
  for (let i = 0; i < sources.length; i++) {
    const p = sources[i];
    s += `${i ? '|' : ''}${p.generator}:${p.rank}:${formatScore(p.score)}`;
  }
  return s;
}

function formatScore(score: number): number {
  return Number.isFinite(score) ? +score.toPrecision(7) : 0;
}

/** Parses `encodeSources` output; malformed parts are skipped. */
export function decodeSources(s: unknown): SourceEntry[] | undefined {
  if (typeof s !== 'string' || s === '') return undefined;
  const out: SourceEntry[] = [];
  for (const part of s.split('|')) {
    const b = part.lastIndexOf(':');
    const a = b > 0 ? part.lastIndexOf(':', b - 1) : -1;
    if (a <= 0) continue;
    const rank = Number(part.slice(a + 1, b));
    const score = Number(part.slice(b + 1));
    if (!Number.isInteger(rank) || !Number.isFinite(score)) continue;
    out.push({ generator: part.slice(0, a), rank, score });
  }
  return out;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
/** Generator names (at most 255 per response, each at most 255 UTF-8 bytes), encoded once each. */
const nameBytes = new Map<string, Uint8Array>();
let scratch = new Uint8Array(4096);

function encodedName(name: string): Uint8Array {
  let b = nameBytes.get(name);
  if (!b) {
    b = utf8.encode(name);
    if (b.length > 255) throw new RangeError(`provenance: generator name longer than 255 bytes: '${name.slice(0, 40)}…'`);
    if (nameBytes.size < 1024) nameBytes.set(name, b);
  }
  return b;
}

/**
 * A response's provenance (per position, the generators that proposed the item) as one binary
 * block; null when no position has any. Ranks must be integers in [0, 2³²), at most 255
 * generators per response and 255 per position.
 */
export function encodeProvenance(positions: readonly (readonly SourceEntry[])[]): Uint8Array | null {
  const names: string[] = [];
  let entries = 0;
  for (const list of positions) {
    entries += list.length;
    if (list.length > 255) throw new RangeError(`provenance: ${list.length} sources for one position (at most 255)`);
    for (const s of list) if (!names.includes(s.generator)) names.push(s.generator);
  }
  if (entries === 0) return null;
  if (names.length > 255) throw new RangeError(`provenance: ${names.length} generators in one response (at most 255)`);
  const encoded = names.map(encodedName);
  let size = 1 + positions.length + 13 * entries;
  for (const b of encoded) size += 1 + b.length;
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, 2 * scratch.length));
  const out = scratch;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let o = 0;
  out[o++] = names.length;
  for (const b of encoded) {
    out[o++] = b.length;
    out.set(b, o);
    o += b.length;
  }
  for (const list of positions) {
    out[o++] = list.length;
    for (const s of list) {
      const r = s.rank;
      if (!Number.isInteger(r) || r < 0 || r > 0xffffffff) throw new RangeError(`provenance: rank must be an integer in [0, 2^32), got ${r}`);
      out[o++] = names.indexOf(s.generator);
      view.setUint32(o, r, true);
      view.setFloat64(o + 4, s.score, true);
      o += 12;
    }
  }
  return out.slice(0, o);
}

/**
 * The `encodeSources` string of each of the `n` positions of an `encodeProvenance` block ('' for
 * a position without sources); throws a RangeError on a malformed block.
 */
export function provenanceSources(block: Uint8Array, n: number): string[] {
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const bad = () => new RangeError('provenance: malformed block');
  let o = 0;
  if (block.length < 1) throw bad();
  const g = block[o++];
  const names: string[] = [];
  for (let i = 0; i < g; i++) {
    const len = block[o++];
    if (len === undefined || o + len > block.length) throw bad();
    names.push(fromUtf8.decode(block.subarray(o, o + len)));
    o += len;
  }
  const out: string[] = [];
  for (let p = 0; p < n; p++) {
    const c = block[o++];
    if (c === undefined || o + 13 * c > block.length) throw bad();
    const list: SourceEntry[] = [];
    for (let e = 0; e < c; e++) {
      const name = names[block[o]];
      if (name === undefined) throw bad();
      list.push({ generator: name, rank: view.getUint32(o + 1, true), score: view.getFloat64(o + 5, true) });
      o += 13;
    }
    out.push(encodeSources(list));
  }
  if (o !== block.length) throw bad();
  return out;
}
