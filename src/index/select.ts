/**
 * Top-k selection shared by the index implementations: a bounded heap that keeps the k best
 * (score, id) pairs, the worst at the root, ties broken by the lower id (so answers are
 * deterministic and identical across implementations).
 */
import type { SearchResult } from './types.js';

export class TopK {
  private ids: Int32Array;
  private scores: Float32Array;
  private k = 0;
  size = 0;

  constructor(capacity = 64) {
    this.ids = new Int32Array(capacity);
    this.scores = new Float32Array(capacity);
  }

  /** Empties the heap and sets how many items it keeps. */
  reset(k: number): this {
    if (k > this.ids.length) {
      this.ids = new Int32Array(k);
      this.scores = new Float32Array(k);
    }
    this.k = k;
    this.size = 0;
    return this;
  }

  /** Whether (s, id) would enter the heap: cheap test before costlier filters. */
  wouldTake(s: number, id: number): boolean {
    if (this.size < this.k) return this.k > 0;
    const r = this.scores[0];
    return s > r || (s === r && id < this.ids[0]);
  }

  /** The score of the worst item kept (-Infinity while fewer than k are kept). */
  worstScore(): number {
    return this.size < this.k ? -Infinity : this.scores[0];
  }

  /** Offers an item; call only when `wouldTake` is true. */
  push(s: number, id: number): void {
    const { ids, scores } = this;
    if (this.size < this.k) {
      let c = this.size++;
      ids[c] = id;
      scores[c] = s;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!this.worse(c, p)) break;
        this.swap(c, p);
        c = p;
      }
    } else {
      ids[0] = id;
      scores[0] = s;
      this.down(0);
    }
  }

  /** The kept items, best first; the heap is left empty. */
  drain(): SearchResult {
    const n = this.size;
    const outI = new Int32Array(n);
    const outS = new Float32Array(n);
    for (let p = n - 1; p >= 0; p--) {
      outI[p] = this.ids[0];
      outS[p] = this.scores[0];
      this.size--;
      this.ids[0] = this.ids[this.size];
      this.scores[0] = this.scores[this.size];
      this.down(0);
    }
    return { ids: outI, scores: outS };
  }

  private worse(a: number, b: number): boolean {
    const sa = this.scores[a];
    const sb = this.scores[b];
    return sa < sb || (sa === sb && this.ids[a] > this.ids[b]);
  }

  private swap(a: number, b: number): void {
    const ti = this.ids[a];
    this.ids[a] = this.ids[b];
    this.ids[b] = ti;
    const ts = this.scores[a];
    this.scores[a] = this.scores[b];
    this.scores[b] = ts;
  }

  private down(p: number): void {
    const n = this.size;
    for (;;) {
      const l = 2 * p + 1;
      if (l >= n) return;
      let m = l;
      if (l + 1 < n && this.worse(l + 1, l)) m = l + 1;
      if (!this.worse(m, p)) return;
      this.swap(m, p);
      p = m;
    }
  }
}

export const EMPTY_RESULT: SearchResult = Object.freeze({ ids: new Int32Array(0), scores: new Float32Array(0) }) as SearchResult;
