/**
 * A reusable open-addressing table of non-negative integer keys (item indices) to slots, for
 * per-request merges on hot paths: sized to twice the keys expected, so it stays in cache where
 * a catalogue-sized array would cost a cache miss per key, and reset (not reallocated) between
 * uses. Callers keep their values in arrays of `capacity` entries, indexed by slot.
 */
export class IntSlots {
  private keys = new Int32Array(1024);
  private shift = 22;
  private mask = 1023;

  /** Slots available (values arrays need this many entries). */
  get capacity(): number {
    return this.keys.length;
  }

  /** Empties the table, sized for up to `n` keys (grown, or shrunk when 4× too large). */
  reset(n: number): void {
    let bits = 10;
    while (1 << bits < 2 * n) bits++;
    const cap = 1 << bits;
    if (this.keys.length < cap || this.keys.length > 4 * cap) this.keys = new Int32Array(cap);
    this.shift = 32 - Math.log2(this.keys.length);
    this.mask = this.keys.length - 1;
    this.keys.fill(-1);
  }

  /** The key's slot; a key not seen since the last reset gets a new one, returned as ~slot (negative). */
  slot(key: number): number {
    const keys = this.keys;
    let s = Math.imul(key, 0x9e3779b1) >>> this.shift;
    while (keys[s] !== -1 && keys[s] !== key) s = (s + 1) & this.mask;
    if (keys[s] === -1) {
      keys[s] = key;
      return ~s;
    }
    return s;
  }
}
