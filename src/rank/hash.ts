/**
 * Feature hashing: 32-bit hashes of strings (FNV-1a) and integers (murmur3's finaliser), salted
 * by a field id so that the same value in two fields lands in different buckets, and combined
 * for crosses. Every function is pure and deterministic across processes and platforms (no
 * seeds from the environment), so a model trained in one process scores in another.
 *
 * Hot paths never hash strings: item attributes are hashed once when the catalog is loaded,
 * request-level strings (scene, device) once per request; per candidate only the integer mixes
 * of `hashCross` run.
 */

/** murmur3's 32-bit finaliser: a bijection on uint32 with good avalanche. */
export function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Salt of a field: mixes the field id so that fields do not share buckets. */
function salt(field: number): number {
  return mix32(Math.imul(field + 1, 0x9e3779b1));
}

/** Hash of an integer value (|v| < 2^53) in a field. */
export function hashInt(field: number, v: number): number {
  const lo = v | 0;
  const hi = Math.floor(v / 4294967296) | 0;
  return mix32(salt(field) ^ mix32(lo ^ mix32(hi + 0x27d4eb2f)));
}

/** Hash of a string value in a field. */
export function hashStr(field: number, s: string): number {
  return mix32(salt(field) ^ fnv1a(s));
}

/** Hash of the cross of two hashed values (order matters). */
export function hashCross(a: number, b: number): number {
  return mix32(Math.imul(a ^ 0x5bd1e995, 0x85ebca6b) ^ (b + 0x27d4eb2f));
}

/** A hash into the bucket range [base, base + size), size a power of two. */
export function bucketOf(h: number, base: number, size: number): number {
  return base + (h & (size - 1));
}
