/**
 * Seedable pseudo-random generators over 32-bit integer state.
 *
 * - `Rng`: xoshiro128** (Blackman & Vigna), 128-bit state seeded through SplitMix32; period
 *   2^128 − 1, passes BigCrush, a few ns per draw. The default for new code.
 * - `Mulberry32`: a 32-bit-state generator (Tommy Ettinger's mulberry32). It is the generator
 *   behind `SmallRng` (src/models/retrieval/types.ts), kept bit-for-bit so that seeded splits
 *   and trainings made before this module existed reproduce exactly.
 *
 * Both share the derived draws of `RngBase`: floats in [0, 1), unbiased integers, standard
 * normals (Box–Muller with a cached spare), Fisher–Yates shuffles. Every draw is a pure
 * function of the seed and the sequence of calls: runs are reproducible from a seed.
 */

const TWO32 = 4294967296;
const TWO53 = 9007199254740992;

/** The minimal source of randomness the samplers need. */
export interface RandomSource {
  /** Uniform integer in [0, 2^32). */
  nextU32(): number;
  /** Uniform float in [0, 1) with 32 random bits. */
  nextFloat(): number;
  /** Uniform integer in [0, n), unbiased. */
  nextInt(n: number): number;
}

/** Draws derived from `nextU32` (shared by every generator here). */
export abstract class RngBase implements RandomSource {
  private spare = NaN;

  /** Uniform integer in [0, 2^32). */
  abstract nextU32(): number;

  /** Uniform float in [0, 1): nextU32() / 2^32 (32 random bits, never 1). */
  nextFloat(): number {
    return this.nextU32() / TWO32;
  }

  /** Uniform float in [0, 1) with 53 random bits (two draws). */
  nextFloat53(): number {
    const hi = this.nextU32() >>> 11; // 21 bits
    const lo = this.nextU32(); // 32 bits
    return (hi * TWO32 + lo) / TWO53;
  }

  /**
   * Uniform integer in [0, n), exactly unbiased (rejection) for 1 <= n <= 2^32; larger n (up to
   * 2^53) use 53 random bits. Throws a RangeError for a non-integer or n < 1.
   */
  nextInt(n: number): number {
    if (!(n >= 1 && n <= TWO53 && Math.floor(n) === n)) throw new RangeError(`nextInt: n must be an integer in [1, 2^53], got ${n}`);
    if (n <= TWO32) {
      // Reject the top partial block of 2^32 so that every residue is equally likely.
      const lim = TWO32 - (TWO32 % n);
      let u = this.nextU32();
      while (u >= lim) u = this.nextU32();
      return u % n;
    }
    return Math.floor(this.nextFloat53() * n);
  }

  /** Alias of `nextFloat` (the `SmallRng` name). */
  next(): number {
    return this.nextFloat();
  }

  /**
   * floor(nextFloat() · n): one draw, bias below n / 2^32. Kept because `SmallRng` callers
   * depend on its exact sequence; prefer `nextInt` in new code.
   */
  int(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }

  /** Standard normal N(0, 1) (Box–Muller; every second call returns the cached spare). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = NaN;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.nextFloat();
    const v = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` with N(mean, std²) draws and returns it. */
  fillNormal<T extends Float32Array | Float64Array>(out: T, std = 1, mean = 0): T {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }

  /**
   * Fisher–Yates shuffle of `a` in place (all of it, or only its first `count` positions drawn
   * from the whole array: a uniform random sample of size `count` lands in a[0..count)).
   * Returns `a`.
   */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T, count = a.length): T {
    const n = a.length;
    if (!Number.isInteger(count) || count < 0 || count > n) throw new RangeError(`shuffle: count must be an integer in [0, ${n}], got ${count}`);
    const last = Math.min(count, n - 1);
    for (let i = 0; i < last; i++) {
      const j = i + this.nextInt(n - i);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

/** SplitMix32 step (Vigna's mixer, 32-bit variant): used to expand seeds. */
function splitmix32(state: { s: number }): number {
  let z = (state.s = (state.s + 0x9e3779b9) | 0);
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function checkSeed(seed: number, who: string): void {
  if (!Number.isFinite(seed)) throw new RangeError(`${who}: seed must be a finite number, got ${seed}`);
}

/**
 * xoshiro128** — the default generator. `new Rng(seed)` for any finite number seed (integers up
 * to 2^53 use all their bits; fractions are truncated); equal seeds give equal sequences.
 */
export class Rng extends RngBase {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed = 1) {
    super();
    checkSeed(seed, 'Rng');
    const t = Math.trunc(Math.abs(seed));
    const st = { s: (t >>> 0) ^ Math.imul(Math.floor(t / TWO32) >>> 0, 0x27d4eb2f) ^ (seed < 0 ? 0x5bd1e995 : 0) };
    this.s0 = splitmix32(st) | 0;
    this.s1 = splitmix32(st) | 0;
    this.s2 = splitmix32(st) | 0;
    this.s3 = splitmix32(st) | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the one forbidden state
  }

  nextU32(): number {
    const s1 = this.s1;
    const m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /**
   * An independent generator derived from this one (for parallel streams or sub-tasks): its
   * seed is drawn from this generator, so the whole tree of generators is reproducible.
   */
  fork(): Rng {
    return new Rng(this.nextU32() * 2097152 + (this.nextU32() >>> 11));
  }

  /** The 128-bit state (to checkpoint a run); `Rng.fromState` restores it. */
  state(): [number, number, number, number] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** A generator continuing from a state returned by `state()`. */
  static fromState(state: readonly [number, number, number, number]): Rng {
    const r = new Rng(0);
    if (state.length !== 4 || state.some((x) => !Number.isInteger(x) || x < 0 || x >= TWO32)) {
      throw new RangeError('Rng.fromState: state must be four integers in [0, 2^32)');
    }
    if (state.every((x) => x === 0)) throw new RangeError('Rng.fromState: the all-zero state is invalid');
    [r.s0, r.s1, r.s2, r.s3] = state.map((x) => x | 0) as [number, number, number, number];
    return r;
  }
}

/**
 * mulberry32 over a 32-bit state (period 2^32). The exact generator of the earlier `SmallRng`:
 * `new Mulberry32(seed)` yields the same `next()`, `int()` and `normal()` sequences (and, like
 * it, takes `seed >>> 0`: any number is accepted).
 */
export class Mulberry32 extends RngBase {
  private s: number;

  constructor(seed = 1) {
    super();
    this.s = (seed >>> 0) ^ 0x9e3779b9;
  }

  nextU32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
}

/**
 * A seeded uniform [0, 1) function (mulberry32, as `new Mulberry32(seed).next`): for tests,
 * benchmarks and shuffles that want a plain `() => number`.
 */
export function seededUniform(seed: number): () => number {
  const r = new Mulberry32(seed);
  return () => r.nextFloat();
}
